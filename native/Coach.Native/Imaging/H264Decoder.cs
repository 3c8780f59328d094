namespace Coach.Native.Imaging;

/// <summary>
/// The cloud's side of one H.264 stream (one edge connection's frames of one plan): FFmpeg's h264 decoder with one thread
/// and low delay, so each access unit gives its picture at once, in arrival order. Errors are not concealed: data that do
/// not decode to exactly one <see cref="Width"/>×<see cref="Height"/> picture are an <see cref="InvalidDataException"/>.
/// Used by one thread at a time.
/// </summary>
public sealed unsafe class H264Decoder : IDisposable
{
    private nint _context;
    private nint _frame;
    private nint _packet;
    private nint _scaler;

    public H264Decoder(int width, int height)
    {
        if (width <= 0 || height <= 0 || (width & 1) != 0 || (height & 1) != 0)
        {
            throw new ArgumentException($"an H.264 4:2:0 frame has an even, positive width and height; got {width}×{height}", nameof(width));
        }

        Width = width;
        Height = height;
        H264.Api api = H264.Native;
        try
        {
            nint codec = api.FindDecoder("h264");
            if (codec == 0)
            {
                throw new DllNotFoundException($"{H264.CodecLibrary} has no h264 decoder; install Debian's {H264.Packages}");
            }

            // explode: stop at the first error rather than conceal it (a damaged request is refused, not guessed at).
            _context = H264.Open(codec, "h264 decoder", ("threads", "1"), ("flags", "+low_delay"), ("err_detect", "+explode+bitstream+buffer"));
            _frame = api.FrameAlloc();
            _packet = api.PacketAlloc();
            if (_frame == 0 || _packet == 0)
            {
                throw new InvalidOperationException("libavcodec could not allocate a frame or a packet");
            }

            _scaler = H264.ScalerFor(width, height, toYuv: false);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int Width { get; }

    public int Height { get; }

    /// <summary>Pictures decoded so far.</summary>
    public long Frames { get; private set; }

    /// <summary>Decodes the stream's next access unit into interleaved RGB (H×W×3).</summary>
    public void Decode(ReadOnlySpan<byte> accessUnit, Span<byte> rgb)
    {
        ObjectDisposedException.ThrowIf(_context == 0, this);
        if (rgb.Length != Width * Height * 3)
        {
            throw new ArgumentException($"a {Width}×{Height} RGB frame is {Width * Height * 3} bytes; the buffer holds {rgb.Length}", nameof(rgb));
        }

        if (accessUnit.IsEmpty)
        {
            throw new InvalidDataException("0 bytes are not an H.264 access unit");
        }

        H264.Api api = H264.Native;
        int rc;
        fixed (byte* data = accessUnit)
        {
            // Not reference-counted: avcodec_send_packet copies the data (with its padding) before it returns.
            *(byte**)(_packet + H264.PacketData) = data;
            *(int*)(_packet + H264.PacketSize) = accessUnit.Length;
            rc = api.SendPacket(_context, _packet);
            *(byte**)(_packet + H264.PacketData) = null;
            *(int*)(_packet + H264.PacketSize) = 0;
        }

        if (rc < 0)
        {
            throw new InvalidDataException($"the {accessUnit.Length}-byte H.264 access unit does not decode: {H264.ErrorText(rc)}");
        }

        rc = api.ReceiveFrame(_context, _frame);
        if (rc < 0)
        {
            throw new InvalidDataException(rc == H264.ErrorAgain
                ? $"the {accessUnit.Length}-byte H.264 access unit gave no picture (a stream starts with an IDR frame; each request carries one whole frame)"
                : $"the {accessUnit.Length}-byte H.264 access unit does not decode: {H264.ErrorText(rc)}");
        }

        try
        {
            int width = *(int*)(_frame + H264.FrameWidth);
            int height = *(int*)(_frame + H264.FrameHeight);
            int format = *(int*)(_frame + H264.FrameFormat);
            if (width != Width || height != Height || format != H264.PixelFormatYuv420P)
            {
                throw new InvalidDataException($"the H.264 picture is {width}×{height} in pixel format {format}; the frame must be exactly {Width}×{Height} YUV 4:2:0");
            }

            fixed (byte* target = rgb)
            {
                H264.Convert(_scaler, _frame, target, Width, Height, toYuv: false);
            }

            Frames++;
        }
        finally
        {
            api.FrameUnref(_frame);
        }
    }

    public void Dispose() => H264.FreeCodecState(ref _context, ref _frame, ref _packet, ref _scaler);
}
