using System.CommandLine;
using System.Globalization;
using System.Text.Json;
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
        command.Subcommands.Add(CreateCodec());
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

    private static Command CreateCodec()
    {
        var model = new Option<string>("--model") { Description = "a bundled model's name or an .onnx file", DefaultValueFactory = _ => "resnet-fm112" };
        var codec = new Option<string>("--codec") { Description = "jpeg (libjpeg-turbo's TurboJPEG, 4:2:0, as a cloud-jpeg edge sends) or h264 (libavcodec's libx264, ultrafast/zerolatency, no B-frames, yuv420p, as a cloud-h264 edge sends; the frames as the bench's medium-correlation stream)", DefaultValueFactory = _ => "jpeg" };
        codec.AcceptOnlyFromAmong("jpeg", "h264");
        var frames = new Option<int>("--frames") { Description = "calibration frames, from the first", DefaultValueFactory = _ => 500 };
        var epsilon = new Option<double>("--epsilon") { Description = "accuracy loss allowed against the raw frames (eq. 1's ε)", DefaultValueFactory = _ => 0.005 };
        var json = new Option<bool>("--json") { Description = "print the result as one JSON object on the last line" };
        var command = new Command("codec", "the cheapest JPEG quality or H.264 rate factor that keeps a model within ε of its accuracy on raw frames")
        {
            model, codec, frames, epsilon, json,
        };
        command.SetAction(parse => Guarded(() =>
        {
            var name = parse.GetValue(model)!;
            var path = File.Exists(name) ? Path.GetFullPath(name) : ModelCatalog.Get(name).Path;
            var calibration = BundledData.Load(DataSplit.Calibration);
            var count = Math.Clamp(parse.GetValue(frames), 1, calibration.Count);
            var set = calibration.Range(0, count, DataSplit.Calibration, $"first {count} of {calibration.Source}");
            using var session = Coach.Native.OnnxRuntime.InferenceSession.Open(path, new Coach.Native.OnnxRuntime.SessionSettings { IntraOpThreads = 1 });
            CodecCalibrationResult result = parse.GetValue(codec) == "h264"
                ? CodecCalibration.H264(session, CodecCalibration.CorrelatedStream(set, set.Count), parse.GetValue(epsilon))
                : CodecCalibration.Jpeg(session, set, parse.GetValue(epsilon));
            Print(result, Path.GetFileNameWithoutExtension(path));
            if (parse.GetValue(json))
            {
                Console.WriteLine(ToJson(result, Path.GetFileNameWithoutExtension(path)));
            }
        }));
        return command;
    }

    private static void Print(CodecCalibrationResult result, string model)
    {
        Console.WriteLine($"{model} on {result.Frames} calibration frames: raw accuracy {result.RawAccuracy:P2}, ε {result.Epsilon:P2}");
        Console.WriteLine($"  {result.SettingName,8}  {"B/frame",9}  {"accuracy",9}  {"encode ms/frame",15}");
        foreach (var point in result.Points)
        {
            var mark = ReferenceEquals(point, result.Chosen) ? "  <- chosen" : "";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {point.Setting,8}  {point.BytesPerFrame,9:F0}  {point.Accuracy,9:P2}  {point.EncodeMsPerFrame,15:F3}{mark}"));
        }
        if (result.Chosen is null)
        {
            Console.WriteLine($"  no {result.Codec} setting stays within ε: send raw frames or loosen --epsilon");
        }
    }

    private static string ToJson(CodecCalibrationResult result, string model)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("model", model);
            writer.WriteString("codec", result.Codec);
            writer.WriteNumber("frames", result.Frames);
            writer.WriteNumber("raw_accuracy", Math.Round(result.RawAccuracy, 6));
            writer.WriteNumber("epsilon", result.Epsilon);
            writer.WriteStartArray("points");
            foreach (var point in result.Points)
            {
                writer.WriteStartObject();
                writer.WriteNumber(result.SettingName, point.Setting);
                writer.WriteNumber("bytes_per_frame", Math.Round(point.BytesPerFrame, 1));
                writer.WriteNumber("accuracy", Math.Round(point.Accuracy, 6));
                writer.WriteNumber("encode_ms_per_frame", Math.Round(point.EncodeMsPerFrame, 4));
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            if (result.Chosen is { } chosen)
            {
                writer.WriteNumber("chosen_" + result.SettingName, chosen.Setting);
                writer.WriteNumber("chosen_bytes_per_frame", Math.Round(chosen.BytesPerFrame, 1));
            }
            else
            {
                writer.WriteNull("chosen_" + result.SettingName);
            }
            writer.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static int Guarded(Action action)
    {
        try
        {
            action();
            return 0;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException
                                      or InvalidOperationException or KeyNotFoundException or Coach.Native.OnnxRuntime.OrtException)
        {
            Console.Error.WriteLine($"coach data: {e.Message}");
            return 1;
        }
    }
}
