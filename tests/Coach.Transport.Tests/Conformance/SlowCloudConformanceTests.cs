namespace Coach.Transport.Tests.Conformance;

/// <summary>A coach-cloud whose answers leave 1 s late and whose batches wait 100 ms for company, so requests stay in flight.</summary>
public sealed class SlowCloud() : CloudFixture("--response-delay-ms", "1000", "--max-wait-ms", "100");

/// <summary>docs/protocol.md §5 (in-flight limit, duplicate ids) and 305 TailFailed of §6, against a slow real coach-cloud.</summary>
public sealed class SlowCloudConformanceTests(SlowCloud cloud, ITestOutputHelper output) : IClassFixture<SlowCloud>
{
    [Fact]
    [Spec("§5", Reasons = [307])]
    public async Task ARequestIdAlreadyInFlightIsDuplicateRequestIdAndTheOriginalIsAnsweredOnce()
    {
        await using WireClient client = await WireClient.HandshakeAsync(cloud.Process.EndPoint, cloud.Plans);
        byte[] request = SpecWire.RequestFrame(77, SpecWire.Tensor.ChaosCut(9));
        await client.SendAsync((byte[])[.. request, .. request]);
        var answers = new List<SpecWire.Received> { (await client.ReceiveAsync())!, (await client.ReceiveAsync())! };
        Assert.Single(answers, a => a.Type == SpecWire.Error && a.AsError() is (77, 307, _));
        Assert.Single(answers, a => a.Type == SpecWire.Result && a.AsResult() is (77, 9, _, _));
        await client.SendAsync(SpecWire.Frame(SpecWire.Ping, SpecWire.PingPayload(1, 1)));
        Assert.Equal(SpecWire.Pong, (await client.ReceiveAsync())!.Type); // nothing else was answered in between
    }

    [Fact]
    [Spec("§5", Reasons = [306])]
    public async Task RequestsOverTheAnnouncedInFlightLimitAreTooManyInFlightAndEachIsAnsweredOnce()
    {
        await using WireClient client = await WireClient.HandshakeAsync(cloud.Process.EndPoint, cloud.Plans);
        const int Sent = 300; // HelloAck announces 256
        var burst = new List<byte>();
        for (ulong id = 1; id <= Sent; id++)
        {
            burst.AddRange(SpecWire.RequestFrame(id, SpecWire.Tensor.ChaosCut((int)(id % 10))));
        }

        await client.SendAsync(burst.ToArray());
        var answered = new HashSet<ulong>();
        int refused = 0;
        while (answered.Count < Sent)
        {
            SpecWire.Received answer = (await client.ReceiveAsync())!;
            ulong id = answer.Type == SpecWire.Result ? answer.AsResult().RequestId : answer.AsError().RequestId;
            Assert.True(answered.Add(id), $"request {id} answered twice");
            if (answer.Type == SpecWire.Error)
            {
                Assert.Equal(306, answer.Reason);
                refused++;
            }
        }

        // Exactly Sent − 256 when no answer leaves during the burst (the 1 s delay); fewer, never more, if some do.
        Assert.InRange(refused, 1, Sent - 256);
    }

    [Fact]
    [Spec("§6", Reasons = [305])]
    public async Task ATailThatFailsAnswersEachRequestOfTheBatchWithTailFailed()
    {
        await using WireClient client = await WireClient.ConnectAsync(cloud.Process.EndPoint);
        SpecWire.Received ack = await client.AuthenticateAsync(cloud.Plans, ConformancePlans.ClientId, cloud.Plans.Key, planHash: cloud.Plans.FragilePlanHash, modelSha256: new byte[32], planId: "fragile");
        Assert.Equal(SpecWire.HelloAck, ack.Type);

        // Two requests in one write join one batch (max wait 100 ms); this tail runs batches of one only.
        await client.SendAsync((byte[])[.. SpecWire.RequestFrame(1, SpecWire.Tensor.ChaosCut(1)), .. SpecWire.RequestFrame(2, SpecWire.Tensor.ChaosCut(2))]);
        SpecWire.Received[] answers;
        try
        {
            answers = [(await client.ReceiveAsync())!, (await client.ReceiveAsync())!];
        }
        finally
        {
            output.WriteLine(string.Join('\n', cloud.Process.Log));
        }

        Assert.All(answers, a => Assert.True(a.Type == SpecWire.Error && a.Reason == 305, $"expected TailFailed, got {a}"));
        Assert.Equal([1UL, 2UL], answers.Select(a => a.AsError().RequestId).Order());
        Assert.All(answers, ConformanceAssert.NoRuntimeText);
        await cloud.Process.WaitForLogAsync("tail of plan fragile failed on a batch of 2", TimeSpan.FromSeconds(5));
    }
}
