using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace Coach.Transport.Tests.Conformance;

/// <summary>docs/protocol.md §1.1–§1.3, §4.1–§4.3, §4.7 and the 2xx codes of §6, against the real coach-cloud.</summary>
[Collection(ConformanceCollection.Name)]
public sealed class HandshakeConformanceTests(ConformanceCloud cloud)
{
    private ConformancePlans Plans => cloud.Plans;

    [Fact]
    [Spec("§1.1", Reasons = [200], Frames = [SpecWire.Reject, SpecWire.Ping])]
    public async Task AnyFirstFrameButHelloIsRejectedHandshakeRequired()
    {
        await using WireClient client = await WireClient.ConnectAsync(cloud.EndPoint);
        await client.SendAsync(SpecWire.Frame(SpecWire.Ping, SpecWire.PingPayload(1, 2)));
        ConformanceAssert.ClosedWith(await client.ReceiveUntilClosedAsync(), SpecWire.Reject, 200);
    }

    [Fact]
    [Spec("§1.1", Reasons = [206])]
    public async Task AHandshakeNotCompletedInTimeIsRejectedHandshakeTimeout()
    {
        // The cloud runs with --handshake-timeout-s 2. A client dripping its Hello one byte every
        // 300 ms is still dropped: the deadline is for the whole exchange, not per read.
        // The clock starts before the connect: the cloud's deadline starts after it, so the elapsed
        // time can only be longer than the cloud's, whatever the scheduling of this process.
        var clock = Stopwatch.StartNew();
        await using WireClient client = await WireClient.ConnectAsync(cloud.EndPoint);
        byte[] hello = SpecWire.Frame(SpecWire.Hello, SpecWire.HelloPayload(ConformancePlans.ClientId, Plans.ModelSha256, "chaos", Plans.PlanHash, "chaos", SpecWire.AuthField(new byte[32])));
        Task<List<SpecWire.Received>> answers = client.ReceiveUntilClosedAsync();
        for (int i = 0; i < 12 && !answers.IsCompleted; i++)
        {
            try
            {
                await client.SendAsync(hello.AsMemory(i, 1));
            }
            catch (System.Net.Sockets.SocketException)
            {
                break; // closed by the cloud
            }

            await Task.Delay(300);
        }

        List<SpecWire.Received> frames = await answers;
        Assert.InRange(clock.Elapsed.TotalSeconds, 1.95, 8);
        ConformanceAssert.ClosedWith(frames, SpecWire.Reject, 206);
    }

    [Fact]
    [Spec("§1.2", Reasons = [203])]
    public async Task AHelloWithoutAuthenticationIsRejectedAuthenticationRequired()
    {
        await using WireClient client = await WireClient.ConnectAsync(cloud.EndPoint);
        await client.SendAsync(SpecWire.Frame(SpecWire.Hello, SpecWire.HelloPayload(ConformancePlans.ClientId, Plans.ModelSha256, "chaos", Plans.PlanHash, "chaos", [])));
        ConformanceAssert.ClosedWith(await client.ReceiveUntilClosedAsync(), SpecWire.Reject, 203);
    }

    [Fact]
    [Spec("§1.2", Reasons = [203], Frames = [SpecWire.Challenge])]
    public async Task AnythingButAProofAfterTheChallengeIsRejectedAuthenticationRequired()
    {
        await using WireClient client = await WireClient.ConnectAsync(cloud.EndPoint);
        await client.SendAsync(SpecWire.Frame(SpecWire.Hello, SpecWire.HelloPayload(ConformancePlans.ClientId, Plans.ModelSha256, "chaos", Plans.PlanHash, "chaos", SpecWire.AuthField(new byte[32]))));
        Assert.Equal(SpecWire.Challenge, (await client.ReceiveAsync())!.Type);
        await client.SendAsync(SpecWire.RequestFrame(1, SpecWire.Tensor.ChaosCut(1)));
        ConformanceAssert.ClosedWith(await client.ReceiveUntilClosedAsync(), SpecWire.Reject, 203);
    }

