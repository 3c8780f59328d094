using System.Collections.Concurrent;
using System.Net;
using Coach.Transport.Edge;
using Coach.Transport.Faults;
using Coach.Transport.Security;

namespace Coach.Transport.Tests.Conformance;

/// <summary>
/// docs/protocol.md §1.7 from the edge's side: a rolling restart behind a load balancer (a second
/// coach-cloud started, the balancer pointed at it, the first stopped with SIGTERM) loses no frame
/// of an edge run (<see cref="EdgeRun"/>, the code of <c>coach-edge run</c>), even without the
/// full-model fallback: the first cloud answers what it received, new frames wait for the second.
/// </summary>
public sealed class EdgeRestartConformanceTests(ITestOutputHelper output) : IDisposable
{
    private readonly ConformancePlans _plans = new();

    public void Dispose() => _plans.Dispose();

    [Fact]
    [Spec("§1.7", Reasons = [308], Frames = [SpecWire.Goodbye])]
    public async Task AnEdgeRunLosesNoFrameAcrossACloudRestartBySigterm()
    {
        string[] arguments = ["--keys", _plans.KeysDirectory, "--drain-s", "10"];
        CloudProcess first = await CloudProcess.StartAsync(_plans.PlansDirectory, arguments);
        CloudProcess? second = null;
        await using var balancer = new FaultProxy(first.EndPoint, new IPEndPoint(IPAddress.Loopback, 0));
        balancer.Start();
        var log = new ConcurrentQueue<string>();
        const int Frames = 1800;
        int taken = 0;
        var options = new EdgeRunOptions
        {
            Cloud = balancer.LocalEndPoint,
            ClientId = ConformancePlans.ClientId,
            Key = new PreSharedKey(_plans.Key),
            Fallback = false, // a frame the cloud does not answer would fail: nothing hides a loss
            Reconnect = true,
            FramesPerSecond = 300,
            Log = log.Enqueue,
        };
        try
        {
            PlanDirectory plan = PlanDirectory.Load(_plans.ChaosDirectory);
            Task<(EdgeRunSummary Summary, EdgePipeline Pipeline)> run = EdgeRun.RunAsync(plan, new ChaosPlan.Source(Frames, _ => Interlocked.Increment(ref taken)), new FixedBitsScheduler(), options);
            while (Volatile.Read(ref taken) < 250 && !run.IsCompleted)
            {
                await Task.Delay(10);
            }

            // The rolling restart: the new cloud first, the balancer pointed at it, then SIGTERM to the old one mid-stream.
            second = await CloudProcess.StartAsync(_plans.PlansDirectory, arguments);
            balancer.Upstream = second.EndPoint;
            int takenAtSignal = Volatile.Read(ref taken);
            first.Signal("TERM");
            int exitCode = await first.WaitForExitAsync(TimeSpan.FromSeconds(30));
            var (summary, _) = await run.WaitAsync(TimeSpan.FromSeconds(60));
            output.WriteLine($"edge: {summary.FramesAnswered}/{summary.FramesSent} answered, {summary.FramesFailed} failed, {summary.RequestsAnswered} by the clouds, {summary.FallbackAnswers} on the edge, {summary.Reconnects} reconnect(s); SIGTERM at frame {takenAtSignal}; first cloud exit code {exitCode}");
            foreach (string line in log)
            {
                output.WriteLine(line);
            }

            Assert.Equal(Frames, summary.FramesSent);
            Assert.Equal(Frames, summary.FramesAnswered);
            Assert.Equal(0, summary.FramesFailed);
            Assert.Equal(Frames, summary.RequestsAnswered); // every frame by a cloud: none lost, none answered locally
            Assert.Equal(1.0, summary.Accuracy);
            Assert.True(summary.Reconnects >= 1, "the edge never moved to the second cloud");
            Assert.Contains(log, l => l.Contains("the cloud is shutting down", StringComparison.Ordinal));
            Assert.Equal(0, exitCode);
            Assert.InRange(takenAtSignal, 1, Frames - 100); // the signal came mid-stream
        }
        finally
        {
            await first.DisposeAsync();
            if (second is not null)
            {
                await second.DisposeAsync();
            }
        }
    }

    [Fact]
    [Spec("§1.7")]
    public async Task AStoppedEdgeTakesNoNewFrameAndFinishesTheFramesTaken()
    {
        // What coach-edge run does on SIGTERM/SIGINT (EdgeRunOptions.StopTaking).
        await using CloudProcess cloud = await CloudProcess.StartAsync(_plans.PlansDirectory, "--keys", _plans.KeysDirectory);
        using var stop = new CancellationTokenSource();
        int taken = 0;
        const int Offered = 100_000;
        var options = new EdgeRunOptions
        {
            Cloud = cloud.EndPoint,
            ClientId = ConformancePlans.ClientId,
            Key = new PreSharedKey(_plans.Key),
            Fallback = false,
            FramesPerSecond = 500,
            StopTaking = stop.Token,
            Log = _ => { },
        };
        Task<(EdgeRunSummary Summary, EdgePipeline Pipeline)> run = EdgeRun.RunAsync(
            PlanDirectory.Load(_plans.ChaosDirectory), new ChaosPlan.Source(Offered, _ => Interlocked.Increment(ref taken)), new FixedBitsScheduler(), options);
        while (Volatile.Read(ref taken) < 200 && !run.IsCompleted)
        {
            await Task.Delay(10);
        }

        await stop.CancelAsync();
        var (summary, _) = await run.WaitAsync(TimeSpan.FromSeconds(30));
        output.WriteLine($"stopped after {summary.FramesSent} frames: {summary.FramesAnswered} answered, {summary.RequestsAnswered} by the cloud");
        Assert.InRange(summary.FramesSent, 200, Offered / 10);
        Assert.Equal(summary.FramesSent, summary.FramesAnswered);
        Assert.Equal(summary.FramesSent, summary.RequestsAnswered);
        Assert.Equal(0, summary.FramesFailed);
    }
}
