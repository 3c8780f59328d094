using System.IO.Compression;
using K4os.Compression.LZ4;

namespace Coach.Experiments;

/// <summary>A lossless byte coder the cut tensors' UAQ codes could go through before the wire.</summary>
public interface ILosslessCodec
{
    string Name { get; }

    /// <summary>Largest encoding of <paramref name="length"/> bytes.</summary>
    int MaxEncodedLength(int length);

    /// <summary>Encodes <paramref name="source"/>; the bytes written.</summary>
    int Encode(ReadOnlySpan<byte> source, Span<byte> destination);

    /// <summary>Decodes into exactly <paramref name="destination"/>'s length; throws <see cref="InvalidDataException"/> on corrupt input.</summary>
    void Decode(ReadOnlySpan<byte> source, Span<byte> destination);
}

/// <summary>The candidates: LZ4 (K4os, fast and HC), zstd (ZstdSharp, levels 1 and 3) and Brotli (the runtime's, quality 1).</summary>
public static class LosslessCodecs
{
    public static IReadOnlyList<ILosslessCodec> All { get; } =
    [
        new Lz4Codec("lz4", LZ4Level.L00_FAST),
        new Lz4Codec("lz4-hc9", LZ4Level.L09_HC),
        new ZstdCodec(1),
        new ZstdCodec(3),
        new BrotliCodec(1),
    ];

    private sealed class Lz4Codec(string name, LZ4Level level) : ILosslessCodec
    {
        public string Name => name;

        public int MaxEncodedLength(int length) => LZ4Codec.MaximumOutputSize(length);

        public int Encode(ReadOnlySpan<byte> source, Span<byte> destination)
        {
            int written = LZ4Codec.Encode(source, destination, level);
            return written >= 0 ? written : throw new InvalidOperationException($"{name}: the destination of {destination.Length} B is too small");
        }

        public void Decode(ReadOnlySpan<byte> source, Span<byte> destination)
        {
            if (LZ4Codec.Decode(source, destination) != destination.Length)
            {
                throw new InvalidDataException($"{name}: {source.Length} coded bytes do not decode to {destination.Length} bytes");
            }
        }
    }

    private sealed class ZstdCodec(int level) : ILosslessCodec
    {
        private readonly ZstdSharp.Compressor _compressor = new(level);
        private readonly ZstdSharp.Decompressor _decompressor = new();

        public string Name => $"zstd-{level}";

        public int MaxEncodedLength(int length) => ZstdSharp.Compressor.GetCompressBound(length);

        public int Encode(ReadOnlySpan<byte> source, Span<byte> destination) => _compressor.Wrap(source, destination);

        public void Decode(ReadOnlySpan<byte> source, Span<byte> destination)
        {
            int written;
            try
            {
                written = _decompressor.Unwrap(source, destination);
            }
            catch (ZstdSharp.ZstdException e)
            {
                throw new InvalidDataException($"{Name}: {e.Message}", e);
            }
            if (written != destination.Length)
            {
                throw new InvalidDataException($"{Name}: {source.Length} coded bytes decode to {written} bytes, not {destination.Length}");
            }
        }
    }

    private sealed class BrotliCodec(int quality) : ILosslessCodec
    {
        public string Name => $"brotli-{quality}";

        public int MaxEncodedLength(int length) => BrotliEncoder.GetMaxCompressedLength(length);

        public int Encode(ReadOnlySpan<byte> source, Span<byte> destination) =>
            BrotliEncoder.TryCompress(source, destination, out int written, quality, 22)
                ? written
                : throw new InvalidOperationException($"{Name}: the destination of {destination.Length} B is too small");

        public void Decode(ReadOnlySpan<byte> source, Span<byte> destination)
        {
            if (!BrotliDecoder.TryDecompress(source, destination, out int written) || written != destination.Length)
            {
                throw new InvalidDataException($"{Name}: {source.Length} coded bytes do not decode to {destination.Length} bytes");
            }
        }
    }

    /// <summary>
    /// The order-0 entropy bound of <paramref name="codes"/> in bytes: Σ −log₂ p(s) over the values, with p each code's
    /// frequency in this tensor (what an ideal order-0 coder — Huffman within one bit a value, rANS within a fraction — would
    /// approach, tables not counted).
    /// </summary>
    public static double Order0Bytes(ReadOnlySpan<byte> codes)
    {
        Span<int> counts = stackalloc int[256];
        foreach (var c in codes)
        {
            counts[c]++;
        }
        double bits = 0;
        foreach (var n in counts)
        {
            if (n > 0)
            {
                bits -= n * Math.Log2((double)n / codes.Length);
            }
        }
        return bits / 8;
    }
}