    [Fact]
    [Spec("§1.3", Frames = [SpecWire.Hello, SpecWire.HelloAck, SpecWire.Challenge, SpecWire.Proof])]
    public async Task HelloAckCarriesTheLimitsAndTheServersProofOfTheKey()
    {
        await using WireClient client = await WireClient.ConnectAsync(cloud.EndPoint);
        byte[] clientNonce = RandomNumberGenerator.GetBytes(32);
        await client.SendAsync(SpecWire.Frame(SpecWire.Hello, SpecWire.HelloPayload(ConformancePlans.ClientId, Plans.ModelSha256, "chaos", Plans.PlanHash, "chaos", SpecWire.AuthField(clientNonce))));
        byte[] serverNonce = (await client.ReceiveAsync())!.Payload[1..];
        await client.SendAsync(SpecWire.Frame(SpecWire.Proof, SpecWire.AuthProof(Plans.Key, "client", ConformancePlans.ClientId, Plans.ModelSha256, Plans.PlanHash, clientNonce, serverNonce)));
        SpecWire.Received ack = (await client.ReceiveAsync())!;
        Assert.Equal(SpecWire.HelloAck, ack.Type);

        // §4.2: u16 version, u32 connection id, string server id, u16 max batch, i32 max in flight, i32 max frame bytes, bytes auth.
        byte[] p = ack.Payload;
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(p));
        int serverIdLength = BinaryPrimitives.ReadUInt16LittleEndian(p.AsSpan(6));
        Assert.StartsWith("coach-cloud@", Encoding.UTF8.GetString(p, 8, serverIdLength));
        int at = 8 + serverIdLength;
        Assert.InRange(BinaryPrimitives.ReadUInt16LittleEndian(p.AsSpan(at)), 1, 1024);
        Assert.Equal(256, BinaryPrimitives.ReadInt32LittleEndian(p.AsSpan(at + 2)));
        Assert.Equal(16 << 20, BinaryPrimitives.ReadInt32LittleEndian(p.AsSpan(at + 6)));
        Assert.Equal(32, BinaryPrimitives.ReadUInt16LittleEndian(p.AsSpan(at + 10)));
        Assert.Equal(SpecWire.AuthProof(Plans.Key, "server", ConformancePlans.ClientId, Plans.ModelSha256, Plans.PlanHash, clientNonce, serverNonce), p.AsSpan(at + 12, 32).ToArray());
        Assert.Equal(at + 44, p.Length);
    }

    [Fact]
    [Spec("§4.7", Reasons = [204])]
    public async Task AWrongProofAndAnUnknownClientIdAreTheSameRejectAuthenticationFailed()
    {
        await using WireClient wrongKey = await WireClient.ConnectAsync(cloud.EndPoint);
        SpecWire.Received known = await wrongKey.AuthenticateAsync(Plans, ConformancePlans.ClientId, RandomNumberGenerator.GetBytes(32));
        List<SpecWire.Received> knownRest = await wrongKey.ReceiveUntilClosedAsync();
        await using WireClient stranger = await WireClient.ConnectAsync(cloud.EndPoint);
        SpecWire.Received unknown = await stranger.AuthenticateAsync(Plans, "nobody-" + Guid.NewGuid().ToString("N")[..8], RandomNumberGenerator.GetBytes(32));
        List<SpecWire.Received> unknownRest = await stranger.ReceiveUntilClosedAsync();

        Assert.True(wrongKey.SawChallenge && stranger.SawChallenge, "both attempts must get a Challenge before the refusal");
        Assert.Equal((SpecWire.Reject, (ushort)204), (known.Type, known.Reason));
        Assert.Equal(known.Payload, unknown.Payload); // the same reason and the same words
        Assert.Empty(knownRest);
        Assert.Empty(unknownRest);
    }

    [Fact]
    [Spec("§4.7", Reasons = [204])]
    public async Task AMalformedAuthenticationFieldIsAuthenticationFailed()
    {
        await using WireClient client = await WireClient.ConnectAsync(cloud.EndPoint);
        await client.SendAsync(SpecWire.Frame(SpecWire.Hello, SpecWire.HelloPayload(ConformancePlans.ClientId, Plans.ModelSha256, "chaos", Plans.PlanHash, "chaos", [2, .. new byte[32]])));
        ConformanceAssert.ClosedWith(await client.ReceiveUntilClosedAsync(), SpecWire.Reject, 204);
    }

    [Fact]
    [Spec("§4.1", Reasons = [201])]
    public async Task AnUnknownPlanHashIsRejectedUnknownPlan()
    {
        await using WireClient client = await WireClient.ConnectAsync(cloud.EndPoint);
        SpecWire.Received answer = await client.AuthenticateAsync(Plans, ConformancePlans.ClientId, Plans.Key, planHash: RandomNumberGenerator.GetBytes(32));
        ConformanceAssert.ClosedWith([answer, .. await client.ReceiveUntilClosedAsync()], SpecWire.Reject, 201);
    }

    [Fact]
    [Spec("§4.1", Reasons = [202])]
    public async Task AnotherModelsHashIsRejectedModelMismatch()
    {
        await using WireClient client = await WireClient.ConnectAsync(cloud.EndPoint);
        SpecWire.Received answer = await client.AuthenticateAsync(Plans, ConformancePlans.ClientId, Plans.Key, modelSha256: RandomNumberGenerator.GetBytes(32));
        ConformanceAssert.ClosedWith([answer, .. await client.ReceiveUntilClosedAsync()], SpecWire.Reject, 202);
    }

    [Fact]
    [Spec("§4.1")]
    public async Task AZeroPlanHashFindsThePlanByIdThenByTailName()
    {
        await using (WireClient byId = await WireClient.ConnectAsync(cloud.EndPoint))
        {
            SpecWire.Received ack = await byId.AuthenticateAsync(Plans, ConformancePlans.ClientId, Plans.Key, planHash: new byte[32], planId: "chaos");
            Assert.Equal(SpecWire.HelloAck, ack.Type);
        }

        // A zero hash with a plan id that does not exist: no tail is guessed.
        await using WireClient unknown = await WireClient.ConnectAsync(cloud.EndPoint);
        SpecWire.Received refused = await unknown.AuthenticateAsync(Plans, ConformancePlans.ClientId, Plans.Key, planHash: new byte[32], planId: "no-such-plan");
        Assert.Equal((SpecWire.Reject, (ushort)201), (refused.Type, refused.Reason));
    }

    [Fact]
    [Spec("§7", Reasons = [101])]
    public async Task AHelloOfAnotherProtocolVersionIsRejectedUnsupportedVersion()
    {
        await using WireClient client = await WireClient.ConnectAsync(cloud.EndPoint);
        SpecWire.Received answer = await client.AuthenticateAsync(Plans, ConformancePlans.ClientId, Plans.Key, version: 2);
        ConformanceAssert.ClosedWith([answer, .. await client.ReceiveUntilClosedAsync()], SpecWire.Reject, 101);
    }

    [Fact]
    [Spec("§5", Reasons = [111])]
    public async Task AStringOverMaxStringBytesIsStringTooLong()
    {
        await using WireClient client = await WireClient.ConnectAsync(cloud.EndPoint);
        await client.SendAsync(SpecWire.Frame(SpecWire.Hello, SpecWire.HelloPayload(new string('e', 1025), Plans.ModelSha256, "chaos", Plans.PlanHash, "chaos", SpecWire.AuthField(new byte[32]))));
        ConformanceAssert.ClosedWith(await client.ReceiveUntilClosedAsync(), SpecWire.Error, 111);
    }

    [Fact]
    [Spec("§5", Reasons = [205])]
    public async Task AConnectionOverMaxConnectionsIsRejectedServerBusy()
    {
        await using CloudProcess busy = await CloudProcess.StartAsync(Plans.PlansDirectory, "--keys", Plans.KeysDirectory, "--max-connections", "1");
        await using WireClient first = await WireClient.HandshakeAsync(busy.EndPoint, Plans);
        await using WireClient second = await WireClient.ConnectAsync(busy.EndPoint);
        ConformanceAssert.ClosedWith(await second.ReceiveUntilClosedAsync(), SpecWire.Reject, 205);
    }
}
