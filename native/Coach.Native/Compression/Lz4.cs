using System.Runtime.InteropServices;

namespace Coach.Native.Compression;

/// <summary>
/// LZ4 block compression through the system <c>liblz4.so.1</c> (Debian <c>liblz4-1</c>, present on
/// Jetson L4T). Used on packed cut tensors only when it shrinks them (ARCHITECTURE §4).
/// Span in, span out, no managed allocation.
/// </summary>
public static unsafe class Lz4
{
    /// <summary>Environment variable naming the liblz4 file to load instead of searching.</summary>
    public const string LibraryPathVariable = "COACH_LZ4_LIBRARY";

    /// <summary>LZ4_MAX_INPUT_SIZE of lz4.h.</summary>
    public const int MaxInputLength = 0x7E000000;

    private static readonly Lazy<Binding> Library = new(LoadBinding, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>True when liblz4 could be loaded (never throws).</summary>
    public static bool IsAvailable => TryGetBinding(out _);

    /// <summary>Path (or soname) of the loaded liblz4.</summary>
    public static string LoadedPath => Bound.Path;

    /// <summary>liblz4's version, e.g. "1.9.4".</summary>
    public static string Version
    {
        get
        {
            var number = Bound.VersionNumber();
            return $"{number / 10000}.{number / 100 % 100}.{number % 100}";
        }
    }

    private static Binding Bound => Library.Value;

    /// <summary>Worst-case compressed size of <paramref name="sourceLength"/> bytes (LZ4_compressBound).</summary>
    public static int MaxCompressedLength(int sourceLength)
    {
        if (sourceLength is < 0 or > MaxInputLength)
        {
            throw new ArgumentOutOfRangeException(nameof(sourceLength), sourceLength, $"LZ4 blocks hold 0..{MaxInputLength} bytes");
        }
        return Bound.CompressBound(sourceLength);
    }

    /// <summary>Compresses <paramref name="source"/> into <paramref name="destination"/>; false when
    /// it does not fit (size <paramref name="destination"/> with <see cref="MaxCompressedLength"/> to be sure).</summary>
    public static bool TryCompress(ReadOnlySpan<byte> source, Span<byte> destination, out int bytesWritten)
    {
        if (source.Length > MaxInputLength)
        {
            throw new ArgumentException($"LZ4 blocks hold at most {MaxInputLength} bytes; got {source.Length}", nameof(source));
        }
        var binding = Bound;
        fixed (byte* src = &NonNullReference(source))
        fixed (byte* dst = &NonNullReference(destination))
        {
            bytesWritten = binding.CompressDefault(src, dst, source.Length, destination.Length);
        }
        return bytesWritten > 0;
    }

    /// <summary>Compresses <paramref name="source"/>; returns the compressed length.</summary>
    public static int Compress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (!TryCompress(source, destination, out var written))
        {
            throw new ArgumentException(
                $"LZ4: {source.Length} bytes may need up to {MaxCompressedLength(source.Length)} bytes compressed; the destination has {destination.Length}",
                nameof(destination));
        }
        return written;
    }

