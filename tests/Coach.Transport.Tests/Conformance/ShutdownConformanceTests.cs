using System.Diagnostics;

namespace Coach.Transport.Tests.Conformance;

/// <summary>
/// docs/protocol.md §1.7 and 308 ShuttingDown: SIGTERM and SIGINT make coach-cloud stop accepting,
/// say Goodbye (ShuttingDown), answer every request it received, and exit 0 within --drain-s.
/// </summary>
public sealed class ShutdownConformanceTests : IDisposable
{
    private readonly ConformancePlans _plans = new();

    public void Dispose() => _plans.Dispose();

    [Theory]
    [InlineData("TERM")]
    [InlineData("INT")]
    [Spec("§1.7", Reasons = [308], Frames = [SpecWire.Goodbye])]
    public async Task ASignalledCloudAnswersAllFiftyRequestsInFlightSaysGoodbyeAndExitsZero(string signal)
    {
        // Answers leave 300 ms late, so all 50 requests are still in flight when the signal arrives.
        await using CloudProcess cloud = await CloudProcess.StartAsync(_plans.PlansDirectory, "--keys", _plans.KeysDirectory, "--response-delay-ms", "300", "--drain-s", "10");
        var clients = new List<WireClient>();
        for (int c = 0; c < 5; c++)
        {
            clients.Add(await WireClient.HandshakeAsync(cloud.EndPoint, _plans));
        }

        for (int c = 0; c < clients.Count; c++)
        {
            var burst = new List<byte>();
            for (int r = 1; r <= 10; r++)
            {
                burst.AddRange(SpecWire.RequestFrame((ulong)((c * 100) + r), SpecWire.Tensor.ChaosCut(r % 10)));
            }

            await clients[c].SendAsync(burst.ToArray());
        }

        await Task.Delay(50); // on the cloud's socket, not yet answered
        var clock = Stopwatch.StartNew();
        cloud.Signal(signal);

        // Each edge, as §1.7 asks, says Goodbye once told the cloud shuts down, then reads to the close.
        List<SpecWire.Received>[] received = await Task.WhenAll(clients.Select(async client =>
        {
            var frames = new List<SpecWire.Received>();
            while (await client.ReceiveAsync() is { } frame)
            {
                frames.Add(frame);
                if (frame.Type == SpecWire.Goodbye)
                {
                    await client.SendAsync(SpecWire.Frame(SpecWire.Goodbye, SpecWire.ReasonPayload(0, "bye")));
                }
            }

            return frames;
        }));
        int exitCode = await cloud.WaitForExitAsync(TimeSpan.FromSeconds(20));
        double seconds = clock.Elapsed.TotalSeconds;

        var results = received.SelectMany(f => f).Where(f => f.Type == SpecWire.Result).Select(f => f.AsResult()).ToList();
        Assert.Equal(50, results.Count);
        Assert.Equal(50, results.Select(r => r.RequestId).Distinct().Count());
        Assert.All(results, r => Assert.Equal((int)(r.RequestId % 100 % 10), r.Label));
        Assert.All(received, frames => Assert.Single(frames, f => f.Type == SpecWire.Goodbye && f.Reason == 308));
        Assert.All(received, frames => Assert.DoesNotContain(frames, f => f.Type == SpecWire.Error));
        Assert.Equal(0, exitCode);
        Assert.True(seconds < 10, $"the drain took {seconds:0.0} s though every edge said Goodbye");
        Assert.Contains(cloud.Log, l => l.Contains($"SIG{signal}: stopping gracefully", StringComparison.Ordinal));
        foreach (WireClient client in clients)
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    [Spec("§1.7", Reasons = [308])]
    public async Task RequestsSentAfterTheGoodbyeAreStillAnsweredUntilTheEdgeSaysGoodbye()
    {
        await using CloudProcess cloud = await CloudProcess.StartAsync(_plans.PlansDirectory, "--keys", _plans.KeysDirectory, "--drain-s", "10");
        await using WireClient client = await WireClient.HandshakeAsync(cloud.EndPoint, _plans);
        cloud.Signal("TERM");
        SpecWire.Received goodbye = (await client.ReceiveAsync())!;
        Assert.Equal((SpecWire.Goodbye, (ushort)308), (goodbye.Type, goodbye.Reason));

        // Crossing the Goodbye on the wire: still answered.
        await client.SendAsync((byte[])[.. SpecWire.RequestFrame(1, SpecWire.Tensor.ChaosCut(4)), .. SpecWire.Frame(SpecWire.Goodbye, SpecWire.ReasonPayload(0, "bye"))]);
        List<SpecWire.Received> rest = await client.ReceiveUntilClosedAsync();
        Assert.Equal((SpecWire.Result, 1UL, 4), (Assert.Single(rest).Type, rest[0].AsResult().RequestId, rest[0].AsResult().Label));
        Assert.Equal(0, await cloud.WaitForExitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    [Spec("§1.7", Reasons = [308])]
    public async Task AnEdgeThatNeverSaysGoodbyeIsClosedWhenTheDrainRunsOutAndTheCloudStillExitsZero()
    {
        await using CloudProcess cloud = await CloudProcess.StartAsync(_plans.PlansDirectory, "--keys", _plans.KeysDirectory, "--drain-s", "1");
        await using WireClient silent = await WireClient.HandshakeAsync(cloud.EndPoint, _plans);
        await using WireClient handshaking = await WireClient.ConnectAsync(cloud.EndPoint);
        await Task.Delay(200); // accepted by the cloud, still in its handshake
        var clock = Stopwatch.StartNew();
        cloud.Signal("TERM");
        ConformanceAssert.ClosedWith(await silent.ReceiveUntilClosedAsync(), SpecWire.Goodbye, 308);
        ConformanceAssert.ClosedWith(await handshaking.ReceiveUntilClosedAsync(), SpecWire.Goodbye, 308);
        Assert.Equal(0, await cloud.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.5, 8);

        // Stopped accepting: nothing listens on the port any more.
        await Assert.ThrowsAnyAsync<System.Net.Sockets.SocketException>(async () => await WireClient.ConnectAsync(cloud.EndPoint));
    }
}
