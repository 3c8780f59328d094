using System.Runtime.InteropServices;

namespace Coach.Native.Imaging;

/// <summary>
/// Baseline JPEG of interleaved 8-bit RGB frames through libjpeg-turbo's TurboJPEG API (Debian/Ubuntu package
/// <c>libturbojpeg0</c>): the frame codec of a cloud-only plan that sends JPEG frames (docs/protocol.md compression code 3,
/// docs/baselines.md). One instance holds one compressor and one decompressor handle and is used by one thread at a time.
/// </summary>
/// <remarks>
/// TurboJPEG rather than SkiaSharp (which the dataset tools use): it compresses into a caller's buffer of
/// <see cref="MaxEncodedLength"/> bytes (TJFLAG_NOREALLOC) and decompresses into a caller's pixels, so the edge's and the
/// cloud's steady state allocate nothing, where Skia wraps every frame in an SKBitmap and an SKData. With optimized Huffman
/// tables (below) the two write JPEGs of the same sizes (both are libjpeg-turbo underneath): `coach data codec --model
/// resnet-fm112` on 500 bundled calibration frames on the 2-core x64 CI machine measured 1,434 B a frame at quality 60 with
/// either, encoded in 0.120 ms (rounding to RGB included) here against 0.138 ms through Skia, and 0 B allocated a frame
/// (JpegFrameTests). Chroma is subsampled 4:2:0, as Skia's and most cameras' encoders do; the DCT is libjpeg's accurate one.
/// </remarks>
public sealed unsafe partial class TurboJpeg : IDisposable
{
    /// <summary>The library's file name, as the package installs it.</summary>
    public const string LibraryName = "libturbojpeg.so.0";

    private const int PixelFormatRgb = 0; // TJPF_RGB
    private const int Subsampling420 = 2; // TJSAMP_420
    private const int ColorspaceRgb = 0; // TJCS_RGB
    private const int ColorspaceYCbCr = 1; // TJCS_YCbCr
    private const int FlagAccurateDct = 4096; // TJFLAG_ACCURATEDCT
    private const int FlagNoRealloc = 1024; // TJFLAG_NOREALLOC
    private const int FlagStopOnWarning = 8192; // TJFLAG_STOPONWARNING: a truncated stream is an error, not a grey tail

    private static readonly Lazy<Api> Functions = new(Api.Load);

    private nint _compressor;
    private nint _decompressor;

    /// <summary>Loads the library (once per process) and opens the two handles; throws <see cref="DllNotFoundException"/>
    /// naming the package when the library is not installed.</summary>
    public TurboJpeg()
    {
        Api api = Functions.Value;
        _compressor = api.InitCompress();
        _decompressor = api.InitDecompress();
        if (_compressor == 0 || _decompressor == 0)
        {
            Dispose();
            throw new InvalidOperationException("libturbojpeg could not allocate a compressor or decompressor handle");
        }
    }

    /// <summary>Whether the library can be loaded here (tests and tools that want to say so before starting).</summary>
    public static bool IsAvailable
    {
        get
        {
            try
            {
                _ = Functions.Value;
                return true;
            }
            catch (DllNotFoundException)
            {
                return false;
            }
        }
    }

    /// <summary>Worst-case size of a <paramref name="width"/>×<paramref name="height"/> JPEG at 4:2:0 (tjBufSize).</summary>
    public static int MaxEncodedLength(int width, int height)
    {
        ulong size = Functions.Value.BufSize(width, height, Subsampling420);
        return size is 0 or > int.MaxValue
            ? throw new ArgumentOutOfRangeException(nameof(width), $"a {width}×{height} frame has no JPEG buffer size")
            : (int)size;
    }

    /// <summary>A planar float frame of values k/255 (C×H×W, C = 3) as interleaved 8-bit RGB: q = round(255·x), clamped —
    /// exactly the codes of the 8-bit frame's UAQ (scale 1/255, zero point 0) that the plain cloud-only plan sends.</summary>
    public static void ToInterleaved(ReadOnlySpan<float> planar, Span<byte> rgb)
    {
        int pixels = planar.Length / 3;
        if (planar.Length != 3 * pixels || rgb.Length < planar.Length)
        {
            throw new ArgumentException($"a planar RGB frame of {planar.Length} values needs {planar.Length} bytes of RGB; got {rgb.Length}", nameof(rgb));
        }

        for (int c = 0; c < 3; c++)
        {
            ReadOnlySpan<float> plane = planar.Slice(c * pixels, pixels);
            for (int i = 0; i < pixels; i++)
            {
                rgb[(3 * i) + c] = (byte)Math.Clamp(MathF.Round(plane[i] * 255f), 0f, 255f);
            }
        }
    }