    /// <summary>Decompresses one LZ4 block; false when it is malformed or does not fit <paramref name="destination"/>.
    /// Never reads or writes outside the two spans (LZ4_decompress_safe).</summary>
    public static bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> destination, out int bytesWritten)
    {
        var binding = Bound;
        int result;
        fixed (byte* src = &NonNullReference(source))
        fixed (byte* dst = &NonNullReference(destination))
        {
            result = binding.DecompressSafe(src, dst, source.Length, destination.Length);
        }
        bytesWritten = Math.Max(result, 0);
        return result >= 0;
    }

    /// <summary>Decompresses one LZ4 block; returns the decompressed length.</summary>
    public static int Decompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (!TryDecompress(source, destination, out var written))
        {
            throw new InvalidDataException(
                $"LZ4: the {source.Length}-byte block is malformed or decompresses to more than the {destination.Length}-byte destination");
        }
        return written;
    }

    /// <summary>The search order for liblz4.</summary>
    public static IReadOnlyList<string> SearchLocations()
    {
        var overridePath = Environment.GetEnvironmentVariable(LibraryPathVariable);
        if (!string.IsNullOrWhiteSpace(overridePath))
        {
            return [Path.GetFullPath(overridePath)];
        }
        var multiarch = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
        return
        [
            "liblz4.so.1",
            $"/usr/lib/{multiarch}/liblz4.so.1",
            $"/lib/{multiarch}/liblz4.so.1",
            "/usr/lib/liblz4.so.1",
            "/usr/local/lib/liblz4.so.1",
            "liblz4.so",
        ];
    }

    // A pointer for an empty span must still be valid for liblz4 (it checks for null).
    private static ref byte NonNullReference(ReadOnlySpan<byte> span) =>
        ref span.IsEmpty ? ref MemoryMarshal.GetReference<byte>(EmptyBlock) : ref MemoryMarshal.GetReference(span);

    private static ref byte NonNullReference(Span<byte> span) =>
        ref span.IsEmpty ? ref MemoryMarshal.GetReference<byte>(EmptyBlock) : ref MemoryMarshal.GetReference(span);

    private static ReadOnlySpan<byte> EmptyBlock => [0];

    private static bool TryGetBinding(out Binding? binding)
    {
        try
        {
            binding = Library.Value;
            return true;
        }
        catch (DllNotFoundException)
        {
            binding = null;
            return false;
        }
    }

    private static Binding LoadBinding()
    {
        var tried = new List<string>();
        foreach (var candidate in SearchLocations())
        {
            var isFile = Path.IsPathRooted(candidate);
            if (isFile && !File.Exists(candidate))
            {
                tried.Add($"  {candidate}: no such file");
                continue;
            }
            if (!NativeLibrary.TryLoad(candidate, out var handle))
            {
                tried.Add($"  {candidate}: {(isFile ? "the dynamic loader refused it" : "not found by the dynamic loader")}");
                continue;
            }
            if (NativeLibrary.TryGetExport(handle, "LZ4_compress_default", out var compress)
                && NativeLibrary.TryGetExport(handle, "LZ4_decompress_safe", out var decompress)
                && NativeLibrary.TryGetExport(handle, "LZ4_compressBound", out var bound)
                && NativeLibrary.TryGetExport(handle, "LZ4_versionNumber", out var version))
            {
                return new Binding(candidate,
                    (delegate* unmanaged[Cdecl]<byte*, byte*, int, int, int>)compress,
                    (delegate* unmanaged[Cdecl]<byte*, byte*, int, int, int>)decompress,
                    (delegate* unmanaged[Cdecl]<int, int>)bound,
                    (delegate* unmanaged[Cdecl]<int>)version);
            }
            tried.Add($"  {candidate}: not liblz4 (missing LZ4_compress_default/LZ4_decompress_safe/LZ4_compressBound)");
        }
        throw new DllNotFoundException(
            "liblz4 (liblz4.so.1) could not be loaded. Tried, in order:" + Environment.NewLine +
            string.Join(Environment.NewLine, tried) + Environment.NewLine +
            $"Fix: apt-get install liblz4-1 (Debian/Ubuntu/L4T), or set {LibraryPathVariable}=/path/to/liblz4.so.1.");
    }

    private sealed class Binding(
        string path,
        delegate* unmanaged[Cdecl]<byte*, byte*, int, int, int> compressDefault,
        delegate* unmanaged[Cdecl]<byte*, byte*, int, int, int> decompressSafe,
        delegate* unmanaged[Cdecl]<int, int> compressBound,
        delegate* unmanaged[Cdecl]<int> versionNumber)
    {
        public string Path { get; } = path;

        public int CompressDefault(byte* source, byte* destination, int sourceLength, int capacity) =>
            compressDefault(source, destination, sourceLength, capacity);

        public int DecompressSafe(byte* source, byte* destination, int sourceLength, int capacity) =>
            decompressSafe(source, destination, sourceLength, capacity);

        public int CompressBound(int length) => compressBound(length);

        public int VersionNumber() => versionNumber();
    }
}
