using System.Collections.Concurrent;
using System.Net;
using Coach.Transport.Cloud;
using Coach.Transport.Edge;
using Coach.Transport.Faults;
using Coach.Transport.Protocol;
using Coach.Transport.Security;

namespace Coach.Transport.Tests;

/// <summary>A pattern source that runs an action when the head stage reaches given frames (fault schedule).</summary>
internal sealed class ScheduledSource(int count, IReadOnlyDictionary<int, Action> schedule) : IFrameSource
{
    private readonly PatternSource _inner = new(count);
    private readonly ConcurrentDictionary<int, bool> _fired = new();

    public int Count => count;

    public string Description => "pattern with faults";

    public int Label(int index) => _inner.Label(index);

    public void RenderFrame(int index, Span<float> chw)
    {
        if (schedule.TryGetValue(index, out Action? action) && _fired.TryAdd(index, true))
        {
            action();
        }

        _inner.RenderFrame(index, chw);
    }
}

public sealed class FaultToleranceTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"coach-faults-{Guid.NewGuid():N}");
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

    private CloudServer StartCloud(TaskCompletionSource? served = null)
    {
        var server = CloudServer.FromPlansDirectory(_root, new CloudServerOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            LogInterval = TimeSpan.Zero,
            Keys = EdgeKeyStore.Of([new("edge-f", _key)]),
            Log = line =>
            {
                _log.Enqueue(line);
                if (line.Contains("serves plan", StringComparison.Ordinal))
                {
                    served?.TrySetResult();
                }
            },
        });
        server.Start();
        return server;
    }

    [Fact]
    public async Task ACloudKilledMidStreamAndRestartedLeavesEveryFrameAnsweredExactlyOnce()
    {
        PlanDirectory plan = PlanDirectory.Load(Path.Combine(_root, "split"));
        Assert.NotNull(plan.ModelPath);
        CloudServer first = StartCloud();
        await using var proxy = new FaultProxy(first.LocalEndPoint);
        proxy.Start();
        CloudServer? second = null;
        var reconnected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        const int Frames = 3000;
        var schedule = new Dictionary<int, Action>
        {
            // Kill: every connection aborted at once, no Goodbye — what SIGKILL looks like from the edge.
            [600] = () => first.AbortAsync().GetAwaiter().GetResult(),
            [1200] = () =>
            {
                second = StartCloud(reconnected);
                proxy.Upstream = second.LocalEndPoint;
            },

            // Hold the stream until the edge is back, so frames after it go to the restarted cloud.
            [1800] = () => reconnected.Task.WaitAsync(TimeSpan.FromSeconds(60)).GetAwaiter().GetResult(),
        };
        var options = new EdgeRunOptions
        {
            Cloud = proxy.LocalEndPoint,
            ClientId = "edge-f",
            Key = _key,
            Log = _log.Enqueue,
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(50),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(400),
        };
        try
        {
            var (summary, pipeline) = await EdgeRun.RunAsync(plan, new ScheduledSource(Frames, schedule), new FixedBitsScheduler(), options);
            Assert.Equal(Frames, summary.FramesSent);
            Assert.Equal(Frames, summary.FramesAnswered);
            Assert.Equal(0, summary.FramesFailed);
            Assert.Equal(0, summary.Duplicates);
            Assert.True(summary.FallbackAnswers > 0, "no frame was answered on the edge while the cloud was down");
            Assert.True(summary.Reconnects >= 1);
            Assert.Equal(1.0, summary.Accuracy);
            foreach (FrameRecord record in pipeline.Records)
            {
                Assert.True(record.Decision is FrameDecision.Cloud or FrameDecision.Fallback, $"frame {record.FrameId} ended {record.Decision}");
                Assert.Equal(0, record.Duplicates);
            }

            Assert.True(second!.Metrics.RequestsTotal > 0, "the restarted cloud answered nothing");
            Assert.Contains("\"fallback_answers\":", summary.ToJson(), StringComparison.Ordinal);
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
    public async Task ACutLinkIsDetectedByTheWatchdogAndTheEdgeAnswersLocallyUntilItIsBack()
    {
        PlanDirectory plan = PlanDirectory.Load(Path.Combine(_root, "split"));
        await using CloudServer cloud = StartCloud();
        await using var proxy = new FaultProxy(cloud.LocalEndPoint);
        proxy.Start();
        var backOnline = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var schedule = new Dictionary<int, Action>
        {
            [300] = proxy.Cut,
            [900] = proxy.Restore,
            [1500] = () => backOnline.Task.WaitAsync(TimeSpan.FromSeconds(60)).GetAwaiter().GetResult(),
        };
        var options = new EdgeRunOptions
        {
            Cloud = proxy.LocalEndPoint,
            ClientId = "edge-f",
            Key = _key,
            Log = line =>
            {
                _log.Enqueue(line);
                if (line.Contains("reconnected", StringComparison.Ordinal))
                {
                    backOnline.TrySetResult();
                }
            },
            ResponseTimeout = TimeSpan.FromSeconds(1),
            HandshakeTimeout = TimeSpan.FromSeconds(2),
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(50),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(400),
        };
        var (summary, _) = await EdgeRun.RunAsync(plan, new ScheduledSource(2000, schedule), new FixedBitsScheduler(), options);
        Assert.Equal(2000, summary.FramesAnswered);
        Assert.Equal(0, summary.Duplicates);
        Assert.True(summary.FallbackAnswers > 0);
        Assert.True(summary.Reconnects >= 1);
        Assert.Equal(1.0, summary.Accuracy);
    }

    [Fact]
    public async Task TheCloudAnswersADuplicateRequestIdWithAnErrorAndTheOriginalOnce()
    {
        await using CloudServer cloud = StartCloud();
        cloud.ResponseDelay = TimeSpan.FromMilliseconds(300); // the first copy is surely still in flight
        PlanDirectory plan = cloud.Plans[0];
        await using EdgeClient client = await EdgeClient.ConnectAsync(cloud.LocalEndPoint, new HelloMessage { ClientId = "edge-f", PlanId = plan.Id, PlanHash = plan.PlanHash }, key: _key);
        var sink = new RecordingSink(1);
        client.StartReceiving(sink);
        SecurityTests.WriteRequest(client.Output, 42, label: 5);
        SecurityTests.WriteRequest(client.Output, 42, label: 5);
        await client.Output.FlushAsync();
        await sink.AllAnswered.Task.WaitAsync(TimeSpan.FromSeconds(60));
        while (sink.Errors.IsEmpty)
        {
            await Task.WhenAny(sink.Closed.Task, Task.Delay(50));
            Assert.False(sink.Closed.Task.IsCompleted);
        }

        Assert.Equal(1, sink.AnswerCounts[42]);
        Assert.Contains(sink.Errors, e => e.RequestId == 42 && e.Reason == ReasonCode.DuplicateRequestId);
    }
}
