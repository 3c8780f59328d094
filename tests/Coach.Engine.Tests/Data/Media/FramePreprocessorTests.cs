using Coach.Engine.Data;
using Coach.Engine.Data.Media;

namespace Coach.Engine.Tests.Data.Media;

public sealed class FramePreprocessorTests
{
    private static readonly InputContract ImageNet = InputContract.Default(1, 1) with
    {
        Mean = InputContract.ImageNetMean, Std = InputContract.ImageNetStd, Origin = "test",
    };

    /// <summary>The kernel against a per-pixel scalar reference: every format, channel order and scale, odd sizes,
    /// shrinking, enlarging and equal sizes. Tolerance: 1e-5 relative (values reach 255 with scale 1).</summary>
    [Theory]
    [InlineData(PixelFormat.PlanarRgb, 37, 53, 224, 224, ChannelOrder.Rgb, 255f, true)]
    [InlineData(PixelFormat.PlanarRgb, 112, 112, 112, 112, ChannelOrder.Bgr, 255f, true)]
    [InlineData(PixelFormat.PlanarRgb, 480, 640, 224, 224, ChannelOrder.Rgb, 1f, false)]
    [InlineData(PixelFormat.Rgb24, 31, 47, 29, 61, ChannelOrder.Rgb, 255f, true)]
    [InlineData(PixelFormat.Rgb24, 120, 160, 120, 160, ChannelOrder.Bgr, 1f, false)]
    [InlineData(PixelFormat.Bgr24, 241, 319, 112, 112, ChannelOrder.Rgb, 255f, true)]
    [InlineData(PixelFormat.Bgr24, 7, 9, 224, 224, ChannelOrder.Bgr, 255f, false)]
    [InlineData(PixelFormat.Yuyv, 240, 320, 224, 224, ChannelOrder.Rgb, 255f, true)]
    [InlineData(PixelFormat.Yuyv, 33, 46, 67, 35, ChannelOrder.Bgr, 1f, true)]
    [InlineData(PixelFormat.Yuyv, 1, 2, 3, 5, ChannelOrder.Rgb, 255f, false)]
    public void MatchesTheScalarReference(PixelFormat format, int sourceHeight, int sourceWidth, int height, int width,
        ChannelOrder order, float scale, bool meanStd)
    {
        var contract = (meanStd ? ImageNet : InputContract.Default(1, 1)) with { Height = height, Width = width, ChannelOrder = order, ScaleDivisor = scale };
        var random = new Random(sourceHeight * 7919 + sourceWidth);
        var frame = new byte[FramePreprocessor.SourceFrameBytes(format, sourceHeight, sourceWidth)];
        var expected = new float[contract.FrameFloats];
        var actual = new float[contract.FrameFloats];
        var kernel = new FramePreprocessor(format, sourceHeight, sourceWidth, contract);

        for (var trial = 0; trial < 3; trial++)
        {
            random.NextBytes(frame);
            Reference(format, frame, sourceHeight, sourceWidth, contract, expected);
            kernel.Run(frame, actual);
            for (var i = 0; i < expected.Length; i++)
            {
                Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5f * Math.Max(1f, Math.Abs(expected[i])),
                    $"element {i}: reference {expected[i]}, kernel {actual[i]}");
            }
        }
    }

    [Fact]
    public void TheDefaultContractAtTheModelSizeIsValueOver255BitForBit()
    {
        var frame = new byte[3 * 112 * 112];
        new Random(5).NextBytes(frame);
        var expected = new float[frame.Length];
        var actual = new float[frame.Length];
        FrameRenderer.ToUnitRange(frame, expected);

        new FramePreprocessor(PixelFormat.PlanarRgb, 112, 112, InputContract.Default(112, 112)).Run(frame, actual);

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void SteadyStateFramesAllocateNothing()
    {
        var contract = ImageNet with { Height = 224, Width = 224, ChannelOrder = ChannelOrder.Bgr };
        var kernels = new[]
        {
            new FramePreprocessor(PixelFormat.Yuyv, 480, 640, contract),
            new FramePreprocessor(PixelFormat.Rgb24, 300, 401, contract),
            new FramePreprocessor(PixelFormat.PlanarRgb, 224, 224, contract),
        };
        var frames = kernels.Select(k => new byte[k.SourceBytes]).ToArray();
        var output = new float[contract.FrameFloats];
        for (var i = 0; i < kernels.Length; i++)
        {
            new Random(i).NextBytes(frames[i]);
        }
        // Warm past tiered compilation's call-count thresholds (tier 0, instrumented, tier 1): a method reaching
        // its threshold inside the measured loop can allocate on the calling thread, which is not the kernel's.
        for (var n = 0; n < 200; n++)
        {
            kernels[n % kernels.Length].Run(frames[n % kernels.Length], output);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var n = 0; n < 20; n++)
        {
            for (var i = 0; i < kernels.Length; i++)
            {
                kernels[i].Run(frames[i], output);
            }
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Contains(output, v => v != 0f);
    }

    [Fact]
    public void DecodedFramesRenderThroughTheKernelWithoutAllocating()
    {
        var contract = ImageNet with { Height = 112, Width = 112 };
        var pixels = new byte[4 * 90 * 130 * 3];
        new Random(8).NextBytes(pixels);
        var frames = new DecodedFrames(pixels, [-1, -1, -1, -1], PixelFormat.Bgr24, 90, 130, contract, [], "four BGR frames");
        var expected = new float[contract.FrameFloats];
        var output = new float[contract.FrameFloats];
        new FramePreprocessor(PixelFormat.Bgr24, 90, 130, contract).Run(pixels.AsSpan(3 * 90 * 130 * 3, 90 * 130 * 3), expected);
        for (var n = 0; n < 200; n++)
        {
            frames.RenderFrame(n % 4, output); // warm: the thread's kernel, and past the JIT's tiering thresholds
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var n = 0; n < 40; n++)
        {
            frames.RenderFrame(n % 4, output);
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(expected, output); // the last frame rendered is frame 3
    }

    /// <summary>YUYV against BT.601's limited-range equations in floating point (R = 1.164(Y−16) + 1.596(V−128), …):
    /// the integer conversion is within one level everywhere, and exact at black, white and grey.</summary>
    [Fact]
    public void YuyvConversionFollowsBt601()
    {
        var yuyv = new byte[4 * 4096];
        new Random(11).NextBytes(yuyv);
        var rgb = new byte[yuyv.Length / 2 * 3];

        FramePreprocessor.YuyvToRgb24(yuyv, rgb);

        for (var pair = 0; pair < yuyv.Length / 4; pair++)
        {
            double u = yuyv[(4 * pair) + 1] - 128, v = yuyv[(4 * pair) + 3] - 128;
            for (var k = 0; k < 2; k++)
            {
                double y = 1.164 * (yuyv[(4 * pair) + (2 * k)] - 16);
                double[] reference = [y + (1.596 * v), y - (0.391 * u) - (0.813 * v), y + (2.018 * u)];
                for (var c = 0; c < 3; c++)
                {
                    var want = Math.Clamp(reference[c], 0, 255);
                    Assert.InRange(rgb[(6 * pair) + (3 * k) + c], want - 1.01, want + 1.01);
                }
            }
        }

        FramePreprocessor.YuyvToRgb24([16, 128, 235, 128, 126, 128, 126, 128], rgb);
        Assert.Equal(new byte[] { 0, 0, 0, 255, 255, 255, 128, 128, 128, 128, 128, 128 }, rgb[..12]);
    }

    [Fact]
    public void WrongSizesAreRefusedNamingTheSizes()
    {
        var kernel = new FramePreprocessor(PixelFormat.Rgb24, 10, 20, InputContract.Default(8, 8));
        Assert.Contains("600 bytes", Assert.Throws<ArgumentException>(() => kernel.Run(new byte[599], new float[192])).Message);
        Assert.Contains("192 floats", Assert.Throws<ArgumentException>(() => kernel.Run(new byte[600], new float[191])).Message);
        Assert.Contains("even width", Assert.Throws<ArgumentException>(() => new FramePreprocessor(PixelFormat.Yuyv, 4, 5, InputContract.Default(4, 4))).Message);
    }

    /// <summary>Straightforward per-output-pixel bilinear sampling with half-pixel centres, then (v/scale − mean)/std.</summary>
    private static void Reference(PixelFormat format, byte[] frame, int sourceHeight, int sourceWidth, InputContract contract, float[] output)
    {
        var rgb = new byte[3 * sourceHeight * sourceWidth]; // planar RGB of the source
        for (var y = 0; y < sourceHeight; y++)
        {
            for (var x = 0; x < sourceWidth; x++)
            {
                int p = (y * sourceWidth) + x, plane = sourceHeight * sourceWidth;
                byte r, g, b;
                switch (format)
                {
                    case PixelFormat.PlanarRgb:
                        (r, g, b) = (frame[p], frame[plane + p], frame[(2 * plane) + p]);
                        break;
                    case PixelFormat.Rgb24:
                        (r, g, b) = (frame[3 * p], frame[(3 * p) + 1], frame[(3 * p) + 2]);
                        break;
                    case PixelFormat.Bgr24:
                        (b, g, r) = (frame[3 * p], frame[(3 * p) + 1], frame[(3 * p) + 2]);
                        break;
                    default:
                        var pair = ((y * sourceWidth) + (x & ~1)) * 2;
                        var six = new byte[6];
                        FramePreprocessor.YuyvToRgb24(frame.AsSpan(pair, 4), six);
                        (r, g, b) = (six[(x & 1) * 3], six[((x & 1) * 3) + 1], six[((x & 1) * 3) + 2]);
                        break;
                }
                rgb[p] = r;
                rgb[plane + p] = g;
                rgb[(2 * plane) + p] = b;
            }
        }
        int height = contract.Height, width = contract.Width;
        for (var c = 0; c < 3; c++)
        {
            var source = contract.ChannelOrder == ChannelOrder.Bgr ? 2 - c : c;
            for (var y = 0; y < height; y++)
            {
                var (y0, y1, wy) = Tap(y, sourceHeight, height);
                for (var x = 0; x < width; x++)
                {
                    var (x0, x1, wx) = Tap(x, sourceWidth, width);
                    float At(int yy, int xx) => rgb[(source * sourceHeight * sourceWidth) + (yy * sourceWidth) + xx];
                    var top = At(y0, x0) + (wx * (At(y0, x1) - At(y0, x0)));
                    var bottom = At(y1, x0) + (wx * (At(y1, x1) - At(y1, x0)));
                    var value = top + (wy * (bottom - top));
                    var mean = contract.NormalizationInGraph ? 0f : contract.Mean[c];
                    var std = contract.NormalizationInGraph ? 1f : contract.Std[c];
                    output[(c * height * width) + (y * width) + x] = ((value / contract.ScaleDivisor) - mean) / std;
                }
            }
        }
    }

    private static (int, int, float) Tap(int i, int source, int output)
    {
        var at = Math.Max(((i + 0.5) * source / output) - 0.5, 0.0);
        var low = Math.Min((int)Math.Floor(at), source - 1);
        return (low, Math.Min(low + 1, source - 1), (float)(at - low));
    }
}
