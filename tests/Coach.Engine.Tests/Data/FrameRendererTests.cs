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
        frames.RenderFrame(0, chw, new FrameJitter(1, -1, 7, 3));  // warm up
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
