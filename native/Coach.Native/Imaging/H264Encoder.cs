using System.Globalization;

namespace Coach.Native.Imaging;

/// <summary>
/// One H.264 stream of 8-bit RGB frames of one size, encoded by libx264 in its low-latency settings: preset ultrafast, tune
/// zerolatency (no lookahead, no frame threads), no B-frames, one thread, constant rate factor <see cref="Crf"/>, an IDR
/// every <see cref="KeyInterval"/> frames with SPS/PPS in band. One frame in gives exactly one access unit (Annex B) out,
/// so the cloud decodes each request as it arrives (docs/protocol.md §4.4, compression code 4). Used by one thread at a time.
/// </summary>
public sealed unsafe class H264Encoder : IDisposable
{
    private readonly int _width;
    private readonly int _height;
    private nint _context;
    private nint _frame;
    private nint _packet;
    private nint _scaler;
    private long _pts;

    /// <param name="crf">x264's constant rate factor, 0 … 51 (lower is better quality, more bytes).</param>
    /// <param name="keyInterval">Frames from one IDR to the next (x264's keyint; its default is 250).</param>
    public H264Encoder(int width, int height, int crf, int keyInterval = DefaultKeyInterval)
    {
        if (width <= 0 || height <= 0 || (width & 1) != 0 || (height & 1) != 0)
        {
            throw new ArgumentException($"an H.264 4:2:0 frame has an even, positive width and height; got {width}×{height}", nameof(width));
        }

        if (crf is < 0 or > 51)
        {
            throw new ArgumentOutOfRangeException(nameof(crf), crf, "x264's constant rate factor is 0 … 51");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(keyInterval, 1);
        _width = width;
        _height = height;
        Crf = crf;
        KeyInterval = keyInterval;
        try
        {
            Restart();
            _frame = H264.AllocYuvFrame(width, height);
            _packet = H264.Native.PacketAlloc();
            _scaler = H264.ScalerFor(width, height, toYuv: true);
            if (_packet == 0)
            {
                throw new InvalidOperationException("libavcodec could not allocate a packet");
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>x264's default distance between IDR frames.</summary>
    public const int DefaultKeyInterval = 250;

    public int Crf { get; }

    public int KeyInterval { get; }

    /// <summary>Whether the last access unit was an IDR frame (a decoder can start there).</summary>
    public bool LastWasKey { get; private set; }

    /// <summary>Frames encoded since the stream (re)started.</summary>
    public long FramesInStream => _pts;

    /// <summary>A room no access unit of a <paramref name="width"/>×<paramref name="height"/> frame exceeds: H.264's PCM
    /// macroblocks bound a picture at 384 bytes a 16×16 block, plus slice and SPS/PPS headers.</summary>
    public static int MaxEncodedLength(int width, int height) =>
        checked((((width + 15) / 16) * ((height + 15) / 16) * 400) + 4096);

    /// <summary>Starts a new stream: the next frame is an IDR with its SPS/PPS (a new connection's decoder starts there).
    /// Reopens the codec (allocates; not on the per-frame path).</summary>
    public void Restart()
    {
        H264.Api api = H264.Native;
        if (_context != 0)
        {
            nint old = _context;
            _context = 0;
            api.FreeContext(&old);
        }

        nint codec = api.FindEncoder("libx264");
        if (codec == 0)
        {
            throw new DllNotFoundException($"{H264.CodecLibrary} has no libx264 encoder; install Debian's {H264.Packages} (built with libx264)");
        }

        _context = H264.Open(codec, "libx264 encoder",
            ("video_size", $"{_width}x{_height}"),
            ("pixel_format", "yuv420p"),
            ("time_base", "1/30"),
            ("threads", "1"),
            ("bf", "0"),
            ("g", KeyInterval.ToString(CultureInfo.InvariantCulture)),
            ("preset", "ultrafast"),
            ("tune", "zerolatency"),
            ("crf", Crf.ToString(CultureInfo.InvariantCulture)));
        _pts = 0;
    }

    /// <summary>Encodes interleaved RGB (H×W×3) as the stream's next frame into <paramref name="destination"/> (at least
    /// <see cref="MaxEncodedLength"/> bytes); returns the access unit's length. Allocates nothing on the managed heap.</summary>
    public int Encode(ReadOnlySpan<byte> rgb, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_context == 0, this);
        if (rgb.Length != _width * _height * 3)
        {
            throw new ArgumentException($"a {_width}×{_height} RGB frame is {_width * _height * 3} bytes, got {rgb.Length}", nameof(rgb));
        }

        H264.Api api = H264.Native;
        int rc = api.FrameMakeWritable(_frame);
        if (rc < 0)
        {
            throw new InvalidOperationException($"libavutil could not make the frame writable: {H264.ErrorText(rc)}");
        }

        fixed (byte* source = rgb)
        {
            H264.Convert(_scaler, _frame, source, _width, _height, toYuv: true);
        }

        *(long*)(_frame + H264.FramePts) = _pts++;
        rc = api.SendFrame(_context, _frame);
        if (rc < 0)
        {
            throw new InvalidOperationException($"libx264 refused a frame: {H264.ErrorText(rc)}");
        }

        rc = api.ReceivePacket(_context, _packet);
        if (rc < 0)
        {
            throw new InvalidOperationException(rc == H264.ErrorAgain
                ? "libx264 held the frame back (a delayed encoder: the settings must be zerolatency without B-frames)"
                : $"libx264 failed on a frame: {H264.ErrorText(rc)}");
        }

        try
        {
            int size = *(int*)(_packet + H264.PacketSize);
            if (size > destination.Length)
            {
                throw new ArgumentException($"the access unit is {size} bytes; the buffer holds {destination.Length}", nameof(destination));
            }

            new ReadOnlySpan<byte>(*(byte**)(_packet + H264.PacketData), size).CopyTo(destination);
            LastWasKey = (*(int*)(_packet + H264.PacketFlags) & 1) != 0;
            return size;
        }
        finally
        {
            api.PacketUnref(_packet);
        }
    }

    public void Dispose() => H264.FreeCodecState(ref _context, ref _frame, ref _packet, ref _scaler);
}
