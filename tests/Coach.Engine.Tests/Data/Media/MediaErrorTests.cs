using Coach.Engine.Data;
using Coach.Engine.Data.Media;
using SkiaSharp;

namespace Coach.Engine.Tests.Data.Media;

public sealed class MediaErrorTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"coach-media-errors-{Guid.NewGuid():N}");

    public MediaErrorTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void MissingFolderNamesTheFolderAndWhatToGive()
    {
        var missing = Path.Combine(_folder, "nothing-here");

        var error = Assert.Throws<DirectoryNotFoundException>(() =>
            MediaSource.Open("images:" + missing, 112, 112, FrameSet.FashionMnistClasses, out _));

        Assert.Contains(missing, error.Message);
        Assert.Contains("JPEG/PNG", error.Message);
    }

    [Fact]
    public void UndecodableImageNamesTheFile()
    {
        var bad = Path.Combine(_folder, "broken.jpg");
        File.WriteAllBytes(bad, [0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3]);

        var error = Assert.Throws<InvalidDataException>(() =>
            MediaSource.Open("images:" + _folder, 112, 112, FrameSet.FashionMnistClasses, out _));

        Assert.Contains(bad, error.Message);
        Assert.Contains("not a decodable image", error.Message);
    }

    [Fact]
    public void SubfolderNamingNoClassIsUnlabelledAndReported()
    {
        var set = BundledData.Load(DataSplit.Test);
        var rgb = new byte[FrameRenderer.PixelCount];
        set.RenderFrame(0, rgb.AsSpan());
        Directory.CreateDirectory(Path.Combine(_folder, "holiday-photos"));
        Directory.CreateDirectory(Path.Combine(_folder, "Ankle boot"));
        ImageFolder.Encode(rgb, 112, 112, SKEncodedImageFormat.Png, 100, Path.Combine(_folder, "holiday-photos", "a.png"));
        ImageFolder.Encode(rgb, 112, 112, SKEncodedImageFormat.Png, 100, Path.Combine(_folder, "Ankle boot", "b.png"));

        var frames = MediaSource.Open("images:" + _folder, 112, 112, FrameSet.FashionMnistClasses, out var notes);

        Assert.Equal(2, frames.Count);
        Assert.Equal([9, -1], new[] { frames.Label(0), frames.Label(1) });
        Assert.Contains("holiday-photos", Assert.Single(notes));
    }

    [Fact]
    public void UnlabelledFramesGiveNoAccuracyButAClearError()
    {
        var set = BundledData.Load(DataSplit.Test);
        var rgb = new byte[FrameRenderer.PixelCount];
        set.RenderFrame(0, rgb.AsSpan());
        ImageFolder.Encode(rgb, 112, 112, SKEncodedImageFormat.Png, 100, Path.Combine(_folder, "frame.png"));
        var frames = MediaSource.Open("images:" + _folder, 112, 112, FrameSet.FashionMnistClasses, out _);

        var error = Assert.Throws<ModelDataMismatchException>(() => ModelEvaluator.Evaluate(ModelCatalog.Get("resnet-fm112").Path, frames));

        Assert.Contains("no labelled frame", error.Message);
    }

    [Fact]
    public void ShortLabelFileIsRefusedNamingBothCounts()
    {
        var video = Path.Combine(_folder, "v.mp4");
        MediaExport.WriteVideo(BundledData.Load(DataSplit.Test), 6, video, crf: 23, framesPerSecond: 30, pixelFormat: "yuv420p");
        File.WriteAllLines(VideoFile.LabelPath(video), ["bag", "coat"]);

        var error = Assert.Throws<InvalidDataException>(() => VideoFile.Load(video, 112, 112, FrameSet.FashionMnistClasses));

        Assert.Contains("2 labels for 6 decoded frames", error.Message);
    }

    [Fact]
    public void UnknownLabelInALabelFileIsRefusedNamingTheLine()
    {
        var video = Path.Combine(_folder, "v.mp4");
        MediaExport.WriteVideo(BundledData.Load(DataSplit.Test), 2, video, crf: 23, framesPerSecond: 30, pixelFormat: "yuv420p");
        File.WriteAllLines(VideoFile.LabelPath(video), ["bag", "giraffe"]);

        var error = Assert.Throws<InvalidDataException>(() => VideoFile.Load(video, 112, 112, FrameSet.FashionMnistClasses));

        Assert.Contains("line 2", error.Message);
        Assert.Contains("giraffe", error.Message);
    }

    [Fact]
    public void FileThatIsNoVideoGivesFfmpegsReason()
    {
        var notVideo = Path.Combine(_folder, "notes.mp4");
        File.WriteAllText(notVideo, "this is text");

        var error = Assert.Throws<InvalidDataException>(() => VideoFile.Load(notVideo, 112, 112, FrameSet.FashionMnistClasses));

        Assert.Contains("ffmpeg exited", error.Message);
        Assert.Contains(notVideo, error.Message);
    }

    [Theory]
    [InlineData("T-shirt/top", "t-shirt-top")]
    [InlineData("Ankle boot", "ankle-boot")]
    [InlineData("  Bag ", "bag")]
    public void ClassNamesBecomeFolderNames(string className, string folder) =>
        Assert.Equal(folder, DecodedFrames.FolderName(className));

    [Theory]
    [InlineData("t-shirt-top", 0)]
    [InlineData("T-Shirt Top", 0)]
    [InlineData("7", 7)]
    [InlineData("10", -1)]
    [InlineData("giraffe", -1)]
    public void FolderNamesMapToLabels(string name, int label) =>
        Assert.Equal(label, DecodedFrames.LabelOf(name, FrameSet.FashionMnistClasses));

    [Fact]
    public void UnknownSchemeIsRefusedNamingTheForms() =>
        Assert.Contains("images:DIR", Assert.Throws<FormatException>(() =>
            MediaSource.Open("camera:/dev/video0", 112, 112, FrameSet.FashionMnistClasses, out _)).Message);
}