    /// <summary>Interleaved 8-bit RGB as the planar float frame value/255 the model takes (the inverse of <see cref="ToInterleaved"/>).</summary>
    public static void ToPlanar(ReadOnlySpan<byte> rgb, Span<float> planar)
    {
        int pixels = rgb.Length / 3;
        if (rgb.Length != 3 * pixels || planar.Length < rgb.Length)
        {
            throw new ArgumentException($"{rgb.Length} bytes of RGB need {rgb.Length} planar values; got {planar.Length}", nameof(planar));
        }

        const float inverse = 1f / 255f;
        for (int i = 0; i < pixels; i++)
        {
            planar[i] = rgb[3 * i] * inverse;
            planar[pixels + i] = rgb[(3 * i) + 1] * inverse;
            planar[(2 * pixels) + i] = rgb[(3 * i) + 2] * inverse;
        }
    }

    /// <summary>Encodes interleaved RGB (H×W×3) at <paramref name="quality"/> (1 … 100) into <paramref name="destination"/>,
    /// which must hold <see cref="MaxEncodedLength"/> bytes; returns the JPEG's length. Allocates nothing.</summary>
    public int Encode(ReadOnlySpan<byte> rgb, int width, int height, int quality, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_compressor == 0, this);
        if (width <= 0 || height <= 0 || rgb.Length != checked(width * height * 3))
        {
            throw new ArgumentException($"a {width}×{height} RGB frame is {(long)width * height * 3} bytes, got {rgb.Length}", nameof(rgb));
        }

        if (quality is < 1 or > 100)
        {
            throw new ArgumentOutOfRangeException(nameof(quality), quality, "JPEG quality is 1 … 100");
        }

        int bound = MaxEncodedLength(width, height);
        if (destination.Length < bound)
        {
            throw new ArgumentException($"a {width}×{height} JPEG may take {bound} bytes; the buffer holds {destination.Length}", nameof(destination));
        }

