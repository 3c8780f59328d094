using System.IO.Pipelines;
using Coach.Engine.Data;
using Coach.Native.Imaging;
using Coach.Transport.Protocol;

namespace Coach.Transport.Tests;

/// <summary>Input frames sent as one JPEG (compression code 3, the cloud-jpeg plan) through libjpeg-turbo: the codec on a
/// rendered bundled frame, the request writer and reader, damaged data, and the edge's steady state.</summary>
public sealed class JpegFrameTests : IDisposable
{
    private const int Size = FrameRenderer.Size;
    private const int Pixels = Size * Size;
    private readonly TurboJpeg _codec = new();
    private readonly byte[] _scratch = new byte[1 << 20];
    private readonly byte[] _rgb = new byte[3 * Pixels];
    private readonly WireTensor[] _tensors = new WireTensor[WireLimits.Default.MaxTensorsPerFrame];

    public void Dispose() => _codec.Dispose();

    private static Pipe NewPipe() => new(new PipeOptions(pool: null, readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: 4 << 20, resumeWriterThreshold: 2 << 20, minimumSegmentSize: 16 << 10, useSynchronizationContext: false));

    /// <summary>An in-memory pipe's read, which completes inline.</summary>
    private static ReadResult Completed(ValueTask<ReadResult> read)
    {
        Assert.True(read.IsCompletedSuccessfully);
        return read.Result;
    }

    /// <summary>Bundled calibration frame <paramref name="index"/> as the edge's preprocessing makes it: planar floats k/255.</summary>
    private static float[] Frame(int index)
    {
        var frame = new float[3 * Pixels];
        BundledData.LoadSlice(DataSplit.Calibration).RenderFrame(index, frame);
        return frame;
    }

    private static byte[] Interleaved(float[] planar)
    {
        var rgb = new byte[3 * Pixels];
        for (int c = 0; c < 3; c++)
        {
            for (int i = 0; i < Pixels; i++)
            {
                rgb[(3 * i) + c] = (byte)Math.Clamp(MathF.Round(planar[(c * Pixels) + i] * 255f), 0f, 255f);
            }
        }

        return rgb;
    }

    private byte[] Encode(byte[] rgb, int quality)
    {
        var jpeg = new byte[TurboJpeg.MaxEncodedLength(Size, Size)];
        int length = _codec.Encode(rgb, Size, Size, quality, jpeg);
        return jpeg[..length];
    }

    [Theory]
    [InlineData(90, 3.0)]
    [InlineData(50, 6.0)]
    public void ARenderedBundledFrameRoundTripsWithinASmallError(int quality, double maxMeanAbsoluteError)
    {
        byte[] rgb = Interleaved(Frame(3));
        byte[] jpeg = Encode(rgb, quality);
        Assert.True(jpeg.Length < rgb.Length / 5, $"{jpeg.Length} JPEG bytes for a {rgb.Length}-byte frame");
        Assert.Equal(new byte[] { 0xFF, 0xD8 }, jpeg[..2]);

        var decoded = new byte[rgb.Length];
        _codec.Decode(jpeg, Size, Size, decoded);
        double error = rgb.Zip(decoded, (a, b) => Math.Abs(a - b)).Average();
        Assert.True(error <= maxMeanAbsoluteError, $"mean absolute error {error:F2} at quality {quality}");
        Assert.True(error > 0, "JPEG is lossy: a frame that decodes bit-exact was not encoded");
    }

    [Fact]
    public void LowerQualitySendsFewerBytes()
    {
        byte[] rgb = Interleaved(Frame(5));
        Assert.True(Encode(rgb, 30).Length < Encode(rgb, 90).Length);
    }

    [Fact]
    public void DamagedTruncatedOrWrongSizeDataAreRefusedWithAClearError()
    {
        byte[] jpeg = Encode(Interleaved(Frame(1)), 85);
        var decoded = new byte[3 * Pixels];

        var truncated = Assert.Throws<InvalidDataException>(() => _codec.Decode(jpeg.AsSpan(0, jpeg.Length / 2), Size, Size, decoded));
        Assert.Contains("does not decode", truncated.Message);
        var notJpeg = Assert.Throws<InvalidDataException>(() => _codec.Decode(new byte[200], Size, Size, decoded));
        Assert.Contains("not a JPEG", notJpeg.Message);
        Assert.Throws<InvalidDataException>(() => _codec.Decode([], Size, Size, decoded));

        // A valid JPEG of another size is refused: the cloud never resizes.
        var small = new byte[3 * 56 * 56];
        var smallJpeg = new byte[TurboJpeg.MaxEncodedLength(56, 56)];
        int smallLength = _codec.Encode(small, 56, 56, 80, smallJpeg);
        var otherSize = Assert.Throws<InvalidDataException>(() => _codec.Decode(smallJpeg.AsSpan(0, smallLength), Size, Size, decoded));
        Assert.Contains("56×56", otherSize.Message);

        // Random damage inside the entropy-coded data: refused or decoded, never a crash or a write outside the buffer.
        var random = new Random(3);
        int refused = 0;
        for (int trial = 0; trial < 200; trial++)
        {
            var damaged = (byte[])jpeg.Clone();
            for (int k = 0; k < 8; k++)
            {
                damaged[random.Next(2, damaged.Length)] = (byte)random.Next(256);
            }

            try
            {
                _codec.Decode(damaged, Size, Size, decoded);
            }
            catch (InvalidDataException)
            {
                refused++;
            }
        }

        Assert.True(refused > 0, "no damaged JPEG of 200 was refused");
    }

