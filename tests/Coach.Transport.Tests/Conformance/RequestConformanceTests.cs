
namespace Coach.Transport.Tests.Conformance;

/// <summary>docs/protocol.md §1.4–§1.7, §4.4–§4.6 and the 3xx codes of §6, against the real coach-cloud.</summary>
[Collection(ConformanceCollection.Name)]
public sealed class RequestConformanceTests(ConformanceCloud cloud)
{
    private static SpecWire.Tensor Cut(int label = 2) => SpecWire.Tensor.ChaosCut(label);

    /// <summary>Sends one Request after the handshake; its answer, and a check that the connection still serves.</summary>
    private async Task<SpecWire.Received> AnswerStaysOpenAsync(SpecWire.Tensor tensor)
    {
        await using WireClient client = await WireClient.HandshakeAsync(cloud.EndPoint, cloud.Plans);
        await client.SendAsync(SpecWire.RequestFrame(11, tensor));
        SpecWire.Received answer = (await client.ReceiveAsync())!;
        await client.SendAsync(SpecWire.RequestFrame(12, Cut(5)));
        SpecWire.Received next = (await client.ReceiveAsync())!;
        Assert.True(next.Type == SpecWire.Result && next.AsResult() is (12, 5, _, _), $"the connection did not stay open after a per-request Error: {next}");
        ConformanceAssert.NoRuntimeText(answer);
        return answer;
    }

    private static void IsError(SpecWire.Received answer, ulong requestId, ushort reason) =>
        Assert.True(answer.Type == SpecWire.Error && answer.AsError().RequestId == requestId && answer.Reason == reason, $"expected Error(request {requestId}, {reason}), got {answer}");

    private async Task<List<SpecWire.Received>> ClosedAfterAsync(byte[] request)
    {
        await using WireClient client = await WireClient.HandshakeAsync(cloud.EndPoint, cloud.Plans);
        await client.SendAsync(request);
        return await client.ReceiveUntilClosedAsync();
    }

    [Fact]
    [Spec("§1.4", Frames = [SpecWire.Request, SpecWire.Result])]
    public async Task EveryRequestIsAnsweredExactlyOnceWithItsIdInAnyOrder()
    {
        await using WireClient client = await WireClient.HandshakeAsync(cloud.EndPoint, cloud.Plans);
        var burst = new List<byte>();
        for (ulong id = 1; id <= 40; id++)
        {
            burst.AddRange(SpecWire.RequestFrame(id, Cut((int)(id % 10))));
        }

        await client.SendAsync(burst.ToArray());
        var labels = new Dictionary<ulong, int>();
        while (labels.Count < 40)
        {
            SpecWire.Received answer = (await client.ReceiveAsync())!;
            Assert.Equal(SpecWire.Result, answer.Type);
            var (id, label, batch, logits) = answer.AsResult();
            Assert.True(labels.TryAdd(id, label), $"request {id} answered twice");
            Assert.InRange(batch, 1, 8);
            Assert.Equal(0, logits);
        }

        Assert.All(labels, pair => Assert.Equal((int)(pair.Key % 10), pair.Value));
    }

    [Fact]
    [Spec("§2", Frames = [SpecWire.Result])]
    public async Task WantLogitsReturnsTheLogits()
    {
        await using WireClient client = await WireClient.HandshakeAsync(cloud.EndPoint, cloud.Plans);
        await client.SendAsync(SpecWire.Frame(SpecWire.Request, SpecWire.RequestPayload(3, [Cut(6)]), flags: 1));
        SpecWire.Received answer = (await client.ReceiveAsync())!;
        Assert.Equal((3UL, 6, (ushort)10), (answer.AsResult().RequestId, answer.AsResult().Label, answer.AsResult().LogitCount));
        Assert.Equal(40 + (10 * 4), answer.Payload.Length);
    }

    [Fact]
    [Spec("§1.5", Frames = [SpecWire.Ping, SpecWire.Pong])]
    public async Task APingIsAnsweredByAPongWithTheSamePayload()
    {
        await using WireClient client = await WireClient.HandshakeAsync(cloud.EndPoint, cloud.Plans);
        byte[] payload = SpecWire.PingPayload(123_456_789, 0xFEEDFACE);
        await client.SendAsync(SpecWire.Frame(SpecWire.Ping, payload));
        SpecWire.Received pong = (await client.ReceiveAsync())!;
        Assert.Equal(SpecWire.Pong, pong.Type);
        Assert.Equal(payload, pong.Payload);

        // A well-formed Pong from the edge is taken without an answer; the connection serves on.
        await client.SendAsync(SpecWire.Frame(SpecWire.Pong, payload));
        await client.SendAsync(SpecWire.RequestFrame(2, Cut(8)));
        Assert.Equal(SpecWire.Result, (await client.ReceiveAsync())!.Type);
    }

