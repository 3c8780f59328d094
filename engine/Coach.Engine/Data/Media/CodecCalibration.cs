using System.Diagnostics;
using Coach.Native.Imaging;
using Coach.Native.OnnxRuntime;

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
    public static readonly IReadOnlyList<int> H264RateFactors = [18, 21, 24, 27, 30, 33, 36, 40, 44];

    /// <summary>
    /// JPEG at each of <see cref="JpegQualities"/> through libjpeg-turbo (<see cref="TurboJpeg"/>), the codec the edge of a
    /// cloud-jpeg plan sends with: each frame as the model takes it (values k/255), rounded to 8-bit RGB, encoded and
    /// decoded exactly as the edge and the cloud do (docs/protocol.md compression 3), so the bytes and accuracy measured here
    /// are the wire's. The encode time counts the rounding and the encoding, the edge's send-stage work per frame.
    /// </summary>
    public static CodecCalibrationResult Jpeg(InferenceSession session, ILabelledFrames frames, double epsilon)
    {
        ArgumentNullException.ThrowIfNull(frames);
        var raw = ModelEvaluator.Evaluate(session, frames).Accuracy;
        var points = new List<CodecPoint>();
        var (channels, height, width) = frames.FrameShape;
        if (channels != 3)
        {
            throw new ArgumentException($"{frames.Source}: JPEG frames are RGB; these frames have {channels} channels");
        }
        int frameValues = 3 * height * width;
        var input = new float[frameValues];
        var rgb = new byte[frameValues];
        var decodedRgb = new byte[frameValues];
        var decodedFrame = new float[frameValues];
        var encoded = new byte[TurboJpeg.MaxEncodedLength(width, height)];
        using var codec = new TurboJpeg();
        foreach (var quality in JpegQualities)
        {
            var pixels = new byte[(long)frameValues * frames.Count];
            long bytes = 0;
            // Per-frame times, summarized by their median: on a shared machine a frame whose encoding was preempted takes
            // milliseconds instead of a tenth of one, and a mean would price every frame at the neighbours' load.
            var encodeTicks = new long[frames.Count];
            for (var i = 0; i < frames.Count; i++)
            {
                frames.RenderFrame(i, input);
                if (quality == JpegQualities[0])
                {
                    RequirePixelRange(input, frames.Source, i);
                }
                long start = Stopwatch.GetTimestamp();
                TurboJpeg.ToInterleaved(input, rgb);
                int length = codec.Encode(rgb, width, height, quality, encoded);
                encodeTicks[i] = Stopwatch.GetTimestamp() - start;
                bytes += length;
                codec.Decode(encoded.AsSpan(0, length), width, height, decodedRgb);
                // Planar bytes of the decoded frame: DecodedFrames feeds them as value/255, as the cloud does.
                TurboJpeg.ToPlanar(decodedRgb, decodedFrame);
                var planar = pixels.AsSpan(i * frameValues, frameValues);
                for (int k = 0; k < frameValues; k++)
                {
                    planar[k] = (byte)MathF.Round(decodedFrame[k] * 255f);
                }
            }
            var decoded = new DecodedFrames(pixels, Labels(frames), height, width, frames.ClassNames, $"JPEG quality {quality}");
            points.Add(new CodecPoint("jpeg", quality, bytes / (double)frames.Count,
                ModelEvaluator.Evaluate(session, decoded).Accuracy, MedianMilliseconds(encodeTicks)));
        }
        return Result("jpeg", "quality", raw, epsilon, points, frames.Count);
    }

    /// <summary>
    /// H.264 at each of <see cref="H264RateFactors"/> through libavcodec's libx264 (<see cref="H264Encoder"/>: ultrafast,
    /// zerolatency, no B-frames, an IDR every <see cref="H264Encoder.DefaultKeyInterval"/> frames) and FFmpeg's h264
    /// decoder, the codecs the edge and the cloud of a cloud-h264 plan use (docs/protocol.md compression 4): the frames are
    /// one stream in their order, so the bytes a frame are what temporal redundancy leaves of them — give a correlated
    /// stream (<see cref="CorrelatedStream"/>, a video), not independent pictures. The encode time counts the rounding to
    /// 8-bit RGB, the colour conversion and the encoding, the edge's send-stage work a frame.
    /// </summary>
    public static CodecCalibrationResult H264(InferenceSession session, ILabelledFrames frames, double epsilon)
    {
        ArgumentNullException.ThrowIfNull(frames);
        var raw = ModelEvaluator.Evaluate(session, frames).Accuracy;
        var points = new List<CodecPoint>();
        var (channels, height, width) = frames.FrameShape;
        if (channels != 3)
        {
            throw new ArgumentException($"{frames.Source}: H.264 frames are RGB; these frames have {channels} channels");
        }
        int frameValues = 3 * height * width;
        var input = new float[frameValues];
        var rgb = new byte[frameValues];
        var decodedRgb = new byte[frameValues];
        var decodedFrame = new float[frameValues];
        var encoded = new byte[H264Encoder.MaxEncodedLength(width, height)];
        foreach (var crf in H264RateFactors)
        {
            using var encoder = new H264Encoder(width, height, crf);
            using var decoder = new H264Decoder(width, height);
            var pixels = new byte[(long)frameValues * frames.Count];
            long bytes = 0;
            var encoding = new Stopwatch();
            for (var i = 0; i < frames.Count; i++)
            {
                frames.RenderFrame(i, input);
                if (crf == H264RateFactors[0])
                {
                    RequirePixelRange(input, frames.Source, i, "H.264");
                }
                encoding.Start();
                TurboJpeg.ToInterleaved(input, rgb);
                int length = encoder.Encode(rgb, encoded);
                encoding.Stop();
                bytes += length;
                decoder.Decode(encoded.AsSpan(0, length), decodedRgb);
                TurboJpeg.ToPlanar(decodedRgb, decodedFrame);
                var planar = pixels.AsSpan(i * frameValues, frameValues);
                for (int k = 0; k < frameValues; k++)
                {
                    planar[k] = (byte)MathF.Round(decodedFrame[k] * 255f);
                }
            }
            var decoded = new DecodedFrames(pixels, Labels(frames), height, width, frames.ClassNames, $"H.264 crf {crf}");
            points.Add(new CodecPoint("h264", crf, bytes / (double)frames.Count,
                ModelEvaluator.Evaluate(session, decoded).Accuracy, encoding.Elapsed.TotalMilliseconds / frames.Count));
        }
        return Result("h264", "crf", raw, epsilon, points, frames.Count);
    }

    /// <summary>The run length of <see cref="CorrelatedStream"/>: the bench's (coach bench, --run-length 30).</summary>
    public const int StreamRunLength = 30;

    /// <summary>
    /// <paramref name="count"/> frames of <paramref name="set"/> as the bench's medium-correlation stream (runs of
    /// <see cref="StreamRunLength"/> frames of one class, seed 1; <see cref="TaskStream"/>), rendered to 8-bit pixels: the
    /// order an H.264 calibration encodes them in, as a camera would.
    /// </summary>
    public static DecodedFrames CorrelatedStream(FrameSet set, int count, StreamCorrelation correlation = StreamCorrelation.Medium)
    {
        ArgumentNullException.ThrowIfNull(set);
        var stream = TaskStream.Create(set, correlation, count, StreamRunLength, seed: 1);
        int frameBytes = FrameRenderer.PixelCount;
        var pixels = new byte[(long)frameBytes * count];
        var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            stream.RenderFrame(i, pixels.AsSpan(i * frameBytes, frameBytes));
            labels[i] = stream.Label(i);
        }
        return new DecodedFrames(pixels, labels, FrameRenderer.Size, FrameRenderer.Size, set.ClassNames,
            $"{count} frames of {set.Source} as a {correlation.ToString().ToLowerInvariant()}-correlation stream (run length {StreamRunLength}, seed 1)");
    }

    /// <summary>JPEG carries 8-bit pixels, fed back as value/255: a model whose input contract normalizes its frames (a card
    /// with mean/std) takes values outside [0, 1] that no JPEG frame can give it.</summary>
    private static void RequirePixelRange(ReadOnlySpan<float> frame, string source, int index, string codec = "JPEG")
    {
        foreach (float v in frame)
        {
            if (!(v >= -1e-6f && v <= 1f + 1e-6f))
            {
                throw new InvalidOperationException(
                    $"{source}: frame {index} has input value {v} outside [0, 1]; {codec} frames carry 8-bit pixels fed to the model as value/255, " +
                    "so a model whose card normalizes its input (mean/std) cannot take them: use the cloud method, or put the normalization in the model");
            }
        }
    }

    private static double MedianMilliseconds(long[] ticks)
    {
        if (ticks.Length == 0)
        {
            return 0;
        }

        Array.Sort(ticks);
        int mid = ticks.Length / 2;
        double median = ticks.Length % 2 == 1 ? ticks[mid] : (ticks[mid - 1] + ticks[mid]) / 2.0;
        return median * 1e3 / Stopwatch.Frequency;
    }

    private static int[] Labels(ILabelledFrames frames) => Enumerable.Range(0, frames.Count).Select(frames.Label).ToArray();

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