    [Fact]
    public void ACompressionThreeTensorIsWrittenAndReadBack()
    {
        float[] frame = Frame(7);
        var pipe = NewPipe();
        var writer = RequestFrameWriter.Begin(pipe.Writer, new RequestHeader(9, 1, 2, 1), RequestFrameWriter.JpegFrameCapacity(Size, Size));
        int jpegLength = writer.AddJpegFrame(0, frame, [1, 3, Size, Size], 80, _codec, _rgb);
        int payloadLength = writer.Complete();
        Assert.True(pipe.Writer.FlushAsync().IsCompletedSuccessfully);
        var buffer = Completed(pipe.Reader.ReadAsync()).Buffer;
        Assert.Equal(FrameHeader.Size + payloadLength, buffer.Length);
        Assert.True(FrameReader.TryReadFrame(ref buffer, WireLimits.Default, out Frame read));
        var payload = read.GetPayloadSpan(_scratch);
        RequestHeader header = RequestReader.Read(payload, WireLimits.Default, _tensors);

        Assert.Equal(9ul, header.RequestId);
        WireTensor t = _tensors[0];
        Assert.Equal(TensorCompression.Jpeg, t.Compression);
        Assert.Equal(8, t.Bits);
        Assert.Equal(1f / 255f, t.Scale);
        Assert.Equal(0, t.ZeroPoint);
        Assert.Equal(4, t.Rank);
        Assert.Equal([1, 3, Size, Size], new[] { t.Dims[0], t.Dims[1], t.Dims[2], t.Dims[3] });
        Assert.Equal(jpegLength, t.DataLength);
        Assert.True(payloadLength < 3 * Pixels / 5, $"a {payloadLength}-byte payload for a {3 * Pixels}-byte frame");

        var decoded = new byte[3 * Pixels];
        _codec.Decode(payload.Slice(t.DataOffset, t.DataLength), Size, Size, decoded);
        byte[] sent = Interleaved(frame);
        Assert.True(sent.Zip(decoded, (a, b) => Math.Abs(a - b)).Average() < 4.0);
    }

    [Fact]
    public void AFrameOfAnotherShapeIsRefusedByTheWriter()
    {
        var pipe = NewPipe();
        var writer = RequestFrameWriter.Begin(pipe.Writer, new RequestHeader(1, 0, 0, 1), RequestFrameWriter.JpegFrameCapacity(Size, Size));
        bool refused = false;
        try
        {
            writer.AddJpegFrame(0, new float[Pixels], [1, 1, Size, Size], 80, _codec, _rgb);
        }
        catch (ArgumentException e)
        {
            refused = e.Message.Contains("[1,3,H,W]");
        }

        Assert.True(refused);
    }

    [Fact]
    public void SteadyStateJpegSendAllocatesNothing()
    {
        var pipe = NewPipe();
        float[] frame = Frame(2);
        long bytes = 0;
        void OneFrame(int i)
        {
            var writer = RequestFrameWriter.Begin(pipe.Writer, new RequestHeader((ulong)i + 1, i, i, 1), RequestFrameWriter.JpegFrameCapacity(Size, Size));
            writer.AddJpegFrame(0, frame, [1, 3, Size, Size], 60 + (i % 30), _codec, _rgb);
            bytes += writer.Complete();
            _ = pipe.Writer.FlushAsync().Result;
            var buffer = pipe.Reader.ReadAsync().Result.Buffer;
            pipe.Reader.AdvanceTo(buffer.End);
        }

        for (int i = 0; i < 200; i++)
        {
            OneFrame(i); // warm, past the JIT's tiering thresholds
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 200; i++)
        {
            OneFrame(i);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(bytes > 0);
    }
}
