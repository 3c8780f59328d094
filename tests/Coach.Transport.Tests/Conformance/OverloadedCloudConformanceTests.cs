namespace Coach.Transport.Tests.Conformance;

/// <summary>A coach-cloud that sheds a request finding one of its plan's requests already waiting, runs batches of one and
/// holds each batch's answers 20 ms, so a burst queues.</summary>
public sealed class OverloadedCloud() : CloudFixture("--shed-queue-depth", "1", "--max-batch", "1", "--max-wait-ms", "0", "--response-delay-ms", "20");

/// <summary>docs/protocol.md §6, 310 Overloaded, against a real coach-cloud that sheds (docs/fleet.md).</summary>
public sealed class OverloadedCloudConformanceTests(OverloadedCloud cloud) : IClassFixture<OverloadedCloud>
{
    [Fact]
    [Spec("§6", Reasons = [310])]
    public async Task ABurstPastTheShedDepthIsAnsweredOverloadedAtOnceAndTheRestWithResultsEachOnce()
    {
        await using WireClient client = await WireClient.HandshakeAsync(cloud.Process.EndPoint, cloud.Plans);
        const int Sent = 100;
        var burst = new List<byte>();
        for (ulong id = 1; id <= Sent; id++)
        {
            burst.AddRange(SpecWire.RequestFrame(id, SpecWire.Tensor.ChaosCut((int)(id % 10))));
        }

        await client.SendAsync(burst.ToArray());
        var answered = new HashSet<ulong>();
        int shed = 0, results = 0;
        while (answered.Count < Sent)
        {
            SpecWire.Received answer = (await client.ReceiveAsync())!;
            if (answer.Type == SpecWire.Result)
            {
                var (id, label, _, _) = answer.AsResult();
                Assert.True(answered.Add(id), $"request {id} answered twice");
                Assert.Equal((int)(id % 10), label);
                results++;
            }
            else
            {
                Assert.Equal(SpecWire.Error, answer.Type);
                var (id, reason, message) = answer.AsError();
                Assert.True(answered.Add(id), $"request {id} answered twice");
                Assert.Equal(310, reason);
                Assert.Contains("overloaded", message, StringComparison.Ordinal);
                ConformanceAssert.NoRuntimeText(answer);
                shed++;
            }
        }

        // The connection parses the burst far faster than batches of one run, so some requests find one waiting; the first
        // request finds none, so some are answered.
        Assert.InRange(shed, 1, Sent - 1);
        Assert.Equal(Sent, shed + results);
        await client.SendAsync(SpecWire.Frame(SpecWire.Ping, SpecWire.PingPayload(1, 1)));
        Assert.Equal(SpecWire.Pong, (await client.ReceiveAsync())!.Type); // the connection stays and nothing else came
    }
}
