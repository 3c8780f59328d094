using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Coach.Native.Video;

/// <summary>A V4L2 camera's pixel formats this capture asks for, as their fourcc codes.</summary>
public enum V4l2PixelFormat : uint
{
    /// <summary>'YUYV': YUV 4:2:2, what nearly every USB camera offers uncompressed.</summary>
    Yuyv = 'Y' | ('U' << 8) | ('Y' << 16) | ((uint)'V' << 24),

    /// <summary>'RGB3': interleaved RGB24.</summary>
    Rgb24 = 'R' | ('G' << 8) | ('B' << 16) | ((uint)'3' << 24),

    /// <summary>'BGR3': interleaved BGR24.</summary>
    Bgr24 = 'B' | ('G' << 8) | ('R' << 16) | ((uint)'3' << 24),
}

/// <summary>Thrown when a camera cannot be opened or read; the message names the device and what to do.</summary>
public sealed class CameraException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>
/// Video capture from a V4L2 device (<c>/dev/videoN</c>) through memory-mapped streaming buffers: open, VIDIOC_QUERYCAP,
/// VIDIOC_S_FMT, VIDIOC_REQBUFS (mmap), VIDIOC_QBUF/DQBUF, VIDIOC_STREAMON (docs/data.md, "Camera").
/// </summary>
/// <remarks>
/// Written against libc rather than Iot.Device.Bindings' VideoDevice: that class returns a new array or MemoryStream for
/// every frame, names a device by bus number rather than path, and comes with the whole bindings package; here a
/// dequeued frame is read in place from the driver's buffer and handed back, with no allocation per frame. The structure
/// offsets are those of linux/videodev2.h on 64-bit Linux (x86-64 and arm64 agree); 32-bit processes are refused.
/// </remarks>
public sealed unsafe partial class V4l2Capture : IDisposable
{
    /// <summary>What to tell a user whose camera was not found or not usable.</summary>
    public const string ListHint = "list the cameras with `ls /dev/video*` or `v4l2-ctl --list-devices` (apt install v4l-utils)";

    // _IOC(dir, 'V', nr, size) = dir << 30 | size << 16 | 'V' << 8 | nr, sizes of the 64-bit structures.
    private const ulong QueryCap = 0x80685600;  // _IOR(104, v4l2_capability)
    private const ulong SetFormat = 0xC0D05605; // _IOWR(208, v4l2_format)
    private const ulong RequestBuffers = 0xC0145608; // _IOWR(20, v4l2_requestbuffers)
    private const ulong QueryBuffer = 0xC0585609; // _IOWR(88, v4l2_buffer)
    private const ulong QueueBuffer = 0xC058560F;
    private const ulong DequeueBuffer = 0xC0585611;
    private const ulong StreamOn = 0x40045612;  // _IOW(int)
    private const ulong StreamOff = 0x40045613;

    private const uint CapVideoCapture = 0x00000001;
    private const uint CapStreaming = 0x04000000;
    private const uint CapDeviceCaps = 0x80000000;
    private const int BufferTypeCapture = 1;
    private const int MemoryMmap = 1;
    private const int BufferSize = 88;
    private const int Einterrupted = 4;

    private readonly int _fd;
    private readonly (nint Address, nuint Length)[] _buffers;
    private readonly byte[] _buffer = new byte[BufferSize];
    private bool _streaming;
    private bool _closed;

    private V4l2Capture(string device, int fd, int width, int height, V4l2PixelFormat format, int bytesPerLine, (nint, nuint)[] buffers)
    {
        Device = device;
        _fd = fd;
        Width = width;
        Height = height;
        Format = format;
        BytesPerLine = bytesPerLine;
        _buffers = buffers;
    }

    public string Device { get; }

    /// <summary>The size and format the driver agreed to (it may differ from the request).</summary>
    public int Width { get; }

    public int Height { get; }

    public V4l2PixelFormat Format { get; }

    public int BytesPerLine { get; }

