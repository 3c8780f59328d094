using System.Collections.Concurrent;
using System.Net;
using Coach.Engine.Online;
using Coach.Transport.Cloud;
using Coach.Transport.Edge;
using Coach.Transport.Security;

namespace Coach.Transport.Tests.Fleet;

/// <summary>
/// Load feedback (docs/fleet.md §7): the queueing a cloud reports in its Results moves the edge to its full model past a
/// threshold and back to the cloud plan once it falls below a lower one; every frame is answered exactly once.
/// </summary>
public sealed class LoadFeedbackTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"coach-load-{Guid.NewGuid():N}");
    private readonly ConcurrentQueue<string> _log = new();
    private readonly PreSharedKey _key = PreSharedKey.Generate();

    public ValueTask InitializeAsync()
    {
        string dir = TinyModels.WritePlan(_root, "split", TinyModels.Head(), TinyModels.Tail(), bits: 8);
        File.WriteAllBytes(Path.Combine(dir, "full.onnx"), TinyModels.Full());
        File.WriteAllText(Path.Combine(dir, "plan.json"), """{"id":"split","method":"test","model":{"path":"full.onnx"},"cut_tensors":[{"name":"cut","shape":[1,4,2,2],"bits":8}]}""");
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return ValueTask.CompletedTask;
    }

    [Fact]
    public void TheFallbackIsEnteredAboveOneThresholdAndLeftBelowTheLowerOne()
    {
        var load = new CloudLoadFeedback(enterSeconds: 0.020, leaveSeconds: 0.005, smoothing: 0.5, probeEvery: 4);
        Assert.False(load.Report(0.015)); // between the thresholds: stays on the cloud plan
        Assert.False(load.AnswerOnEdge());
        Assert.True(load.Report(0.100)); // 0.0575 smoothed: over 20 ms
        Assert.True(load.OnFallback);
        bool[] frames = [load.AnswerOnEdge(), load.AnswerOnEdge(), load.AnswerOnEdge(), load.AnswerOnEdge()];
        Assert.Equal([true, true, true, false], frames); // one frame in four probes the cloud
        Assert.False(load.Report(0.010)); // 0.03375: still over the lower threshold, no flapping at 20 ms
        Assert.False(load.Report(0.010)); // 0.021875
        Assert.False(load.Report(0.0)); // 0.0109
        Assert.True(load.OnFallback);
        Assert.False(load.Report(0.0)); // 0.0055
        Assert.True(load.Report(0.0)); // 0.0027: under 5 ms
        Assert.False(load.OnFallback);
        Assert.False(load.AnswerOnEdge());
        Assert.Equal(1, load.FallbackEntries);
        Assert.Equal(1, load.FallbackExits);
        Assert.Throws<ArgumentOutOfRangeException>(() => new CloudLoadFeedback(0.010, 0.010));
    }

    [Fact]
    public async Task ACloudReportingLongQueueingMovesTheEdgeToItsFullModelAndBackAnsweringEveryFrameOnce()
    {
        PlanDirectory plan = PlanDirectory.Load(Path.Combine(_root, "split"));
        await using var cloud = CloudServer.FromPlansDirectory(_root, new CloudServerOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            LogInterval = TimeSpan.Zero,
            Keys = EdgeKeyStore.Of([new("edge-l", _key)]),
            Log = _log.Enqueue,
        });
        cloud.Start();
        const int Frames = 1600;
        var schedule = new Dictionary<int, Action>
        {
            // Each tail batch held 100 ms: the requests really wait, and their Results say so.
            [300] = () => cloud.TailStall = TimeSpan.FromMilliseconds(100),
            [700] = () => cloud.TailStall = TimeSpan.Zero,
        };
        var options = new EdgeRunOptions
        {
            Cloud = cloud.LocalEndPoint,
            ClientId = "edge-l",
            Key = _key,
            Log = _log.Enqueue,
            FramesPerSecond = 200,
            CloudQueueFallback = TimeSpan.FromMilliseconds(20),
            CloudQueueResume = TimeSpan.FromMilliseconds(5),
        };
        var (summary, pipeline) = await EdgeRun.RunAsync(plan, new ScheduledSource(Frames, schedule), new FixedBitsScheduler(), options);
        string log = string.Join(Environment.NewLine, _log);
        Assert.Equal(Frames, summary.FramesAnswered);
        Assert.Equal(0, summary.FramesFailed);
        Assert.Equal(0, summary.Duplicates);
        Assert.Equal(1.0, summary.Accuracy);
        CloudLoadFeedback load = Assert.IsType<CloudLoadFeedback>(pipeline.LoadFeedback);
        Assert.True(load.FallbackEntries >= 1, $"the edge never left the loaded cloud:{Environment.NewLine}{log}");
        Assert.True(load.FallbackExits >= 1 && !load.OnFallback, $"the edge never came back to the cloud plan:{Environment.NewLine}{log}");
        Assert.True(pipeline.LoadFallbackAnswers > 0);
        Assert.Contains("back to the cloud plan", log, StringComparison.Ordinal);
        int cloudAnswers = 0;
        foreach (FrameRecord record in pipeline.Records)
        {
            Assert.True(record.Decision is FrameDecision.Cloud or FrameDecision.Fallback, $"frame {record.FrameId} ended {record.Decision}");
            Assert.Equal(0, record.Duplicates);
            cloudAnswers += record.Decision == FrameDecision.Cloud ? 1 : 0;
        }

        // Before the stall and after the way back, the cloud answers: the last frames all went to it.
        for (int frame = Frames - 100; frame < Frames; frame++)
        {
            Assert.Equal(FrameDecision.Cloud, pipeline.Records[frame].Decision);
        }

        Assert.Equal(Frames, cloudAnswers + summary.FallbackAnswers);
    }
}
