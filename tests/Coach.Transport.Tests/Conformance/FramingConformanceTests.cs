using System.Buffers.Binary;

namespace Coach.Transport.Tests.Conformance;

/// <summary>
/// docs/protocol.md §1 (violations), §2 (header), §3 (frame types) and the 1xx codes of §6, against
/// the real coach-cloud: every framing fault is answered Error(0, code) and closes that connection.
/// </summary>
[Collection(ConformanceCollection.Name)]
public sealed class FramingConformanceTests(ConformanceCloud cloud)
{
    private static readonly byte[] GoodPing = SpecWire.PingPayload(42, 7);

    /// <summary>Sends <paramref name="bytes"/> after a successful handshake; every frame until the close.</summary>
    private async Task<List<SpecWire.Received>> AfterHandshakeAsync(byte[] bytes, bool endStream = false)
    {
        await using WireClient client = await WireClient.HandshakeAsync(cloud.EndPoint, cloud.Plans);
        await client.SendAsync(bytes);
        if (endStream)
        {
            client.ShutdownSend();
        }

        return await client.ReceiveUntilClosedAsync();
    }

    [Fact]
    [Spec("§2", Reasons = [100], Frames = [SpecWire.Error])]
    public async Task AWrongMagicIsBadMagic() =>
        ConformanceAssert.ClosedWith(await AfterHandshakeAsync(SpecWire.Frame(SpecWire.Ping, GoodPing, magic: 0x43484F43)), SpecWire.Error, 100);

    [Fact]
    [Spec("§7", Reasons = [101])]
    public async Task AnotherHeaderVersionIsUnsupportedVersion() =>
        ConformanceAssert.ClosedWith(await AfterHandshakeAsync(SpecWire.Frame(SpecWire.Ping, GoodPing, version: 2)), SpecWire.Error, 101);

