using System.IO.Compression;
using System.Text.Json;
using Coach.Engine.Data;

namespace Coach.Engine.Tests.Data;

public class FrameRendererTests
{
    private static string ReferenceDirectory =>
        Path.Combine(ModelCatalog.RepositoryRoot, "tests", "Coach.Engine.Tests", "Data", "ReferenceFrames");

    public static TheoryData<string> ReferenceFiles()
    {
        var data = new TheoryData<string>();
        using var index = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(ReferenceDirectory, "index.json")));
        foreach (var frame in index.RootElement.GetProperty("frames").EnumerateArray())
        {
            data.Add(frame.GetProperty("file").GetString()!);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ReferenceFiles))]
    public void CSharpRenderEqualsTheTrainingScriptsFrameByteForByte(string file)
    {
        using var index = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(ReferenceDirectory, "index.json")));
        var entry = index.RootElement.GetProperty("frames").EnumerateArray().Single(f => f.GetProperty("file").GetString() == file);
        var split = entry.GetProperty("split").GetString() == "calib" ? DataSplit.Calibration : DataSplit.Test;
        var frames = BundledData.LoadSlice(split);
        var source = frames.SourceImage(entry.GetProperty("index").GetInt32());
        var jitter = new FrameJitter(entry.GetProperty("dx").GetInt32(), entry.GetProperty("dy").GetInt32(),
            entry.GetProperty("noise_seed").GetUInt32(), entry.GetProperty("noise_amplitude").GetInt32());

        Assert.Equal(entry.GetProperty("sample_seed").GetUInt32(), FrameRenderer.SampleSeed(source));

        byte[] expected;
        using (var gz = new GZipStream(File.OpenRead(Path.Combine(ReferenceDirectory, file)), CompressionMode.Decompress))
        using (var copy = new MemoryStream())
        {
            gz.CopyTo(copy);
            expected = copy.ToArray();
        }

        var actual = new byte[FrameRenderer.PixelCount];
        FrameRenderer.Render(source, actual, jitter);
        Assert.Equal(FrameRenderer.PixelCount, expected.Length);
        int i = expected.AsSpan().CommonPrefixLength(actual);
        Assert.True(i == expected.Length,
            i == expected.Length ? "" : $"{file}: byte {i} (c={i / 12544}, y={i % 12544 / 112}, x={i % 112}) is {actual[i]}, the script wrote {expected[i]}");
    }

    [Fact]
    public void FastRenderEqualsTheSpecificationsPixelLoopForAnyJitter()
    {
        // The renderer hashes columns once and composes eight pixels at a time; the specification is one pixel at a
        // time (scripts/models/frames.py). Random samples, shifts in and beyond the frame, every noise amplitude range.
        var frames = BundledData.LoadSlice(DataSplit.Test);
        var random = new Random(7);
        var fast = new byte[FrameRenderer.PixelCount];
        var slow = new byte[FrameRenderer.PixelCount];
        for (int k = 0; k < 40; k++)
        {
            var source = frames.SourceImage(random.Next(frames.Count));
            int amplitude = k switch { 0 => 0, 1 => 1, 2 => 127, _ => random.Next(0, 128) };
            var jitter = new FrameJitter(random.Next(-120, 121) / (k % 3 == 0 ? 1 : 10), random.Next(-120, 121) / (k % 3 == 1 ? 1 : 10), (uint)random.Next(), amplitude);
            FrameRenderer.Render(source, fast, jitter);
            SpecificationRender(source, slow, jitter);
            int i = slow.AsSpan().CommonPrefixLength(fast);
            Assert.True(i == slow.Length, $"jitter {jitter}: byte {i} is {(i < fast.Length ? fast[i] : 0)}, the specification gives {(i < slow.Length ? slow[i] : 0)}");
        }
    }

    /// <summary>The frame definition pixel by pixel, as scripts/models/frames.py states it.</summary>
    private static void SpecificationRender(ReadOnlySpan<byte> source, Span<byte> rgb, FrameJitter jitter)
    {
        const int size = FrameRenderer.Size;
        uint seed = FrameRenderer.SampleSeed(source);
        var grid = new int[64];
        for (int c = 0; c < FrameRenderer.Channels; c++)
        {
            int objectColour = 96 + (int)(FrameRenderer.Mix(seed, (uint)c, 0, 1) % 160);
            int baseColour = 16 + (int)(FrameRenderer.Mix(seed, (uint)c, 0, 2) % 48);
            for (int j = 0; j < 8; j++)
            {
                for (int i = 0; i < 8; i++)
                {
                    grid[(j * 8) + i] = (int)(FrameRenderer.Mix(seed, (uint)i, (uint)j, 16 + (uint)c) % 64);
                }
            }

            for (int y = 0; y < size; y++)
            {
                for (int x = 0; x < size; x++)
                {
                    int cx = x >> 4, cy = y >> 4, fx = x & 15, fy = y & 15;
                    int pattern = ((grid[(cy * 8) + cx] * (16 - fx) * (16 - fy)) + (grid[(cy * 8) + cx + 1] * fx * (16 - fy))
                                   + (grid[((cy + 1) * 8) + cx] * (16 - fx) * fy) + (grid[((cy + 1) * 8) + cx + 1] * fx * fy)) >> 8;
                    int background = baseColour + pattern + (int)(FrameRenderer.Mix(seed, (uint)x, (uint)y, 32) % 16);
                    int sx = x - jitter.Dx, sy = y - jitter.Dy;
                    int coverage = sx is >= 0 and < size && sy is >= 0 and < size ? source[((sy >> 2) * 28) + (sx >> 2)] : 0;
                    int p = ((objectColour * coverage) + (background * (255 - coverage)) + 127) / 255;
                    if (jitter.NoiseAmplitude > 0)
                    {
                        uint span = (uint)((2 * jitter.NoiseAmplitude) + 1);
                        p = Math.Clamp(p + (int)(FrameRenderer.Mix(jitter.NoiseSeed, (uint)x, (uint)y, 48 + (uint)c) % span) - jitter.NoiseAmplitude, 0, 255);
                    }

                    rgb[(c * size * size) + (y * size) + x] = (byte)p;
                }
            }
        }
    }

    [Fact]
    public void FloatFrameIsTheByteFrameOver255()
    {
        var frames = BundledData.LoadSlice(DataSplit.Test);
        var rgb = new byte[FrameRenderer.PixelCount];
        var chw = new float[FrameRenderer.PixelCount];
        frames.RenderFrame(5, rgb);
        frames.RenderFrame(5, chw);
        for (int i = 0; i < rgb.Length; i++)
        {
            Assert.Equal(rgb[i] / 255f, chw[i]);
        }

        Assert.InRange(chw.Min(), 0f, 1f);
        Assert.InRange(chw.Max(), 0f, 1f);
    }

    [Fact]
    public void JitterMovesTheObjectButNotTheBackground()
    {
        var frames = BundledData.LoadSlice(DataSplit.Test);
        var still = new byte[FrameRenderer.PixelCount];
        var moved = new byte[FrameRenderer.PixelCount];
        frames.RenderFrame(0, still);
        frames.RenderFrame(0, moved, new FrameJitter(2, 1, 0, 0));
        Assert.NotEqual(still, moved);
        // a pixel the shifted object covers equals the unshifted pixel 2 left, 1 up (same object colour)
        int differing = 0;
        for (int i = 0; i < still.Length; i++)
        {
            differing += still[i] != moved[i] ? 1 : 0;
        }

        Assert.InRange(differing, 1, still.Length / 2);
    }

    [Fact]
    public void RenderingAFrameAllocatesNothing()
    {
        var frames = BundledData.LoadSlice(DataSplit.Test);
        var chw = new float[FrameRenderer.PixelCount];
        for (int i = 0; i < 200; i++)
        {
            frames.RenderFrame(i % 20, chw, new FrameJitter(1, -1, 7, 3)); // warm up, past the JIT's tiering thresholds
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++)
        {
            frames.RenderFrame(i, chw, new FrameJitter(i % 5 - 2, 2 - i % 5, (uint)i, 4));
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void WrongBufferSizesAreRejectedWithTheExpectedSize()
    {
        var source = new byte[FrameRenderer.SourcePixels];
        var e = Assert.Throws<ArgumentException>(() => FrameRenderer.Render(source, new byte[100]));
        Assert.Contains("37632", e.Message);
        e = Assert.Throws<ArgumentException>(() => FrameRenderer.Render(new byte[783], new byte[FrameRenderer.PixelCount]));
        Assert.Contains("784", e.Message);
    }
}