    [Fact]
    [Spec("§3", Frames = [SpecWire.Error])]
    public async Task AnErrorFromTheEdgeIsLoggedAndTheConnectionStays()
    {
        await using WireClient client = await WireClient.HandshakeAsync(cloud.EndPoint, cloud.Plans);
        await client.SendAsync(SpecWire.Frame(SpecWire.Error, SpecWire.ErrorPayload(0, 305, "edge camera lost\nforged line")));
        await client.SendAsync(SpecWire.Frame(SpecWire.Ping, SpecWire.PingPayload(5, 5)));
        Assert.Equal(SpecWire.Pong, (await client.ReceiveAsync())!.Type);
        string line = await cloud.Process.WaitForLogAsync("edge camera lost", TimeSpan.FromSeconds(5));
        Assert.Contains("reports TailFailed for the connection", line);
        Assert.DoesNotContain(cloud.Process.Log, l => l.StartsWith("forged line", StringComparison.Ordinal));
    }

    [Fact]
    [Spec("§1.6", Reasons = [309], Frames = [SpecWire.Goodbye])]
    public async Task AnIdleConnectionIsToldGoodbyeIdleTimeout()
    {
        // Started before the handshake: the cloud's idle clock starts after it, so this can only read longer.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await using WireClient client = await WireClient.HandshakeAsync(cloud.EndPoint, cloud.Plans);
        List<SpecWire.Received> frames = await client.ReceiveUntilClosedAsync(TimeSpan.FromSeconds(30));
        Assert.InRange(clock.Elapsed.TotalSeconds, 4.95, 25); // --idle-timeout-s 5
        ConformanceAssert.ClosedWith(frames, SpecWire.Goodbye, 309);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    [Spec("§1.7", Frames = [SpecWire.Goodbye])]
    public async Task AfterTheEdgesGoodbyeOrEndOfStreamWhatIsInFlightIsAnsweredThenTheCloudCloses(bool closeSendingSide)
    {
        await using WireClient client = await WireClient.HandshakeAsync(cloud.EndPoint, cloud.Plans);
        var burst = new List<byte>();
        for (ulong id = 1; id <= 20; id++)
        {
            burst.AddRange(SpecWire.RequestFrame(id, Cut(1)));
        }

        if (!closeSendingSide)
        {
            burst.AddRange(SpecWire.Frame(SpecWire.Goodbye, SpecWire.ReasonPayload(0, "done")));
        }

        await client.SendAsync(burst.ToArray());
        if (closeSendingSide)
        {
            client.ShutdownSend();
        }

        List<SpecWire.Received> frames = await client.ReceiveUntilClosedAsync();
        Assert.Equal(20, frames.Count(f => f.Type == SpecWire.Result));
        Assert.Equal(20, frames.Select(f => f.AsResult().RequestId).Distinct().Count());
    }

    [Fact]
    [Spec("§4.4", Reasons = [303])]
    public async Task DimensionsIncludeTheBatchDimensionOfOne()
    {
        IsError(await AnswerStaysOpenAsync(Cut() with { Dims = [4, 2, 2] }), 11, 303);
        IsError(await AnswerStaysOpenAsync(Cut() with { Dims = [2, 4, 2, 1] }), 11, 303);
        IsError(await AnswerStaysOpenAsync(Cut() with { Dims = [1, 16] }), 11, 303);
    }

    [Fact]
    [Spec("§4.4", Reasons = [300])]
    public async Task AnUnknownCompressionIsUnsupportedCompression() =>
        IsError(await AnswerStaysOpenAsync(Cut() with { Compression = 7 }), 11, 300);

    [Fact]
    [Spec("§4.4", Reasons = [301])]
    public async Task AnotherElementTypeIsUnsupportedElementType() =>
        IsError(await AnswerStaysOpenAsync(Cut() with { ElementType = 10 }), 11, 301);

    [Fact]
    [Spec("§4.4", Reasons = [302])]
    public async Task BitsOutsideOneToEightAndThirtyTwoAreUnsupportedBits() =>
        IsError(await AnswerStaysOpenAsync(Cut() with { Bits = 12 }), 11, 302);

    [Fact]
    [Spec("§4.4", Reasons = [304])]
    public async Task AMissingOrOutOfRangeOrdinalIsTensorMissing()
    {
        IsError(await AnswerStaysOpenAsync(Cut() with { Ordinal = 3 }), 11, 304);
        await using WireClient client = await WireClient.HandshakeAsync(cloud.EndPoint, cloud.Plans);
        await client.SendAsync(SpecWire.Frame(SpecWire.Request, SpecWire.RequestPayload(4, [])));
        IsError((await client.ReceiveAsync())!, 4, 304);
    }

    [Fact]
    [Spec("§4.4", Reasons = [107])]
    public async Task ARepeatedOrdinalIsAStructuralFaultThatCloses() =>
        ConformanceAssert.ClosedWith(await ClosedAfterAsync(SpecWire.Frame(SpecWire.Request, SpecWire.RequestPayload(5, [Cut(), Cut()]))), SpecWire.Error, 107);

    [Theory]
    [InlineData(-1f)]
    [InlineData(0f)]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [Spec("§4.4", Reasons = [107])]
    public async Task AUaqScaleThatIsNotFiniteAndPositiveIsMalformedPayloadAndCloses(float scale) =>
        ConformanceAssert.ClosedWith(await ClosedAfterAsync(SpecWire.RequestFrame(6, Cut() with { Scale = scale })), SpecWire.Error, 107);

    [Fact]
    [Spec("§4.4", Reasons = [107])]
    public async Task AnLz4BlockThatDoesNotDecodeIsMalformedPayloadAndCloses()
    {
        // The cloud always decodes LZ4 (a managed codec), so a block that does not decode is a malformed payload.
        var garbage = Cut() with { Compression = 1, Data = [0xF0, 1, 2, 3, 4, 5, 6] };
        ConformanceAssert.ClosedWith(await ClosedAfterAsync(SpecWire.RequestFrame(7, garbage)), SpecWire.Error, 107);
    }

    [Fact]
    [Spec("§4.4", Reasons = [107])]
    public async Task RequestIdZeroAndADataLengthThatIsNotThePackedSizeAreMalformedPayload()
    {
        ConformanceAssert.ClosedWith(await ClosedAfterAsync(SpecWire.RequestFrame(0, Cut())), SpecWire.Error, 107);
        // PackedByteCount(16 values, 8 bits) = 16: one byte short is structural.
        ConformanceAssert.ClosedWith(await ClosedAfterAsync(SpecWire.RequestFrame(8, Cut() with { Data = new byte[15] })), SpecWire.Error, 107);
    }

    [Fact]
    [Spec("§4.4")]
    public async Task PackedBytesAreDenseLsbFirstCodes()
    {
        // 4-bit codes: value i of the tensor is the low nibble of byte i/2 when i is even. With s = 1,
        // z = 0, the element j = label gets code 15 and the rest 0 or 1, so the label decides the argmax.
        const int label = 7;
        byte[] packed = new byte[8];
        for (int j = 0; j < 16; j++)
        {
            int code = j % 10 == label ? 15 : j % 2;
            packed[j / 2] |= (byte)(code << (4 * (j % 2)));
        }

        await using WireClient client = await WireClient.HandshakeAsync(cloud.EndPoint, cloud.Plans);
        await client.SendAsync(SpecWire.RequestFrame(21, new SpecWire.Tensor(0, 1, 4, 0, [1, 4, 2, 2], 1f, 0, packed)));
        SpecWire.Received answer = (await client.ReceiveAsync())!;
        Assert.Equal((21UL, label), (answer.AsResult().RequestId, answer.AsResult().Label));
    }

    [Fact]
    [Spec("§5", Reasons = [108, 109, 110])]
    public async Task TensorCountsRanksAndSizesOverTheLimitsAreRefusedBeforeAllocation()
    {
        ConformanceAssert.ClosedWith(await ClosedAfterAsync(SpecWire.Frame(SpecWire.Request, SpecWire.RequestPayload(1, [Cut()], declaredCount: 17))), SpecWire.Error, 108);
        ConformanceAssert.ClosedWith(await ClosedAfterAsync(SpecWire.RequestFrame(1, Cut() with { Dims = [1, 1, 1, 4, 2, 2, 1] })), SpecWire.Error, 109);
        // 2^31 elements announced in a small frame: checked factor by factor, before any buffer is sized.
        ConformanceAssert.ClosedWith(await ClosedAfterAsync(SpecWire.RequestFrame(1, Cut() with { Dims = [1, 65536, 32768] })), SpecWire.Error, 110);
    }
}
