using ZstdSharp;

namespace Coach.Native.Compression;

/// <summary>
/// One zstd frame (level 1) over a tensor's packed UAQ codes (docs/protocol.md compression code 2), over ZstdSharp:
/// managed, so the same code runs on x64 and on a Jetson. Of the lossless coders measured on real cut tensors
/// (`coach bench entropy`, docs/entropy.md), level-1 zstd sends the fewest bytes for ReLU outputs, whose runs of zero
/// codes an order-0 coder cannot exploit. An instance holds the coder's contexts: one per thread, reused, so steady-state
/// coding allocates nothing.
/// </summary>
public sealed class Zstd : IDisposable
{
    /// <summary>The compression level the edge codes at.</summary>
    public const int Level = 1;

    private readonly Compressor _compressor = new(Level);
    private readonly Decompressor _decompressor = new();

    /// <summary>The codec's assembly version, e.g. "0.8.8".</summary>
    public static string Version { get; } =
        typeof(Compressor).Assembly.GetName().Version is { } v ? $"{v.Major}.{v.Minor}.{v.Build}" : "unknown";

    /// <summary>Worst-case coded size of <paramref name="sourceLength"/> bytes.</summary>
    public static int MaxCompressedLength(int sourceLength) => Compressor.GetCompressBound(sourceLength);

    /// <summary>Codes <paramref name="source"/> into <paramref name="destination"/>; false when it does not fit.</summary>
    public bool TryCompress(ReadOnlySpan<byte> source, Span<byte> destination, out int bytesWritten) =>
        _compressor.TryWrap(source, destination, out bytesWritten);

    /// <summary>Decodes one frame; false when it is malformed or does not fit <paramref name="destination"/>. Never reads or
    /// writes outside the two spans.</summary>
    public bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> destination, out int bytesWritten)
    {
        try
        {
            return _decompressor.TryUnwrap(source, destination, out bytesWritten);
        }
        catch (ZstdException)
        {
            bytesWritten = 0;
            return false;
        }
    }

    public void Dispose()
    {
        _compressor.Dispose();
        _decompressor.Dispose();
    }
}
