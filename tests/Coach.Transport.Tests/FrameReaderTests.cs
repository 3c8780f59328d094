using System.Buffers;
using System.Buffers.Binary;
using Coach.Engine.DataPlane;
using Coach.Transport.Protocol;

namespace Coach.Transport.Tests;

public class FrameReaderTests
{
    private static readonly WireLimits Limits = WireLimits.Default;

    private static byte[] RequestFrame(ulong id, int label, int bits, int tensorCount = 1)
    {
        var buffer = new ArrayBufferWriter<byte>();
        float[] values = TinyModels.CutTensorFor(label);
        int[] shape = [1, 4, 2, 2];
        var writer = RequestFrameWriter.Begin(buffer, new RequestHeader(id, 11, 22, tensorCount), tensorCount * RequestFrameWriter.TensorCapacity(4, 16, bits));
        for (int t = 0; t < tensorCount; t++)
        {
            if (bits == WireTensor.RawFloatBits)
            {
                writer.AddRaw(t, values, shape);
            }
            else
            {
                writer.AddQuantized(t, values, shape, bits);
            }
        }

        writer.Complete();
        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    [Fact]
    public void RequestRoundTripsThroughTheReaderWithTheSameValues()
    {
        byte[] bytes = RequestFrame(42, 3, 8, tensorCount: 2);
        var sequence = new ReadOnlySequence<byte>(bytes);
        Assert.True(FrameReader.TryReadFrame(ref sequence, Limits, out Frame frame));
        Assert.True(sequence.IsEmpty);
        Assert.Equal(FrameType.Request, frame.Type);

        var tensors = new WireTensor[Limits.MaxTensorsPerFrame];
        byte[] payload = frame.Payload.ToArray();
        RequestHeader header = RequestReader.Read(payload, Limits, tensors);
        Assert.Equal(42ul, header.RequestId);
        Assert.Equal(11, header.EdgeCaptureMicros);
        Assert.Equal(22, header.EdgeSendMicros);
        Assert.Equal(2, header.TensorCount);
        float[] expected = TinyModels.CutTensorFor(3);
        for (int t = 0; t < 2; t++)
        {
            WireTensor tensor = tensors[t];
            Assert.Equal(t, tensor.Ordinal);
            Assert.Equal(8, tensor.Bits);
            Assert.Equal(4, (int)tensor.Rank);
            Assert.Equal(16, tensor.ElementCount);
            float[] restored = new float[16];
            Uaq.UnpackDequantize(payload.AsSpan(tensor.DataOffset, tensor.DataLength), tensor.Quantization, restored);
            for (int i = 0; i < 16; i++)
            {
                Assert.InRange(restored[i], expected[i] - 0.01f, expected[i] + 0.01f);
            }
        }
    }

    [Fact]
    public void RawFloatTensorsArriveBitExact()
    {
        byte[] bytes = RequestFrame(7, 5, WireTensor.RawFloatBits);
        var sequence = new ReadOnlySequence<byte>(bytes);
        Assert.True(FrameReader.TryReadFrame(ref sequence, Limits, out Frame frame));
        var tensors = new WireTensor[Limits.MaxTensorsPerFrame];
        byte[] payload = frame.Payload.ToArray();
        RequestReader.Read(payload, Limits, tensors);
        float[] restored = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(payload.AsSpan(tensors[0].DataOffset, tensors[0].DataLength)).ToArray();
        Assert.Equal(TinyModels.CutTensorFor(5), restored);
    }

    [Fact]
    public void FramesSplitIntoChunksOfAnySizeParseToTheSameFrames()
    {
        byte[] stream = Concat(RequestFrame(1, 1, 4), RequestFrame(2, 2, 8, 3), RequestFrame(3, 3, WireTensor.RawFloatBits), RequestFrame(4, 9, 2));
        for (int maxChunk = 1; maxChunk <= 64; maxChunk++)
        {
            ReadOnlySequence<byte> sequence = ChunkSegment.Split(stream, maxChunk, seed: maxChunk);
            var ids = new List<ulong>();
            var tensors = new WireTensor[16];
            while (FrameReader.TryReadFrame(ref sequence, Limits, out Frame frame))
            {
                byte[] scratch = new byte[frame.PayloadLength];
                ids.Add(RequestReader.Read(frame.GetPayloadSpan(scratch), Limits, tensors).RequestId);
            }

            Assert.True(sequence.IsEmpty);
            Assert.Equal([1ul, 2ul, 3ul, 4ul], ids);
        }
    }

    [Fact]
    public void PartialFramesReturnFalseUntilTheLastByteArrives()
    {
        byte[] frameBytes = RequestFrame(9, 4, 6);
        for (int prefix = 0; prefix < frameBytes.Length; prefix++)
        {
            ReadOnlySequence<byte> sequence = ChunkSegment.Split(frameBytes[..prefix].Length == 0 ? [0] : frameBytes[..prefix], 7, prefix);
            if (prefix == 0)
            {
                sequence = ReadOnlySequence<byte>.Empty;
            }

            long before = sequence.Length;
            Assert.False(FrameReader.TryReadFrame(ref sequence, Limits, out _));
            Assert.Equal(before, sequence.Length);
        }

        var whole = ChunkSegment.Split(frameBytes, 7, 1);
        Assert.True(FrameReader.TryReadFrame(ref whole, Limits, out _));
    }

    [Fact]
    public void AWrongPayloadCrcIsRejected()
    {
        byte[] bytes = RequestFrame(1, 1, 8);
        bytes[^3] ^= 0x10;
        AssertRejected(bytes, ReasonCode.PayloadChecksumMismatch);
    }

    [Fact]
    public void ACorruptLengthIsCaughtByTheHeaderCrcBeforeAnythingIsSized()
    {
        byte[] bytes = RequestFrame(1, 1, 8);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), 0x7FFF_FFF0);
        AssertRejected(bytes, ReasonCode.HeaderChecksumMismatch);
    }

    [Fact]
    public void AnOversizeLengthIsRejectedFromTheHeaderAlone()
    {
        // A well-formed header (valid header CRC) announcing 1 GiB: refused with only 20 bytes seen.
        byte[] header = new byte[FrameHeader.Size];
        new FrameHeader(FrameType.Request, FrameFlags.None, 1 << 30, 0).Write(header);
        AssertRejected(header, ReasonCode.FrameTooLarge);
    }

    [Fact]
    public void BadMagicAndUnknownVersionAreRejected()
    {
        byte[] bytes = RequestFrame(1, 1, 8);
        byte[] badMagic = (byte[])bytes.Clone();
        badMagic[0] = (byte)'X';
        AssertRejected(badMagic, ReasonCode.BadMagic);

        byte[] badVersion = (byte[])bytes.Clone();
        badVersion[4] = 9;
        AssertRejected(badVersion, ReasonCode.UnsupportedVersion);
    }

    [Fact]
    public void AStreamThatEndsInsideAFrameIsATruncatedFrame()
    {
        byte[] bytes = RequestFrame(1, 1, 8);
        var sequence = new ReadOnlySequence<byte>(bytes, 0, bytes.Length - 5);
        Assert.False(FrameReader.TryReadFrame(ref sequence, Limits, out _));
        var e = Assert.Throws<ProtocolViolationException>(() => FrameReader.ThrowIfIncompleteAtEnd(sequence));
        Assert.Equal(ReasonCode.ConnectionClosedMidFrame, e.Reason);
    }

    [Fact]
    public void APayloadShorterThanItsFieldsIsATruncatedPayload()
    {
        // Valid CRCs, but the payload stops inside the request header.
        var buffer = new ArrayBufferWriter<byte>();
        var frame = FrameBuilder.Begin(buffer, FrameType.Request, FrameFlags.None, 10);
        frame.Payload[..10].Fill(1);
        frame.Complete(10);
        var e = Assert.Throws<ProtocolViolationException>(() => ReadRequest(buffer.WrittenSpan.ToArray(), Limits));
        Assert.Equal(ReasonCode.TruncatedPayload, e.Reason);
    }

    [Fact]
    public void TooManyTensorsAreRejectedBeforeTheirDescriptorsAreRead()
    {
        var limits = Limits with { MaxTensorsPerFrame = 2 };
        var e = Assert.Throws<ProtocolViolationException>(() => ReadRequest(RequestFrame(1, 1, 8, tensorCount: 3), limits));
        Assert.Equal(ReasonCode.TooManyTensors, e.Reason);
    }

    [Fact]
    public void RanksAndElementCountsOverTheLimitsAreRejected()
    {
        var rank = Assert.Throws<ProtocolViolationException>(() => ReadRequest(RequestFrame(1, 1, 8), Limits with { MaxRank = 3 }));
        Assert.Equal(ReasonCode.RankTooLarge, rank.Reason);
        var size = Assert.Throws<ProtocolViolationException>(() => ReadRequest(RequestFrame(1, 1, 8), Limits with { MaxElementsPerTensor = 8 }));
        Assert.Equal(ReasonCode.TensorTooLarge, size.Reason);
    }

    [Fact]
    public void AStringLongerThanTheLimitIsRejected()
    {
        var buffer = new ArrayBufferWriter<byte>();
        new HelloMessage { ClientId = new string('x', 3000) }.Write(buffer);
        var sequence = new ReadOnlySequence<byte>(buffer.WrittenMemory);
        Assert.True(FrameReader.TryReadFrame(ref sequence, Limits, out Frame frame));
        var e = Assert.Throws<ProtocolViolationException>(() => HelloMessage.Read(frame, Limits, new byte[frame.PayloadLength]));
        Assert.Equal(ReasonCode.StringTooLong, e.Reason);
    }

    [Fact]
    public void HandshakeResultErrorAndPingMessagesRoundTrip()
    {
        var buffer = new ArrayBufferWriter<byte>();
        var hello = new HelloMessage
        {
            ClientId = "edge-7",
            PlanId = "resnet-coach",
            TailName = "tail",
            PlanHash = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray(),
            ModelSha256 = Enumerable.Range(0, 32).Select(i => (byte)(255 - i)).ToArray(),
            Authentication = [1, 2, 3],
        };
        hello.Write(buffer);
        new HelloAckMessage { ConnectionId = 5, ServerId = "cloud", MaxBatch = 8, MaxInFlight = 64, MaxFrameBytes = 1 << 20 }.Write(buffer);
        new RejectMessage(ReasonCode.UnknownPlan, "no such plan").Write(buffer);
        ResultMessage.Write(buffer, new ResultMessage(99, 4, 3, 1500, 200, 1000, 1900, 10), [0, 1, 2, 3, 9, 5, 6, 7, 8, 0]);
        new ErrorMessage(12, ReasonCode.ShapeMismatch, "bad shape").Write(buffer);
        new PingMessage(123456, 77).Write(buffer);

        var sequence = ChunkSegment.Split(buffer.WrittenSpan.ToArray(), 5, 3);
        byte[] scratch = new byte[4096];
        Assert.True(FrameReader.TryReadFrame(ref sequence, Limits, out Frame f));
        HelloMessage helloBack = HelloMessage.Read(f, Limits, scratch);
        Assert.Equal(hello.ClientId, helloBack.ClientId);
        Assert.Equal(hello.PlanHash, helloBack.PlanHash);
        Assert.Equal(hello.ModelSha256, helloBack.ModelSha256);
        Assert.Equal(hello.Authentication, helloBack.Authentication);

        Assert.True(FrameReader.TryReadFrame(ref sequence, Limits, out f));
        HelloAckMessage ack = HelloAckMessage.Read(f, Limits, scratch);
        Assert.Equal((5u, 8, 64), (ack.ConnectionId, (int)ack.MaxBatch, ack.MaxInFlight));

        Assert.True(FrameReader.TryReadFrame(ref sequence, Limits, out f));
        Assert.Equal(new RejectMessage(ReasonCode.UnknownPlan, "no such plan"), RejectMessage.Read(f, Limits, scratch));

        Assert.True(FrameReader.TryReadFrame(ref sequence, Limits, out f));
        float[] logits = new float[10];
        ResultMessage result = ResultMessage.Read(f.GetPayloadSpan(scratch), Limits, logits);
        Assert.Equal(new ResultMessage(99, 4, 3, 1500, 200, 1000, 1900, 10), result);
        Assert.Equal(9f, logits[4]);

        Assert.True(FrameReader.TryReadFrame(ref sequence, Limits, out f));
        Assert.Equal(new ErrorMessage(12, ReasonCode.ShapeMismatch, "bad shape"), ErrorMessage.Read(f, Limits, scratch));

        Assert.True(FrameReader.TryReadFrame(ref sequence, Limits, out f));
        Assert.Equal(FrameType.Ping, f.Type);
        Assert.Equal(new PingMessage(123456, 77), PingMessage.Read(f.GetPayloadSpan(scratch)));
        Assert.True(sequence.IsEmpty);
    }

    private static RequestHeader ReadRequest(byte[] bytes, WireLimits limits)
    {
        var sequence = new ReadOnlySequence<byte>(bytes);
        Assert.True(FrameReader.TryReadFrame(ref sequence, limits, out Frame frame));
        return RequestReader.Read(frame.Payload.ToArray(), limits, new WireTensor[16]);
    }

    private static void AssertRejected(byte[] bytes, ReasonCode reason)
    {
        var sequence = ChunkSegment.Split(bytes, 3, 7);
        var e = Assert.Throws<ProtocolViolationException>(() => FrameReader.TryReadFrame(ref sequence, Limits, out _));
        Assert.Equal(reason, e.Reason);
    }
}
