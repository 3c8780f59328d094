using System.Buffers;
using System.IO.Pipelines;
using Coach.Engine.DataPlane;
using Coach.Native.Compression;
using Coach.Transport.Protocol;

namespace Coach.Transport.Tests;

/// <summary>Cut tensors sent as zstd-coded UAQ codes (compression code 2): round trip, fallback, no allocation.</summary>
public sealed class CodedTensorTests : IDisposable
{
    private readonly Zstd _coder = new();
    private readonly byte[] _scratch = new byte[1 << 20];
    private readonly WireTensor[] _tensors = new WireTensor[WireLimits.Default.MaxTensorsPerFrame];

    public void Dispose() => _coder.Dispose();

    private static Pipe NewPipe() => new(new PipeOptions(pool: null, readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: 4 << 20, resumeWriterThreshold: 2 << 20, minimumSegmentSize: 16 << 10, useSynchronizationContext: false));

    /// <summary>ReLU-like values: about <paramref name="zeroShare"/> exactly zero.</summary>
    private static float[] Activations(int count, double zeroShare, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => random.NextDouble() < zeroShare ? 0f : (float)random.NextDouble() * 3)];
    }

    /// <summary>Writes one request with the tensor coded, reads it back; the wire tensor, its coded bytes and the request size.</summary>
    private (WireTensor Tensor, byte[] Data, long FrameBytes) SendOne(Pipe pipe, float[] values, int[] shape, int bits)
    {
        int capacity = RequestFrameWriter.TensorCapacity(shape.Length, values.Length, bits);
        var writer = RequestFrameWriter.Begin(pipe.Writer, new RequestHeader(1, 0, 0, 1), capacity);
        writer.AddQuantizedCoded(0, values, shape, bits, _coder, _scratch);
        writer.Complete();
        Assert.True(pipe.Writer.FlushAsync().IsCompletedSuccessfully);
        var read = pipe.Reader.ReadAsync();
        Assert.True(read.IsCompletedSuccessfully);
        var buffer = read.Result.Buffer;
        long length = buffer.Length;
        Assert.True(FrameReader.TryReadFrame(ref buffer, WireLimits.Default, out Frame frame));
        var payload = frame.GetPayloadSpan(_scratch.AsSpan(_scratch.Length / 2));
        RequestReader.Read(payload, WireLimits.Default, _tensors);
        var data = payload.Slice(_tensors[0].DataOffset, _tensors[0].DataLength).ToArray();
        pipe.Reader.AdvanceTo(buffer.Start, buffer.End);
        return (_tensors[0], data, length);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(8)]
    public void AReluOutputIsSentCodedAndDecodesToTheSameValuesAsPlainUaq(int bits)
    {
        var values = Activations(32 * 14 * 14, 0.6, bits);
        int[] shape = [1, 32, 14, 14];
        var (tensor, data, _) = SendOne(NewPipe(), values, shape, bits);
        int packedLength = Uaq.PackedByteCount(values.Length, bits);
        Assert.Equal(TensorCompression.Zstd, tensor.Compression);
        Assert.True(data.Length < packedLength, $"{data.Length} coded bytes, {packedLength} packed");

        var packed = new byte[packedLength];
        Assert.True(_coder.TryDecompress(data, packed, out int written));
        Assert.Equal(packedLength, written);
        var fromCoded = new float[values.Length];
        Uaq.UnpackDequantize(packed, tensor.Quantization, fromCoded);
        var plain = new float[values.Length];
        Uaq.RoundTrip(values, bits, plain);
        Assert.Equal(plain, fromCoded);
    }

    [Fact]
    public void CodesThatDoNotShrinkAreSentPackedAsTheyAre()
    {
        var random = new Random(1);
        var noise = Enumerable.Range(0, 4096).Select(_ => (float)random.NextDouble()).ToArray();
        var (tensor, data, _) = SendOne(NewPipe(), noise, [1, 4096], 8);
        Assert.Equal(TensorCompression.None, tensor.Compression);
        Assert.Equal(4096, data.Length);
    }

    [Fact]
    public void ACorruptOrTruncatedFrameIsRefusedByTheDecoder()
    {
        var values = Activations(8192, 0.7, 5);
        var (_, data, _) = SendOne(NewPipe(), values, [1, 8192], 4);
        var packed = new byte[Uaq.PackedByteCount(values.Length, 4)];
        var random = new Random(2);
        int refused = 0;
        for (int trial = 0; trial < 300; trial++)
        {
            var damaged = (byte[])data.Clone();
            if (trial % 3 == 0)
            {
                damaged = damaged[..random.Next(damaged.Length)];
            }
            else
            {
                damaged[random.Next(damaged.Length)] ^= (byte)(1 << random.Next(8));
            }
            // Refused, or a frame of other bytes: never an exception, never a write outside the span.
            if (!_coder.TryDecompress(damaged, packed, out int written) || written != packed.Length)
            {
                refused++;
            }
        }
        Assert.True(refused >= 100, $"{refused} of 300 damaged frames refused");
    }

    [Fact]
    public void SteadyStateCodedSendAllocatesNothing()
    {
        var pipe = NewPipe();
        var values = Activations(64 * 28 * 28, 0.5, 7);
        int[] shape = [1, 64, 28, 28];
        var restored = new byte[Uaq.PackedByteCount(values.Length, 8)];
        long checksum = 0;
        void OneFrame(int i)
        {
            int bits = 2 + (i % 7);
            int capacity = RequestFrameWriter.TensorCapacity(shape.Length, values.Length, bits);
            var writer = RequestFrameWriter.Begin(pipe.Writer, new RequestHeader((ulong)i + 1, i, i, 1), capacity);
            writer.AddQuantizedCoded(0, values, shape, bits, _coder, _scratch);
            writer.Complete();
            _ = pipe.Writer.FlushAsync().Result;
            var buffer = pipe.Reader.ReadAsync().Result.Buffer;
            Assert.True(FrameReader.TryReadFrame(ref buffer, WireLimits.Default, out Frame frame));
            var payload = frame.GetPayloadSpan(_scratch.AsSpan(_scratch.Length / 2));
            RequestReader.Read(payload, WireLimits.Default, _tensors);
            Assert.True(_coder.TryDecompress(payload.Slice(_tensors[0].DataOffset, _tensors[0].DataLength),
                restored.AsSpan(0, Uaq.PackedByteCount(values.Length, bits)), out int written));
            checksum += written;
            pipe.Reader.AdvanceTo(buffer.Start, buffer.End);
        }

        for (int i = 0; i < 50; i++)
        {
            OneFrame(i);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 300; i++)
        {
            OneFrame(i);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(checksum > 0);
    }

    [Fact]
    public void TheFuzzerDecodesCodedTensorsAndRefusesDamagedOnesAsMalformed()
    {
        byte[] seed = ProtocolFuzzer.SeedFrames()[^1];
        var state = new ProtocolFuzzer.ParseState(WireLimits.Default);
        Assert.Equal(1, ProtocolFuzzer.ParseStream(new ReadOnlySequence<byte>(seed), state));
        Assert.Equal(TensorCompression.Zstd, state.Tensors[0].Compression);
        var random = new Random(4);
        int malformed = 0;
        for (int trial = 0; trial < 200; trial++)
        {
            var frame = (byte[])seed.Clone();
            // Damage the coded bytes only (the last DataLength bytes of the frame), then fix the CRCs so the parse reaches them.
            int dataLength = state.Tensors[0].DataLength;
            frame[frame.Length - 1 - random.Next(dataLength)] ^= (byte)(1 << random.Next(8));
            ProtocolFuzzer.FixChecksums(frame);
            try
            {
                ProtocolFuzzer.ParseStream(new ReadOnlySequence<byte>(frame), state);
            }
            catch (ProtocolViolationException e) when (e.Reason == ReasonCode.MalformedPayload)
            {
                malformed++;
            }
        }
        Assert.True(malformed >= 50, $"{malformed} of 200 damaged codings refused");
    }
}
