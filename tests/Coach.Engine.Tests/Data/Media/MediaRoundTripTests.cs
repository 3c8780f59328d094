using Coach.Engine.Data;
using Coach.Engine.Data.Media;
using SkiaSharp;

namespace Coach.Engine.Tests.Data.Media;

/// <summary>The bundled frames written as real media and decoded back through the same path a user's data takes.</summary>
public sealed class MediaRoundTripTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"coach-media-{Guid.NewGuid():N}");
    private readonly FrameSet _test = BundledData.Load(DataSplit.Test);

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    [Fact]
    public void PngFramesDecodeToExactlyTheRenderedPixelsWithTheirLabels()
    {
        const int count = 40;
        MediaExport.WriteImages(_test, count, _folder, SKEncodedImageFormat.Png, 100);

        var decoded = MediaSource.Open("images:" + _folder, FrameRenderer.Size, FrameRenderer.Size, _test.ClassNames, out var notes);

        Assert.Empty(notes);
        Assert.Equal(count, decoded.Count);
        // Folder order is class by class; match each decoded frame to its source by pixels and check the label.
        var rendered = Enumerable.Range(0, count).Select(i =>
        {
            var rgb = new byte[FrameRenderer.PixelCount];
            _test.RenderFrame(i, rgb.AsSpan());
            return (Pixels: rgb, Label: _test.Label(i));
        }).ToList();
        for (var i = 0; i < decoded.Count; i++)
        {
            var match = rendered.FindIndex(r => r.Pixels.AsSpan().SequenceEqual(decoded.Pixels(i)));
            Assert.True(match >= 0, $"decoded frame {i} equals no rendered frame: PNG must be lossless");
            Assert.Equal(rendered[match].Label, decoded.Label(i));
            rendered.RemoveAt(match);
        }
    }

    [Fact]
    public void JpegFramesKeepTheBundledModelsAccuracyWithinOnePoint()
    {
        const int count = 300;
        MediaExport.WriteImages(_test, count, _folder, SKEncodedImageFormat.Jpeg, 90);
        var model = ModelCatalog.Get("resnet-fm112").Path;
        var raw = ModelEvaluator.Evaluate(model, _test.Range(0, count, DataSplit.Test, "first 300"));

        var jpeg = ModelEvaluator.Evaluate(model, MediaSource.Open("images:" + _folder, FrameRenderer.Size, FrameRenderer.Size, _test.ClassNames, out _));

        Assert.Equal(count, jpeg.Samples);
        Assert.InRange(jpeg.Accuracy - raw.Accuracy, -0.01, 0.01);
    }

    [Fact]
    public void H264VideoDecodesEveryFrameWithItsLabelAndCloseToTheRenderedPixels()
    {
        const int count = 30;
        var video = Path.Combine(_folder, "test.mp4");
        var bytes = MediaExport.WriteVideo(_test, count, video, crf: 0, framesPerSecond: 30, pixelFormat: "yuv444p");

        var decoded = MediaSource.Open("video:" + video, FrameRenderer.Size, FrameRenderer.Size, _test.ClassNames, out var notes);

        Assert.True(bytes > 0);
        Assert.Empty(notes);
        Assert.Equal(count, decoded.Count);
        var rgb = new byte[FrameRenderer.PixelCount];
        for (var i = 0; i < count; i++)
        {
            Assert.Equal(_test.Label(i), decoded.Label(i));
            _test.RenderFrame(i, rgb.AsSpan());
            var pixels = decoded.Pixels(i);
            double error = 0;
            for (var p = 0; p < rgb.Length; p++)
            {
                error += Math.Abs(rgb[p] - pixels[p]);
            }
            // Lossless x264 in YUV 4:4:4: only the RGB↔YUV rounding remains.
            Assert.True(error / rgb.Length < 2.0, $"frame {i}: mean absolute error {error / rgb.Length:F2} levels");
        }
    }

    [Fact]
    public void VideoLimitedToFewerFramesStopsThere()
    {
        var video = Path.Combine(_folder, "short.mp4");
        MediaExport.WriteVideo(_test, 12, video, crf: 23, framesPerSecond: 30, pixelFormat: "yuv420p");

        var decoded = VideoFile.Load(video, 56, 64, _test.ClassNames, maxFrames: 5);

        Assert.Equal(5, decoded.Count);
        Assert.Equal((3, 56, 64), decoded.FrameShape);
    }

    [Fact]
    public void ImagesAreResizedToTheModelsInputSize()
    {
        MediaExport.WriteImages(_test, 3, _folder, SKEncodedImageFormat.Png, 100);

        var decoded = MediaSource.Open("images:" + _folder, 224, 200, _test.ClassNames, out _);

        Assert.Equal((3, 224, 200), decoded.FrameShape);
        var chw = new float[3 * 224 * 200];
        decoded.RenderFrame(0, chw);
        Assert.Contains(chw, v => v > 0.1f);
        Assert.All(chw, v => Assert.InRange(v, 0f, 1f));
    }
}
