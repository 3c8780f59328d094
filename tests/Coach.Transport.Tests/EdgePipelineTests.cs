using System.Collections.Concurrent;
using System.Net;
using Coach.Transport.Cloud;
using Coach.Transport.Edge;

namespace Coach.Transport.Tests;

/// <summary>Frames whose tail label is known: frame i renders the tiny model's pattern of label i mod 10.</summary>
internal sealed class PatternSource(int count) : IFrameSource
{
    public int Count => count;

    public string Description => "pattern";

    public int Label(int index) => (index * 3) % 10;

    public void RenderFrame(int index, Span<float> chw) => TinyModels.CutTensorFor(Label(index)).CopyTo(chw);
}

public sealed class EdgePipelineTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"coach-edge-{Guid.NewGuid():N}");
    private readonly ConcurrentQueue<string> _log = new();
    private CloudServer _server = null!;

    public ValueTask InitializeAsync()
    {
        TinyModels.WritePlan(_root, "split", TinyModels.Head(), TinyModels.Tail(), bits: 4);
        TinyModels.WritePlan(_root, "cloud-only", head: null, TinyModels.Tail("frame"), bits: 8, cutName: "frame");
        TinyModels.WritePlan(_root, "split-raw", TinyModels.Head(), TinyModels.Tail(), bits: 32);
        _server = CloudServer.FromPlansDirectory(_root, new CloudServerOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), LogInterval = TimeSpan.Zero, Log = _log.Enqueue });
        _server.Start();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    private EdgeRunOptions Options(LinkShaper? shaper = null) => new() { Cloud = _server.LocalEndPoint, Shaper = shaper, Log = _log.Enqueue };

    [Theory]
    [InlineData("split")]
    [InlineData("cloud-only")]
    public async Task EveryFrameOfASplitOrCloudOnlyPlanIsAnsweredByTheCloudWithTheRightLabel(string planName)
    {
        PlanDirectory plan = PlanDirectory.Load(Path.Combine(_root, planName));
        Assert.Equal(planName == "cloud-only", plan.IsCloudOnly);
        var (summary, pipeline) = await EdgeRun.RunAsync(plan, new PatternSource(300), new FixedBitsScheduler(), Options());

        Assert.Equal(300, summary.FramesSent);
        Assert.Equal(300, summary.FramesAnswered);
        Assert.Equal(300, summary.RequestsSent);
        Assert.Equal(300, summary.RequestsAnswered);
        Assert.Equal(0, summary.Duplicates);
        Assert.Equal(1.0, summary.Accuracy);
        Assert.True(summary.ThroughputFps > 0);
        Assert.InRange(summary.BubbleRatio, 0, 1);
        foreach (FrameRecord record in pipeline.Records)
        {
            Assert.Equal(FrameDecision.Cloud, record.Decision);
            Assert.Equal(record.TrueLabel, record.PredictedLabel);
            Assert.True(record.WireBytes > 0);
        }

        var csv = new StringWriter();
        pipeline.WriteCsv(csv);
        Assert.Equal(301, csv.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Contains("\"frames_answered\":300", summary.ToJson());
    }

    [Fact]
    public async Task AnEdgeOnlyPlanAnswersEveryFrameWithoutACloud()
    {
        string dir = TinyModels.WritePlan(_root, "edge-only", TinyModels.Full(), tail: null, bits: 32);
        PlanDirectory plan = PlanDirectory.Load(dir);
        Assert.True(plan.IsEdgeOnly);
        var (summary, _) = await EdgeRun.RunAsync(plan, new PatternSource(200), new FixedBitsScheduler(), new EdgeRunOptions { Log = _log.Enqueue });
        Assert.Equal(200, summary.FramesAnswered);
        Assert.Equal(0, summary.RequestsSent);
        Assert.Equal(0, summary.BytesPerFrame);
        Assert.Equal(1.0, summary.Accuracy);
    }

    [Fact]
    [Trait("Category", "Timing")]
    public async Task AShapedLinkSlowsTheSendStageToTheLinkRate()
    {
        // 50 frames of 4-bit 16-element tensors are tiny; raw float32 frames of the cloud-only plan are 8-bit 16 values + headers.
        PlanDirectory plan = PlanDirectory.Load(Path.Combine(_root, "split"));
        var shaper = new LinkShaper(64e3, burstBytes: 512); // 64 kbit/s = 8 KB/s
        var (summary, _) = await EdgeRun.RunAsync(plan, new PatternSource(100), new FixedBitsScheduler(), Options(shaper));
        double bytes = summary.BytesPerFrame * summary.FramesSent;
        double minimumSeconds = (bytes - 512 - 200) / 8000.0; // hello + burst may pass unshaped
        Assert.Equal(100, summary.FramesAnswered);
        Assert.True(summary.WallSeconds >= minimumSeconds * 0.95, $"{bytes} bytes at 8 KB/s took {summary.WallSeconds:0.00} s, expected ≥ {minimumSeconds:0.00} s");
    }

    [Fact]
    public async Task ADurationEndsTheRunWithTheFramesTakenAllAnsweredAndOnlyThoseReported()
    {
        // Paced at 200 fps for 0.5 s: at most about 100 of the source's 100,000 frames are taken; every one of them is
        // answered. No lower bound beyond one frame: a cold process on a loaded machine (the first inference, JIT) has
        // been seen to take only 13 in the half second, which says nothing about the duration's stop.
        PlanDirectory plan = PlanDirectory.Load(Path.Combine(_root, "split"));
        var options = Options() with { FramesPerSecond = 200, Duration = TimeSpan.FromSeconds(0.5) };
        var (summary, pipeline) = await EdgeRun.RunAsync(plan, new PatternSource(100_000), new FixedBitsScheduler(), options);

        Assert.InRange(summary.FramesSent, 1, 150);
        Assert.Equal(summary.FramesSent, summary.FramesAnswered);
        Assert.Equal(summary.FramesSent, pipeline.Records.Length);
        Assert.Equal(1.0, summary.Accuracy);
        foreach (FrameRecord record in pipeline.Records)
        {
            Assert.Equal(FrameDecision.Cloud, record.Decision);
        }

        var csv = new StringWriter();
        pipeline.WriteCsv(csv);
        Assert.Equal(summary.FramesSent + 1, csv.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => EdgeRun.RunAsync(plan, new PatternSource(10), new FixedBitsScheduler(), Options() with { Duration = TimeSpan.Zero }));
    }

    /// <summary>Eq. 11 offline chose 32 bits (raw floats) for the cut; the online scheduler's narrower widths must still reach the wire.</summary>
    [Theory]
    [InlineData(4)]
    [InlineData(8)]
    public async Task TheSchedulersBitsReplaceAPlannedRawCutOnTheWire(int bits)
    {
        PlanDirectory plan = PlanDirectory.Load(Path.Combine(_root, "split-raw"));
        Assert.Equal(32, plan.CutTensors[0].Bits);
        var (raw, _) = await EdgeRun.RunAsync(plan, new PatternSource(50), new FixedBitsScheduler(), Options());
        var (scheduled, pipeline) = await EdgeRun.RunAsync(plan, new PatternSource(50), new ConstantBitsScheduler(bits), Options());

        Assert.Equal(50, scheduled.FramesAnswered);
        Assert.Equal(1.0, scheduled.Accuracy);
        // 16 floats raw are 64 data bytes; at 4 bits 8 bytes (plus the UAQ parameters), at 8 bits 16.
        Assert.True(scheduled.BytesPerFrame < raw.BytesPerFrame - 64 + (TinyModels.CutElements * bits / 8) + 16,
            $"sent {scheduled.BytesPerFrame:0} B/frame at {bits} bits, raw {raw.BytesPerFrame:0}: the override did not reach the wire");
        foreach (FrameRecord record in pipeline.Records)
        {
            Assert.Equal(bits, record.Bits);
        }
    }

    /// <summary>Sends every frame at the same bits, as the online scheduler does when eq. 11 settles on one width.</summary>
    private sealed class ConstantBitsScheduler(int bits) : IFrameScheduler
    {
        public string Name => "constant";

        public SchedulingDecision Decide(int frameId, IReadOnlyList<Coach.Native.OnnxRuntime.PinnedTensor> cutTensors, double headSeconds) => SchedulingDecision.Send(bits);

        public void OnCloudLabel(int frameId, int label)
        {
        }

        public void OnTransferSample(long bytes, double seconds)
        {
        }
    }
}
