using Coach.Native.Compression;

namespace Coach.Native.Tests.Compression;

public sealed class Lz4Tests
{
    [Fact]
    public void CodecVersionIsTheOnePinned()
    {
        Assert.Equal("1.3.8", Lz4.Version);
    }

    [Fact]
    public void BlocksMadeByTheReferenceEncoderDecode()
    {
        // "abcabcabcabcabcabcabcabc" as liblz4's LZ4_compress_default writes it (12 bytes): literals "abc",
        // then a match at offset 3 of length 4 + 12 (token 0x3C), then the last five bytes "bcabc" as
        // literals (the format's end-of-block rule). Pins the wire's compression code 1 to the raw block format.
        byte[] block = [0x3C, 0x61, 0x62, 0x63, 0x03, 0x00, 0x50, 0x62, 0x63, 0x61, 0x62, 0x63];
        var restored = new byte[24];

        Assert.Equal(24, Lz4.Decompress(block, restored));
        Assert.Equal("abcabcabcabcabcabcabcabc"u8.ToArray(), restored);
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