    [Fact]
    [Spec("§2", Reasons = [102])]
    public async Task ACorruptHeaderIsCaughtByItsOwnChecksumBeforeTheLengthIsUsed()
    {
        // The length says 1 GiB: were it trusted, the server would wait for (or size a buffer for) it.
        byte[] frame = SpecWire.Frame(SpecWire.Ping, GoodPing);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(8), 1 << 30);
        ConformanceAssert.ClosedWith(await AfterHandshakeAsync(frame), SpecWire.Error, 102);
    }

    [Fact]
    [Spec("§2", Reasons = [103])]
    public async Task ACorruptPayloadIsPayloadChecksumMismatch()
    {
        byte[] frame = SpecWire.Frame(SpecWire.Ping, GoodPing);
        frame[^1] ^= 0x5A;
        ConformanceAssert.ClosedWith(await AfterHandshakeAsync(frame), SpecWire.Error, 103);
    }

    [Fact]
    [Spec("§5", Reasons = [104])]
    public async Task ALengthOverMaxFrameBytesIsRefusedBeforeThePayloadArrives() =>
        ConformanceAssert.ClosedWith(await AfterHandshakeAsync(SpecWire.Frame(SpecWire.Request, [], declaredLength: (16 << 20) + 1)), SpecWire.Error, 104);

    [Theory]
    [InlineData(0)]
    [InlineData(10)]
    [InlineData(18)]
    [InlineData(31)]
    [InlineData(200)]
    [Spec("§3", Reasons = [105])]
    public async Task AnUndefinedOrReservedFrameTypeIsUnknownFrameType(byte type) =>
        ConformanceAssert.ClosedWith(await AfterHandshakeAsync(SpecWire.Frame(type, GoodPing)), SpecWire.Error, 105);

    [Fact]
    [Spec("§3", Reasons = [106])]
    public async Task APingShorterThanSixteenBytesIsTruncatedPayload() =>
        ConformanceAssert.ClosedWith(await AfterHandshakeAsync(SpecWire.Frame(SpecWire.Ping, GoodPing[..8])), SpecWire.Error, 106);

    [Fact]
    [Spec("§3", Reasons = [106, 107], Frames = [SpecWire.Pong])]
    public async Task APongOfTheWrongLengthIsAnsweredLikeAPingOfTheWrongLength()
    {
        ConformanceAssert.ClosedWith(await AfterHandshakeAsync(SpecWire.Frame(SpecWire.Pong, GoodPing[..8])), SpecWire.Error, 106);
        ConformanceAssert.ClosedWith(await AfterHandshakeAsync(SpecWire.Frame(SpecWire.Pong, [.. GoodPing, 1, 2, 3, 4])), SpecWire.Error, 107);
        // Not silent: both closes are logged with the reason, as for a Ping.
        Assert.Contains("closed: TruncatedPayload", await cloud.Process.WaitForLogAsync("Pong payload of 8 bytes", TimeSpan.FromSeconds(5)));
        Assert.Contains("closed: MalformedPayload", await cloud.Process.WaitForLogAsync("trailing bytes in a Pong frame", TimeSpan.FromSeconds(5)));
    }

    [Fact]
    [Spec("§3", Reasons = [107], Frames = [SpecWire.Ping])]
    public async Task TrailingBytesAfterAPayloadAreMalformedPayload() =>
        ConformanceAssert.ClosedWith(await AfterHandshakeAsync(SpecWire.Frame(SpecWire.Ping, [.. GoodPing, 0])), SpecWire.Error, 107);

    [Fact]
    [Spec("§1", Reasons = [112], Frames = [SpecWire.HelloAck, SpecWire.Result])]
    public async Task AFrameNotAllowedAfterTheHandshakeIsUnexpectedFrame()
    {
        ConformanceAssert.ClosedWith(await AfterHandshakeAsync(SpecWire.Frame(SpecWire.Result, new byte[16])), SpecWire.Error, 112);
        ConformanceAssert.ClosedWith(await AfterHandshakeAsync(SpecWire.Frame(SpecWire.HelloAck, new byte[16])), SpecWire.Error, 112);
    }

    [Fact]
    [Spec("§1", Reasons = [113])]
    public async Task AStreamThatEndsInsideAFrameIsConnectionClosedMidFrame()
    {
        byte[] frame = SpecWire.Frame(SpecWire.Ping, GoodPing);
        ConformanceAssert.ClosedWith(await AfterHandshakeAsync(frame[..25], endStream: true), SpecWire.Error, 113);
    }

    [Fact]
    [Spec("§2")]
    public async Task FramesMaySplitAcrossAnyNumberOfReads()
    {
        await using WireClient client = await WireClient.HandshakeAsync(cloud.EndPoint, cloud.Plans);
        byte[] request = SpecWire.RequestFrame(1, SpecWire.Tensor.ChaosCut(3));
        foreach (byte b in request)
        {
            await client.SendAsync(new[] { b });
        }

        SpecWire.Received answer = (await client.ReceiveAsync())!;
        Assert.Equal(SpecWire.Result, answer.Type);
        Assert.Equal((1UL, 3), (answer.AsResult().RequestId, answer.AsResult().Label));
    }

    [Fact]
    [Spec("§1")]
    public async Task AViolationClosesThatConnectionOnlyAndIsLoggedWithThePeerAndClient()
    {
        await using WireClient healthy = await WireClient.HandshakeAsync(cloud.EndPoint, cloud.Plans);
        List<SpecWire.Received> frames = await AfterHandshakeAsync(SpecWire.Frame(SpecWire.Ping, GoodPing, magic: 1));
        ConformanceAssert.ClosedWith(frames, SpecWire.Error, 100);
        string line = await cloud.Process.WaitForLogAsync("closed: BadMagic", TimeSpan.FromSeconds(5));
        Assert.Contains($"client {ConformancePlans.ClientId}", line);
        Assert.Contains("127.0.0.1:", line);

        await healthy.SendAsync(SpecWire.RequestFrame(9, SpecWire.Tensor.ChaosCut(4)));
        SpecWire.Received answer = (await healthy.ReceiveAsync())!;
        Assert.Equal((SpecWire.Result, 9UL, 4), (answer.Type, answer.AsResult().RequestId, answer.AsResult().Label));
    }
}
