using System.Diagnostics;
using Coach.Native.OnnxRuntime;
using SkiaSharp;

namespace Coach.Engine.Data.Media;

/// <summary>One codec setting measured on calibration frames: bytes a frame, the model's accuracy on the decoded
/// frames, and the edge's encoding time a frame on this machine.</summary>
public sealed record CodecPoint(string Codec, int Setting, double BytesPerFrame, double Accuracy, double EncodeMsPerFrame);

/// <summary>The codec settings tried, the accuracy on the raw frames, and the chosen setting.</summary>
public sealed record CodecCalibrationResult(string Codec, string SettingName, double RawAccuracy, double Epsilon,
    IReadOnlyList<CodecPoint> Points, CodecPoint? Chosen, int Frames);

/// <summary>
/// Picks the cheapest setting of an image or video codec whose decoded frames keep the model within ε of its
/// accuracy on the raw frames, walking from the best setting down and stopping at the first that loses more (the bound of eq. 1, applied to the frame codec instead of the cut tensors): what a
/// user who sends compressed frames to a cloud model would choose (docs/data.md).
/// </summary>
public static class CodecCalibration
{
    /// <summary>JPEG qualities tried, best first.</summary>
    public static readonly IReadOnlyList<int> JpegQualities = [95, 90, 85, 80, 75, 70, 60, 50, 40, 30, 20, 10];

    /// <summary>x264 constant rate factors tried, best first.</summary>
    public static readonly IReadOnlyList<int> H264RateFactors = [18, 23, 28, 33, 38, 43];

    /// <summary>Low-latency x264 settings, as a live stream to a server would use.</summary>
    public static readonly IReadOnlyList<string> LowLatencyX264 = ["-preset", "ultrafast", "-tune", "zerolatency"];

    public static CodecCalibrationResult Jpeg(InferenceSession session, FrameSet frames, double epsilon)
    {
        var raw = ModelEvaluator.Evaluate(session, frames).Accuracy;
        var points = new List<CodecPoint>();
        var size = FrameRenderer.Size;
        var planar = new byte[FrameRenderer.PixelCount];
        foreach (var quality in JpegQualities)
        {
            var pixels = new byte[FrameRenderer.PixelCount * frames.Count];
            long bytes = 0;
            var encoding = new Stopwatch();
            for (var i = 0; i < frames.Count; i++)
            {
                frames.RenderFrame(i, planar.AsSpan());
                encoding.Start();
                using var encoded = ImageCodec.Encode(planar, size, size, SKEncodedImageFormat.Jpeg, quality);
                encoding.Stop();
                bytes += encoded.Size;
                ImageCodec.Decode(encoded.AsSpan(), size, size, pixels.AsSpan(i * FrameRenderer.PixelCount, FrameRenderer.PixelCount));
            }
            var decoded = new DecodedFrames(pixels, Labels(frames), size, size, frames.ClassNames, $"JPEG quality {quality}");
            points.Add(new CodecPoint("jpeg", quality, bytes / (double)frames.Count,
                ModelEvaluator.Evaluate(session, decoded).Accuracy, encoding.Elapsed.TotalMilliseconds / frames.Count));
        }
        return Result("jpeg", "quality", raw, epsilon, points, frames.Count);
    }

    public static CodecCalibrationResult H264(InferenceSession session, FrameSet frames, double epsilon, string workDirectory)
    {
        var raw = ModelEvaluator.Evaluate(session, frames).Accuracy;
        var points = new List<CodecPoint>();
        Directory.CreateDirectory(workDirectory);
        foreach (var crf in H264RateFactors)
        {
            var video = Path.Combine(workDirectory, $"calibration-crf{crf}.mp4");
            var encoding = Stopwatch.StartNew();
            var bytes = MediaExport.WriteVideo(frames, frames.Count, video, crf, framesPerSecond: 30, pixelFormat: "yuv420p", LowLatencyX264);
            encoding.Stop();
            var decoded = VideoFile.Load(video, FrameRenderer.Size, FrameRenderer.Size, frames.ClassNames);
            if (decoded.Count != frames.Count)
            {
                throw new InvalidDataException($"{video}: {decoded.Count} frames decoded, {frames.Count} written");
            }
            points.Add(new CodecPoint("h264", crf, bytes / (double)frames.Count,
                ModelEvaluator.Evaluate(session, decoded).Accuracy, encoding.Elapsed.TotalMilliseconds / frames.Count));
        }
        return Result("h264", "crf", raw, epsilon, points, frames.Count);
    }

    private static int[] Labels(FrameSet frames) => Enumerable.Range(0, frames.Count).Select(frames.Label).ToArray();

    private static CodecCalibrationResult Result(string codec, string settingName, double raw, double epsilon, List<CodecPoint> points, int frames)
    {
        // Settings go from best to worst; the choice is the last one before the first that loses more than ε, so
        // that one lucky setting below a failing one (sampling noise on a few hundred frames) is not taken.
        CodecPoint? chosen = null;
        foreach (var point in points)
        {
            if (raw - point.Accuracy > epsilon)
            {
                break;
            }
            chosen = point;
        }
        return new CodecCalibrationResult(codec, settingName, raw, epsilon, points, chosen, frames);
    }
}
