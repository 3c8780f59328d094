using System.Globalization;
using Coach.Engine.Data;
using Coach.Engine.Data.Media;
using Coach.Native.Video;

namespace Coach.Transport.Edge;

/// <summary>
/// <c>camera:/dev/videoN[@WxH]</c>: live frames from a V4L2 camera (YUYV, or RGB3/BGR3 where the camera offers it),
/// each dequeued when the pipeline asks for the next frame and turned into the model's input by
/// <see cref="FramePreprocessor"/> straight from the driver's buffer (docs/data.md, "Camera"). Labels are unknown (-1).
/// </summary>
public sealed class CameraFrameSource : IFrameSource, IDisposable
{
    public const string Prefix = "camera:";

    private readonly V4l2Capture _capture;
    private readonly FramePreprocessor _preprocessor;
    private readonly byte[] _packed;
    private readonly int _rowBytes;
    private readonly Lock _gate = new();

    public CameraFrameSource(string spec, InputContract contract, int frames)
    {
        ArgumentNullException.ThrowIfNull(contract);
        var (device, width, height) = Parse(spec);
        _capture = V4l2Capture.Open(device, width, height, V4l2PixelFormat.Yuyv);
        try
        {
            var format = _capture.Format switch
            {
                V4l2PixelFormat.Yuyv => PixelFormat.Yuyv,
                V4l2PixelFormat.Rgb24 => PixelFormat.Rgb24,
                _ => PixelFormat.Bgr24,
            };
            _preprocessor = new FramePreprocessor(format, _capture.Height, _capture.Width, contract);
            _rowBytes = _preprocessor.SourceBytes / _capture.Height;
            _packed = _capture.BytesPerLine == _rowBytes ? [] : new byte[_preprocessor.SourceBytes];
        }
        catch
        {
            _capture.Dispose();
            throw;
        }
        Count = frames;
        Description = $"{Prefix}{device} ({V4l2Capture.FourCc((uint)_capture.Format)} {_capture.Width}×{_capture.Height} → {contract.Describe()})";
    }

    public int Count { get; }

    public string Description { get; }

    public int Label(int index) => -1;

    /// <summary>The next camera frame (frames are live: <paramref name="index"/> only counts them).</summary>
    public void RenderFrame(int index, Span<float> chw)
    {
        lock (_gate)
        {
            var frame = _capture.Dequeue(out var token);
            try
            {
                var bytes = _preprocessor.SourceBytes;
                if (_packed.Length == 0)
                {
                    if (frame.Length < bytes)
                    {
                        throw new InvalidDataException($"{Description}: a frame of {frame.Length} bytes, {bytes} expected");
                    }
                    _preprocessor.Run(frame[..bytes], chw);
                }
                else
                {
                    // Rows padded by the driver (bytesperline > width × bytes a pixel): packed first.
                    for (var row = 0; row < _capture.Height; row++)
                    {
                        frame.Slice(row * _capture.BytesPerLine, _rowBytes).CopyTo(_packed.AsSpan(row * _rowBytes));
                    }
                    _preprocessor.Run(_packed, chw);
                }
            }
            finally
            {
                _capture.Requeue(token);
            }
        }
    }

    public void Dispose() => _capture.Dispose();

    /// <summary>Device and requested size of <c>camera:DEVICE[@WxH]</c> (640×480 by default, which every UVC camera offers in YUYV).</summary>
    public static (string Device, int Width, int Height) Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var body = spec.StartsWith(Prefix, StringComparison.Ordinal) ? spec[Prefix.Length..] : spec;
        var at = body.LastIndexOf('@');
        var device = at < 0 ? body : body[..at];
        if (device.Length == 0)
        {
            throw new FormatException($"{spec}: name the camera, e.g. camera:/dev/video0 or camera:/dev/video0@1280x720; {V4l2Capture.ListHint}");
        }
        if (at < 0)
        {
            return (device, 640, 480);
        }
        var size = body[(at + 1)..].Split('x');
        if (size.Length != 2 || !int.TryParse(size[0], NumberStyles.None, CultureInfo.InvariantCulture, out var width)
            || !int.TryParse(size[1], NumberStyles.None, CultureInfo.InvariantCulture, out var height) || width < 2 || height < 1 || width % 2 != 0)
        {
            throw new FormatException($"{spec}: '{body[(at + 1)..]}' is not a capture size WxH with an even width, e.g. 640x480");
        }
        return (device, width, height);
    }
}
