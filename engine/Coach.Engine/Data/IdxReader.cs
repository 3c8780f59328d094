using System.Buffers.Binary;
using System.IO.Compression;

namespace Coach.Engine.Data;

/// <summary>A file that is not a well-formed (gzip) IDX file; the message names the file and what was wrong.</summary>
public sealed class IdxFormatException : IOException
{
    public IdxFormatException(string path, string problem, Exception? inner = null)
        : base($"{path}: {problem}", inner)
    {
        FilePath = path;
        Problem = problem;
    }

    public string FilePath { get; }

    public string Problem { get; }
}

/// <summary>An unsigned-byte IDX array: dimensions (big-endian in the file) and the row-major data.</summary>
public sealed class IdxArray
{
    internal IdxArray(string path, int[] dimensions, byte[] data)
    {
        Path = path;
        Dimensions = dimensions;
        Data = data;
    }

    public string Path { get; }

    public IReadOnlyList<int> Dimensions { get; }

    public byte[] Data { get; }

    public int Count => Dimensions[0];
}

/// <summary>
/// Reads the IDX files of MNIST-style data sets (magic <c>00 00 08 nd</c>, nd big-endian uint32 dimensions,
/// then the bytes), gzip-compressed or not. Only the unsigned-byte element type is accepted: it is the one
/// Fashion-MNIST uses for both images and labels.
/// </summary>
public static class IdxReader
{
    private const byte UnsignedByte = 0x08;
    private const long MaxElements = 1L << 30; // refuse absurd headers before allocating

    public static IdxArray Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path}: IDX file not found", path);
        }

        using var file = File.OpenRead(path);
        return Read(file, path);
    }

    /// <summary>Reads from a stream; gzip is detected by its magic bytes (1f 8b).</summary>
    public static IdxArray Read(Stream stream, string displayName)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var buffered = new BufferedStream(stream, 1 << 16);
        int b0 = buffered.ReadByte();
        int b1 = buffered.ReadByte();
        if (b0 < 0 || b1 < 0)
        {
            throw new IdxFormatException(displayName, "empty or truncated: the file has fewer than 2 bytes");
        }

        Stream body = new PrefixedStream((byte)b0, (byte)b1, buffered);
        if (b0 == 0x1F && b1 == 0x8B)
        {
            body = new GZipStream(body, CompressionMode.Decompress);
        }

        try
        {
            return ReadIdx(body, displayName);
        }
        catch (InvalidDataException e)
        {
            throw new IdxFormatException(displayName, $"corrupt gzip data ({e.Message}); reinstall the data set or restore the file", e);
        }
        catch (EndOfStreamException e)
        {
            throw new IdxFormatException(displayName, $"corrupt gzip data: the compressed stream ends early ({e.Message})", e);
        }
        finally
        {
            body.Dispose();
        }
    }

    /// <summary>Reads images [count, rows, cols]; checks the dimensions the caller expects.</summary>
    public static IdxArray ReadImages(string path, int rows, int cols)
    {
        var array = Read(path);
        if (array.Dimensions.Count != 3 || array.Dimensions[1] != rows || array.Dimensions[2] != cols)
        {
            throw new IdxFormatException(path, $"expected images of shape [N, {rows}, {cols}], found [{string.Join(", ", array.Dimensions)}]");
        }

        return array;
    }

    /// <summary>Reads labels [count], each below <paramref name="classCount"/>.</summary>
    public static IdxArray ReadLabels(string path, int classCount)
    {
        var array = Read(path);
        if (array.Dimensions.Count != 1)
        {
            throw new IdxFormatException(path, $"expected a label vector [N], found [{string.Join(", ", array.Dimensions)}]");
        }

        for (int i = 0; i < array.Data.Length; i++)
        {
            if (array.Data[i] >= classCount)
            {
                throw new IdxFormatException(path, $"label {array.Data[i]} at index {i} is not a class (0..{classCount - 1})");
            }
        }

        return array;
    }

    private static IdxArray ReadIdx(Stream body, string path)
    {
        Span<byte> magic = stackalloc byte[4];
        int got = ReadFully(body, magic);
        if (got < 4)
        {
            throw new IdxFormatException(path, $"truncated: expected a 4-byte IDX magic number, found {got} bytes");
        }

        if (magic[0] != 0 || magic[1] != 0)
        {
            throw new IdxFormatException(path, $"bad magic number {Convert.ToHexString(magic)}: an IDX file starts with 00 00, type, rank");
        }

        if (magic[2] != UnsignedByte)
        {
            throw new IdxFormatException(path, $"element type 0x{magic[2]:X2} is not supported: expected unsigned byte (0x08) as in Fashion-MNIST");
        }

        int rank = magic[3];
        if (rank is < 1 or > 4)
        {
            throw new IdxFormatException(path, $"bad magic number {Convert.ToHexString(magic)}: rank {rank} is outside 1..4");
        }

        Span<byte> dimBytes = stackalloc byte[4 * 4];
        got = ReadFully(body, dimBytes[..(4 * rank)]);
        if (got < 4 * rank)
        {
            throw new IdxFormatException(path, $"truncated: expected {4 * rank} header bytes of dimensions, found {got}");
        }

        var dims = new int[rank];
        long elements = 1;
        for (int d = 0; d < rank; d++)
        {
            uint dim = BinaryPrimitives.ReadUInt32BigEndian(dimBytes.Slice(4 * d, 4));
            elements *= dim;
            if (dim == 0 || dim > int.MaxValue || elements > MaxElements)
            {
                throw new IdxFormatException(path, $"implausible dimension {dim} in the header (rank {rank}); the file is corrupt");
            }

            dims[d] = (int)dim;
        }

        string what = rank == 1 ? "label" : rank == 3 ? "image" : "data";
        var data = new byte[elements];
        got = ReadFully(body, data);
        if (got < data.Length)
        {
            throw new IdxFormatException(path, $"truncated: expected {elements} {what} bytes, found {got}");
        }

        Span<byte> extra = stackalloc byte[1];
        if (ReadFully(body, extra) != 0)
        {
            throw new IdxFormatException(path, $"trailing bytes after the {elements} {what} bytes the header declares");
        }

        return new IdxArray(path, dims, data);
    }

    private static int ReadFully(Stream stream, Span<byte> destination)
    {
        int total = 0;
        while (total < destination.Length)
        {
            int n = stream.Read(destination[total..]);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }

    /// <summary>Puts back the two bytes read to sniff the gzip magic.</summary>
    private sealed class PrefixedStream(byte first, byte second, Stream rest) : Stream
    {
        private int _prefixRead;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (buffer.IsEmpty)
            {
                return 0;
            }

            if (_prefixRead < 2)
            {
                int n = 0;
                while (_prefixRead < 2 && n < buffer.Length)
                {
                    buffer[n++] = _prefixRead == 0 ? first : second;
                    _prefixRead++;
                }

                return n;
            }

            return rest.Read(buffer);
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                rest.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
