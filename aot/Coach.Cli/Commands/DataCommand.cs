using System.CommandLine;
using Coach.Engine.Data;
using Coach.Engine.Data.Media;
using SkiaSharp;

namespace Coach.Cli.Commands;

/// <summary>
/// <c>coach data images|video</c>: the bundled test frames written as real media (JPEG/PNG/WebP files in class
/// subfolders, or an H.264 video with its .labels file), to feed back through <c>images:</c> and <c>video:</c>
/// sources and to measure what a codec costs (docs/data.md).
/// </summary>
internal static class DataCommand
{
    public static Command Create()
    {
        var command = new Command("data", "write the bundled test frames as images or video (docs/data.md)");
        command.Subcommands.Add(CreateImages());
        command.Subcommands.Add(CreateVideo());
        return command;
    }

    private static Command CreateImages()
    {
        var output = new Option<string>("--out") { Description = "folder to write DIR/<class>/NNNNNN.jpg into", Required = true };
        var frames = new Option<int>("--frames") { Description = "how many test frames, from the first", DefaultValueFactory = _ => 300 };
        var format = new Option<string>("--format") { Description = "jpeg, png or webp", DefaultValueFactory = _ => "jpeg" };
        format.AcceptOnlyFromAmong("jpeg", "png", "webp");
        var quality = new Option<int>("--quality") { Description = "JPEG/WebP quality, 1–100", DefaultValueFactory = _ => 90 };
        var command = new Command("images", "the bundled test frames as image files in class subfolders") { output, frames, format, quality };
        command.SetAction(parse => Guarded(() =>
        {
            var count = parse.GetValue(frames);
            var q = parse.GetValue(quality);
            if (q is < 1 or > 100)
            {
                throw new ArgumentOutOfRangeException(nameof(quality), q, "--quality must be 1 to 100");
            }
            var kind = parse.GetValue(format) switch
            {
                "png" => SKEncodedImageFormat.Png,
                "webp" => SKEncodedImageFormat.Webp,
                _ => SKEncodedImageFormat.Jpeg,
            };
            var set = BundledData.Load(DataSplit.Test);
            var directory = Path.GetFullPath(parse.GetValue(output)!);
            var bytes = MediaExport.WriteImages(set, Math.Min(count, set.Count), directory, kind, q);
            Console.WriteLine($"coach data: {Math.Min(count, set.Count)} frames of {set.Source} as {parse.GetValue(format)} (quality {q}) in {directory}: {bytes:N0} bytes, {bytes / (double)Math.Min(count, set.Count):F0} B a frame");
        }));
        return command;
    }

    private static Command CreateVideo()
    {
        var output = new Option<string>("--out") { Description = "video file to write (.mp4); its labels go to FILE.labels", Required = true };
        var frames = new Option<int>("--frames") { Description = "how many test frames, from the first", DefaultValueFactory = _ => 300 };
        var crf = new Option<int>("--crf") { Description = "x264 constant rate factor (0 lossless … 51)", DefaultValueFactory = _ => 23 };
        var fps = new Option<int>("--fps") { Description = "frame rate written into the video", DefaultValueFactory = _ => 30 };
        var chroma = new Option<string>("--pix-fmt") { Description = "yuv420p (what cameras send) or yuv444p", DefaultValueFactory = _ => "yuv420p" };
        chroma.AcceptOnlyFromAmong("yuv420p", "yuv444p");
        var command = new Command("video", "the bundled test frames as an H.264 video (ffmpeg, libx264) with a .labels file") { output, frames, crf, fps, chroma };
        command.SetAction(parse => Guarded(() =>
        {
            var set = BundledData.Load(DataSplit.Test);
            var count = Math.Min(parse.GetValue(frames), set.Count);
            var path = Path.GetFullPath(parse.GetValue(output)!);
            var bytes = MediaExport.WriteVideo(set, count, path, parse.GetValue(crf), parse.GetValue(fps), parse.GetValue(chroma)!);
            Console.WriteLine($"coach data: {count} frames of {set.Source} as H.264 (crf {parse.GetValue(crf)}, {parse.GetValue(chroma)}) in {path}: {bytes:N0} bytes, {bytes / (double)count:F0} B a frame; labels in {VideoFile.LabelPath(path)}");
        }));
        return command;
    }

    private static int Guarded(Action action)
    {
        try
        {
            action();
            return 0;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException or InvalidOperationException)
        {
            Console.Error.WriteLine($"coach data: {e.Message}");
            return 1;
        }
    }
}
