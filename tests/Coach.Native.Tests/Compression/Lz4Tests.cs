using Coach.Native.Compression;

namespace Coach.Native.Tests.Compression;

public sealed class Lz4Tests
{
    [Fact]
    public void SystemLiblz4IsFound()
    {
        Assert.True(Lz4.IsAvailable, "liblz4.so.1 is missing; install it with: apt-get install liblz4-1");
        Assert.Matches(@"^1\.\d+\.\d+$", Lz4.Version);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(1000)]
    [InlineData(150_528)] // one 3×112×112 frame at 4 bits... and more
    public void RandomBytesRoundTrip(int length)
    {
        var source = new byte[length];
        new Random(length).NextBytes(source);
        var compressed = new byte[Lz4.MaxCompressedLength(length)];

        var compressedLength = Lz4.Compress(source, compressed);
        var restored = new byte[length];
        var restoredLength = Lz4.Decompress(compressed.AsSpan(0, compressedLength), restored);

        Assert.Equal(length, restoredLength);
        Assert.Equal(source, restored);
    }

    [Fact]
    public void RepetitiveQuantizedTensorShrinks()
    {
        // A packed 2-bit tensor after ReLU is mostly zero codes: LZ4 pays off there.
        var source = new byte[64 * 1024];
        for (var i = 0; i < source.Length; i += 37)
        {
            source[i] = (byte)(i % 4);
        }
        var compressed = new byte[Lz4.MaxCompressedLength(source.Length)];

        var compressedLength = Lz4.Compress(source, compressed);
        var restored = new byte[source.Length];
        Lz4.Decompress(compressed.AsSpan(0, compressedLength), restored);

        Assert.True(compressedLength < source.Length / 4, $"{compressedLength} bytes");
        Assert.Equal(source, restored);
    }

    [Fact]
    public void TooSmallDestinationIsReportedNotOverrun()
    {
        var source = new byte[4096];
        new Random(3).NextBytes(source);
        var destination = new byte[16];

        Assert.False(Lz4.TryCompress(source, destination, out var written));
        Assert.Equal(0, written);
        var error = Assert.Throws<ArgumentException>(() => Lz4.Compress(source, destination));
        Assert.Contains("16", error.Message);
    }

    [Fact]
    public void MalformedBlockIsRejectedAsInvalidData()
    {
        var source = new byte[1024];
        new Random(11).NextBytes(source);
        var compressed = new byte[Lz4.MaxCompressedLength(source.Length)];
        var length = Lz4.Compress(source, compressed);
        var shortDestination = new byte[100];

        Assert.Throws<InvalidDataException>(() => Lz4.Decompress(compressed.AsSpan(0, length), shortDestination));
        Assert.False(Lz4.TryDecompress([0xF0, 0xFF, 0xFF, 0xFF], new byte[64], out _));
    }

    [Fact]
    public void CompressAndDecompressAllocateNothing()
    {
        var source = new byte[8192];
        new Random(5).NextBytes(source.AsSpan(0, 4096));
        var compressed = new byte[Lz4.MaxCompressedLength(source.Length)];
        var restored = new byte[source.Length];
        Lz4.Decompress(compressed.AsSpan(0, Lz4.Compress(source, compressed)), restored);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            var length = Lz4.Compress(source, compressed);
            Lz4.Decompress(compressed.AsSpan(0, length), restored);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
