using K4os.Compression.LZ4;

namespace Coach.Native.Compression;

/// <summary>
/// LZ4 block compression (the raw block format, as docs/protocol.md's compression code 1 names it), over
/// K4os.Compression.LZ4: managed, so the same code runs on x64 and on a Jetson without a system liblz4.
/// Used on packed cut tensors only when it shrinks them. Span in, span out, no managed allocation.
/// </summary>
public static class Lz4
{
    /// <summary>LZ4_MAX_INPUT_SIZE of the LZ4 block format.</summary>
    public const int MaxInputLength = 0x7E000000;

    /// <summary>The codec's assembly version, e.g. "1.3.8".</summary>
    public static string Version { get; } =
        typeof(LZ4Codec).Assembly.GetName().Version is { } v ? $"{v.Major}.{v.Minor}.{v.Build}" : "unknown";

    /// <summary>Worst-case compressed size of <paramref name="sourceLength"/> bytes.</summary>
    public static int MaxCompressedLength(int sourceLength)
    {
        if (sourceLength is < 0 or > MaxInputLength)
        {
            throw new ArgumentOutOfRangeException(nameof(sourceLength), sourceLength, $"LZ4 blocks hold 0..{MaxInputLength} bytes");
        }
        return LZ4Codec.MaximumOutputSize(sourceLength);
    }

    /// <summary>Compresses <paramref name="source"/> into <paramref name="destination"/>; false when
    /// it does not fit (size <paramref name="destination"/> with <see cref="MaxCompressedLength"/> to be sure).</summary>
    public static bool TryCompress(ReadOnlySpan<byte> source, Span<byte> destination, out int bytesWritten)
    {
        if (source.Length > MaxInputLength)
        {
            throw new ArgumentException($"LZ4 blocks hold at most {MaxInputLength} bytes; got {source.Length}", nameof(source));
        }
        if (source.IsEmpty)
        {
            // The block format encodes an empty input as one token byte; the codec refuses empty spans.
            bytesWritten = destination.IsEmpty ? 0 : 1;
            if (bytesWritten == 1)
            {
                destination[0] = 0;
            }
            return bytesWritten == 1;
        }
        var written = LZ4Codec.Encode(source, destination, LZ4Level.L00_FAST);
        bytesWritten = Math.Max(written, 0);
        return written > 0;
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
    /// Never reads or writes outside the two spans (the codec's bounds-checked decoder).</summary>
    public static bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> destination, out int bytesWritten)
    {
        if (source.IsEmpty)
        {
            bytesWritten = 0;
            return false;
        }
        // A block of nothing is the single token 0x00 (what TryCompress writes); the codec refuses it.
        var result = source is [0] ? 0 : LZ4Codec.Decode(source, destination);
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
}