        fixed (byte* source = rgb)
        fixed (byte* target = destination)
        {
            byte* buffer = target;
            nuint size = (nuint)bound;
            int rc = Functions.Value.Compress2(_compressor, source, width, width * 3, height, PixelFormatRgb, &buffer, &size,
                Subsampling420, quality, FlagNoRealloc | FlagAccurateDct);
            if (rc != 0 || buffer != target)
            {
                throw new InvalidOperationException($"libturbojpeg could not encode a {width}×{height} frame: {Error(_compressor)}");
            }

            return checked((int)size);
        }
    }

    /// <summary>Decodes one JPEG into interleaved RGB (H×W×3). Throws <see cref="InvalidDataException"/> when the data are not
    /// a complete baseline/progressive JPEG of exactly <paramref name="width"/>×<paramref name="height"/> with three colour
    /// components (damaged, truncated, another size, greyscale or CMYK). Never writes outside <paramref name="rgb"/>.</summary>
    public void Decode(ReadOnlySpan<byte> jpeg, int width, int height, Span<byte> rgb)
    {
        ObjectDisposedException.ThrowIf(_decompressor == 0, this);
        if (width <= 0 || height <= 0 || rgb.Length != checked(width * height * 3))
        {
            throw new ArgumentException($"a {width}×{height} RGB frame is {(long)width * height * 3} bytes; the buffer holds {rgb.Length}", nameof(rgb));
        }

        if (jpeg.IsEmpty)
        {
            throw new InvalidDataException("0 bytes are not a JPEG");
        }

        Api api = Functions.Value;
        fixed (byte* source = jpeg)
        fixed (byte* target = rgb)
        {
            int w, h, subsampling, colorspace;
            if (api.DecompressHeader3(_decompressor, source, (nuint)jpeg.Length, &w, &h, &subsampling, &colorspace) != 0)
            {
                throw new InvalidDataException($"{jpeg.Length} bytes are not a JPEG: {Error(_decompressor)}");
            }

            if (w != width || h != height)
            {
                throw new InvalidDataException($"the JPEG is {w}×{h}; the frame must be exactly {width}×{height}");
            }

            if (colorspace is not (ColorspaceRgb or ColorspaceYCbCr))
            {
                throw new InvalidDataException($"the JPEG has colour space {colorspace}; a frame must be RGB or YCbCr (three components)");
            }

            if (api.Decompress2(_decompressor, source, (nuint)jpeg.Length, target, width, width * 3, height, PixelFormatRgb,
                    FlagAccurateDct | FlagStopOnWarning) != 0)
            {
                throw new InvalidDataException($"the {width}×{height} JPEG of {jpeg.Length} bytes does not decode: {Error(_decompressor)}");
            }
        }
    }

    public void Dispose()
    {
        if (_compressor != 0)
        {
            _ = Functions.Value.Destroy(_compressor);
            _compressor = 0;
        }

        if (_decompressor != 0)
        {
            _ = Functions.Value.Destroy(_decompressor);
            _decompressor = 0;
        }
    }

    private static string Error(nint handle) => Marshal.PtrToStringUTF8((nint)Functions.Value.GetErrorStr2(handle)) ?? "unknown error";

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnvironment(string name, string value, int overwrite);

    /// <summary>The TurboJPEG entry points, resolved once. Function pointers rather than [LibraryImport] so that a missing
    /// library is one clear error here and NativeAOT binaries still start on machines without it.</summary>
    private sealed class Api
    {
        public delegate* unmanaged<nint> InitCompress;
        public delegate* unmanaged<nint> InitDecompress;
        public delegate* unmanaged<nint, int> Destroy;
        public delegate* unmanaged<int, int, int, nuint> BufSize;
        public delegate* unmanaged<nint, byte*, int, int, int, int, byte**, nuint*, int, int, int, int> Compress2;
        public delegate* unmanaged<nint, byte*, nuint, int*, int*, int*, int*, int> DecompressHeader3;
        public delegate* unmanaged<nint, byte*, nuint, byte*, int, int, int, int, int, int> Decompress2;
        public delegate* unmanaged<nint, byte*> GetErrorStr2;

        public static Api Load()
        {
            // Huffman tables optimized per frame (libjpeg's optimize_coding), as Skia's encoder does: on the bundled 112×112
            // frames the standard tables cost about 430 B a frame more (at quality 60: 1,845 B instead of 1,434), a third of a
            // small frame; a fair baseline sends the smaller JPEG. TurboJPEG 2.x exposes the switch only as the TJ_OPTIMIZE
            // environment variable, read by tjCompress2 from the C environment (which .NET's SetEnvironmentVariable does not
            // change), hence setenv; a value the user set is kept.
            _ = SetEnvironment("TJ_OPTIMIZE", "1", 0);
            if (!NativeLibrary.TryLoad(LibraryName, out nint library) && !NativeLibrary.TryLoad("libturbojpeg.so", out library))
            {
                throw new DllNotFoundException(
                    $"{LibraryName} (libjpeg-turbo's TurboJPEG API) is not installed; JPEG frames (the cloud-jpeg method) need it: " +
                    "sudo apt-get install -y libturbojpeg0 (Debian/Ubuntu; ./coach setup installs it)");
            }

            return new Api
            {
                InitCompress = (delegate* unmanaged<nint>)NativeLibrary.GetExport(library, "tjInitCompress"),
                InitDecompress = (delegate* unmanaged<nint>)NativeLibrary.GetExport(library, "tjInitDecompress"),
                Destroy = (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(library, "tjDestroy"),
                BufSize = (delegate* unmanaged<int, int, int, nuint>)NativeLibrary.GetExport(library, "tjBufSize"),
                Compress2 = (delegate* unmanaged<nint, byte*, int, int, int, int, byte**, nuint*, int, int, int, int>)NativeLibrary.GetExport(library, "tjCompress2"),
                DecompressHeader3 = (delegate* unmanaged<nint, byte*, nuint, int*, int*, int*, int*, int>)NativeLibrary.GetExport(library, "tjDecompressHeader3"),
                Decompress2 = (delegate* unmanaged<nint, byte*, nuint, byte*, int, int, int, int, int, int>)NativeLibrary.GetExport(library, "tjDecompress2"),
                GetErrorStr2 = (delegate* unmanaged<nint, byte*>)NativeLibrary.GetExport(library, "tjGetErrorStr2"),
            };
        }
    }
}