    /// <summary>Opens <paramref name="device"/>, asks for <paramref name="width"/>×<paramref name="height"/> in
    /// <paramref name="format"/>, maps <paramref name="bufferCount"/> buffers and starts streaming.</summary>
    public static V4l2Capture Open(string device, int width, int height, V4l2PixelFormat format, int bufferCount = 4)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (!OperatingSystem.IsLinux() || !Environment.Is64BitProcess)
        {
            throw new CameraException($"camera:{device}: V4L2 capture needs 64-bit Linux");
        }
        if (!File.Exists(device))
        {
            throw new CameraException($"camera:{device}: no such device; {ListHint}, and check that the user is in the 'video' group");
        }
        var fd = Open(device, 2 /* O_RDWR */);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new CameraException($"camera:{device}: cannot open it ({Marshal.GetPInvokeErrorMessage(errno)}); " +
                (errno == 13 ? "add the user to the 'video' group (sudo usermod -aG video $USER) and log in again" : ListHint));
        }
        V4l2Capture? capture = null;
        try
        {
            Span<byte> capability = stackalloc byte[104];
            if (Control(fd, QueryCap, capability) is int error and not 0)
            {
                throw new CameraException($"camera:{device}: not a V4L2 video device (VIDIOC_QUERYCAP: {Marshal.GetPInvokeErrorMessage(error)}); {ListHint}");
            }
            var card = System.Text.Encoding.ASCII.GetString(capability.Slice(16, 32)).TrimEnd('\0');
            CheckCapabilities(device, card, BinaryPrimitives.ReadUInt32LittleEndian(capability[84..]), BinaryPrimitives.ReadUInt32LittleEndian(capability[88..]));

            Span<byte> fmt = stackalloc byte[208];
            BinaryPrimitives.WriteUInt32LittleEndian(fmt, BufferTypeCapture);
            BinaryPrimitives.WriteUInt32LittleEndian(fmt[8..], (uint)width);
            BinaryPrimitives.WriteUInt32LittleEndian(fmt[12..], (uint)height);
            BinaryPrimitives.WriteUInt32LittleEndian(fmt[16..], (uint)format);
            BinaryPrimitives.WriteUInt32LittleEndian(fmt[20..], 1); // V4L2_FIELD_NONE: progressive frames
            if (Control(fd, SetFormat, fmt) is int formatError and not 0)
            {
                throw new CameraException($"camera:{device} ({card}): VIDIOC_S_FMT {width}×{height} {FourCc((uint)format)} refused ({Marshal.GetPInvokeErrorMessage(formatError)}); " +
                    $"list its formats with `v4l2-ctl -d {device} --list-formats-ext`");
            }
            int actualWidth = (int)BinaryPrimitives.ReadUInt32LittleEndian(fmt[8..]), actualHeight = (int)BinaryPrimitives.ReadUInt32LittleEndian(fmt[12..]);
            var actualFormat = BinaryPrimitives.ReadUInt32LittleEndian(fmt[16..]);
            if (actualFormat != (uint)format)
            {
                throw new CameraException($"camera:{device} ({card}): it offers {FourCc(actualFormat)}, not {FourCc((uint)format)}; " +
                    $"Coach reads YUYV, RGB3 or BGR3 (see `v4l2-ctl -d {device} --list-formats-ext`)");
            }
            var bytesPerLine = (int)BinaryPrimitives.ReadUInt32LittleEndian(fmt[24..]);

            Span<byte> request = stackalloc byte[20];
            BinaryPrimitives.WriteUInt32LittleEndian(request, (uint)bufferCount);
            BinaryPrimitives.WriteUInt32LittleEndian(request[4..], BufferTypeCapture);
            BinaryPrimitives.WriteUInt32LittleEndian(request[8..], MemoryMmap);
            if (Control(fd, RequestBuffers, request) is int requestError and not 0)
            {
                throw new CameraException($"camera:{device} ({card}): VIDIOC_REQBUFS refused memory-mapped buffers ({Marshal.GetPInvokeErrorMessage(requestError)}); is another program using the camera?");
            }
            var granted = (int)BinaryPrimitives.ReadUInt32LittleEndian(request);
            var buffers = new (nint, nuint)[granted];
            capture = new V4l2Capture(device, fd, actualWidth, actualHeight, (V4l2PixelFormat)actualFormat, bytesPerLine, buffers);
            for (var i = 0; i < granted; i++)
            {
                var buffer = capture.BufferStruct(i);
                capture.Check(Control(fd, QueryBuffer, buffer), "VIDIOC_QUERYBUF");
                var length = BinaryPrimitives.ReadUInt32LittleEndian(buffer[72..]);
                var offset = BinaryPrimitives.ReadUInt32LittleEndian(buffer[64..]);
                var address = Map(0, length, 1 /* PROT_READ */, 1 /* MAP_SHARED */, fd, offset);
                if (address == -1)
                {
                    throw new CameraException($"camera:{device}: mmap of buffer {i} failed ({Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())})");
                }
                buffers[i] = (address, length);
                capture.Check(Control(fd, QueueBuffer, capture.BufferStruct(i)), "VIDIOC_QBUF");
            }
            Span<byte> type = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(type, BufferTypeCapture);
            capture.Check(Control(fd, StreamOn, type), "VIDIOC_STREAMON");
            capture._streaming = true;
            return capture;
        }
        catch
        {
            // Once a capture exists it owns the descriptor and the mappings.
            if (capture is null)
            {
                Close(fd);
            }
            else
            {
                capture.Dispose();
            }
            throw;
        }
    }

    /// <summary>Refuses a device that cannot capture video by streaming (an output device, a metadata node, a codec).</summary>
    public static void CheckCapabilities(string device, string card, uint capabilities, uint deviceCapabilities)
    {
        var caps = (capabilities & CapDeviceCaps) != 0 ? deviceCapabilities : capabilities;
        if ((caps & CapVideoCapture) == 0)
        {
            throw new CameraException($"camera:{device} ({card}) is not a video capture device (capabilities 0x{caps:x8}; a camera often has a second " +
                $"/dev/video node for metadata); {ListHint}");
        }
        if ((caps & CapStreaming) == 0)
        {
            throw new CameraException($"camera:{device} ({card}) captures but cannot stream through memory-mapped buffers, which Coach reads; {ListHint}");
        }
    }

    /// <summary>Waits for the next frame and returns its bytes, valid until <see cref="Requeue"/> gives the buffer
    /// (<paramref name="token"/>) back to the driver; rows are <see cref="BytesPerLine"/> apart.</summary>
    public ReadOnlySpan<byte> Dequeue(out int token)
    {
        ObjectDisposedException.ThrowIf(!_streaming, this);
        var buffer = BufferStruct(0);
        Check(Control(_fd, DequeueBuffer, buffer), "VIDIOC_DQBUF");
        token = (int)BinaryPrimitives.ReadUInt32LittleEndian(buffer);
        var used = (int)BinaryPrimitives.ReadUInt32LittleEndian(buffer[8..]);
        var (address, length) = _buffers[token];
        return new ReadOnlySpan<byte>((void*)address, Math.Min(used, (int)length));
    }

    /// <summary>Hands buffer <paramref name="token"/> back to the driver for a later frame.</summary>
    public void Requeue(int token) => Check(Control(_fd, QueueBuffer, BufferStruct(token)), "VIDIOC_QBUF");

    public void Dispose()
    {
        if (_streaming)
        {
            Span<byte> type = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(type, BufferTypeCapture);
            Control(_fd, StreamOff, type);
            _streaming = false;
        }
        foreach (var (address, length) in _buffers)
        {
            if (address != 0)
            {
                Unmap(address, length);
            }
        }
        Array.Clear(_buffers);
        if (!_closed)
        {
            Close(_fd);
            _closed = true;
        }
    }

    /// <summary>"YUYV" from its fourcc code.</summary>
    public static string FourCc(uint code) =>
        string.Concat(Enumerable.Range(0, 4).Select(i => (char)((code >> (8 * i)) & 0xFF)));

    private Span<byte> BufferStruct(int index)
    {
        var buffer = _buffer.AsSpan();
        buffer.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, (uint)index);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer[4..], BufferTypeCapture);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer[60..], MemoryMmap);
        return buffer;
    }

    private void Check(int error, string call)
    {
        if (error != 0)
        {
            throw new CameraException($"camera:{Device}: {call} failed ({Marshal.GetPInvokeErrorMessage(error)}); is the camera still connected? {ListHint}");
        }
    }

    /// <summary>ioctl, retried on EINTR; 0 or the errno.</summary>
    private static int Control(int fd, ulong request, Span<byte> argument)
    {
        fixed (byte* pointer = argument)
        {
            while (true)
            {
                if (IoControl(fd, request, pointer) == 0)
                {
                    return 0;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno != Einterrupted)
                {
                    return errno;
                }
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoControl(int fd, ulong request, byte* argument);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Map(nint address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int Unmap(nint address, nuint length);
}
