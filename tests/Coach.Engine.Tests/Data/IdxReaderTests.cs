using System.Buffers.Binary;
using System.IO.Compression;
using Coach.Engine.Data;

namespace Coach.Engine.Tests.Data;

public sealed class IdxReaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("coach-idx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static byte[] Idx(byte type, int[] dims, int dataBytes)
    {
        var bytes = new byte[4 + (4 * dims.Length) + dataBytes];
        bytes[2] = type;
        bytes[3] = (byte)dims.Length;
        for (int d = 0; d < dims.Length; d++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4 + (4 * d)), (uint)dims[d]);
        }

        for (int i = 0; i < dataBytes; i++)
        {
            bytes[4 + (4 * dims.Length) + i] = (byte)(i * 7);
        }

        return bytes;
    }

    private string WriteGz(string name, byte[] content)
    {
        string path = Path.Combine(_dir, name);
        using var file = File.Create(path);
        using var gz = new GZipStream(file, CompressionLevel.Optimal);
        gz.Write(content);
        return path;
    }

    [Fact]
    public void ReadsAGzipImageFileWithItsDimensions()
    {
        string path = WriteGz("ok-images.gz", Idx(0x08, [3, 28, 28], 3 * 784));
        var array = IdxReader.ReadImages(path, 28, 28);
        Assert.Equal([3, 28, 28], array.Dimensions);
        Assert.Equal(3 * 784, array.Data.Length);
        Assert.Equal(unchecked((byte)(100 * 7)), array.Data[100]);
    }

    [Fact]
    public void ReadsAnUncompressedFileToo()
    {
        string path = Path.Combine(_dir, "raw-labels");
        var content = Idx(0x08, [5], 5);
        for (int i = 0; i < 5; i++)
        {
            content[8 + i] = (byte)i;
        }

        File.WriteAllBytes(path, content);
        var labels = IdxReader.ReadLabels(path, 10);
        Assert.Equal(new byte[] { 0, 1, 2, 3, 4 }, labels.Data);
    }

    [Fact]
    public void TruncatedDataNamesTheFileAndTheExpectedAndFoundByteCounts()
    {
        string path = WriteGz("short-images.gz", Idx(0x08, [10, 28, 28], 5 * 784));
        var e = Assert.Throws<IdxFormatException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("truncated: expected 7840 image bytes, found 3920", e.Message);
    }

    [Fact]
    public void ATruncatedGzipFileIsReportedAsCorruptOrTruncated()
    {
        var whole = File.ReadAllBytes(WriteGz("whole.gz", Idx(0x08, [50, 28, 28], 50 * 784)));
        string path = Path.Combine(_dir, "cut.gz");
        File.WriteAllBytes(path, whole.AsSpan(0, whole.Length / 2).ToArray());
        var e = Assert.Throws<IdxFormatException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
        Assert.True(e.Message.Contains("truncated", StringComparison.Ordinal) || e.Message.Contains("corrupt gzip", StringComparison.Ordinal), e.Message);
    }

    [Fact]
    public void BadMagicIsRejected()
    {
        var content = Idx(0x08, [2, 28, 28], 2 * 784);
        content[0] = 0x12;
        string path = WriteGz("bad-magic.gz", content);
        var e = Assert.Throws<IdxFormatException>(() => IdxReader.Read(path));
        Assert.Contains("bad magic number 12000803", e.Message);
    }

    [Fact]
    public void AnElementTypeOtherThanUnsignedByteIsRejected()
    {
        string path = WriteGz("int-images.gz", Idx(0x0C, [2, 2], 16));
        var e = Assert.Throws<IdxFormatException>(() => IdxReader.Read(path));
        Assert.Contains("element type 0x0C", e.Message);
    }

    [Fact]
    public void CorruptGzipDataIsRejected()
    {
        string path = Path.Combine(_dir, "garbage.gz");
        var bytes = new byte[4096];
        new Random(3).NextBytes(bytes);
        bytes[0] = 0x1F;
        bytes[1] = 0x8B;
        bytes[2] = 8;     // deflate, then a random header and random "compressed" data
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<IdxFormatException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void TrailingBytesAndWrongShapesAreRejected()
    {
        var e = Assert.Throws<IdxFormatException>(() => IdxReader.Read(WriteGz("long.gz", Idx(0x08, [4], 6))));
        Assert.Contains("trailing bytes", e.Message);
        e = Assert.Throws<IdxFormatException>(() => IdxReader.ReadImages(WriteGz("small.gz", Idx(0x08, [2, 14, 14], 2 * 196)), 28, 28));
        Assert.Contains("[N, 28, 28]", e.Message);
        var labels = Idx(0x08, [3], 3);
        labels[9] = 12;
        e = Assert.Throws<IdxFormatException>(() => IdxReader.ReadLabels(WriteGz("labels.gz", labels), 10));
        Assert.Contains("label 12 at index 1", e.Message);
    }

    [Fact]
    public void AnEmptyFileAndAMissingFileAreReported()
    {
        string empty = Path.Combine(_dir, "empty.gz");
        File.WriteAllBytes(empty, []);
        Assert.Contains("empty", Assert.Throws<IdxFormatException>(() => IdxReader.Read(empty)).Message);
        Assert.Throws<FileNotFoundException>(() => IdxReader.Read(Path.Combine(_dir, "absent.gz")));
    }

    [Fact]
    public void TheDebianDataSetReadsWhenInstalled()
    {
        string images = Path.Combine(BundledData.DebianDirectory, "t10k-images-idx3-ubyte.gz");
        if (!File.Exists(images))
        {
            return; // dataset-fashion-mnist not installed: the committed slice covers the other tests
        }

        var array = IdxReader.ReadImages(images, 28, 28);
        Assert.Equal(10000, array.Count);
    }
}
