using System.Collections.Concurrent;
using System.Net;
using Coach.Engine.Data;
using Coach.Engine.Planning;
using Coach.Transport.Cloud;
using Coach.Transport.Edge;

namespace Coach.Transport.Tests;

/// <summary>A COACH plan of the bundled model that picked the compressed input cut (docs/planner.md §5.4), run by a real edge
/// against a real cloud through the cloud-jpeg wire path (compression code 3).</summary>
public sealed class CodecCutRunTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"coach-codeccut-{Guid.NewGuid():N}");
    private readonly ConcurrentQueue<string> _log = new();
    private CloudServer _server = null!;
    private PlanningResult _result = null!;

    public ValueTask InitializeAsync()
    {
        string profile = Path.Combine(ModelCatalog.RepositoryRoot, "models", "profiles", "resnet-fm112.cpu.json");
        // 10 Mbit/s, an edge 8x slower: the layer cuts send 2–5 KB a frame after milliseconds of edge compute, the JPEG frame ~1 KB.
        _result = PlanningSession.Run(new PlanningOptions
        {
            Model = ModelCatalog.Get("resnet-fm112").Path, EdgeProfile = profile, CloudProfile = profile, EdgeSlowdown = 8,
            Bandwidth = "10mbit", Method = "coach", BitsSource = "fixed:4", CalibrationFrames = 300, OutputDirectory = Path.Combine(_root, "coach"),
        });
        _server = CloudServer.FromPlansDirectory(Path.Combine(_root, "coach"), new CloudServerOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), LogInterval = TimeSpan.Zero, Log = _log.Enqueue });
        _server.Start();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task TheCodecCutPlanRunsThroughTheJpegPathAndAnswersEveryFrame()
    {
        var plan = PlanDirectory.Load(Path.Combine(_root, "coach"));
        var choice = plan.Document.CutChoice!;
        Assert.True(choice.CodecCutWon, choice.Reason);
        Assert.True(choice.CodecCutFps > choice.LayerCutFps, choice.Reason);
        Assert.Equal("coach", plan.Document.Method);
        Assert.True(plan.IsCloudOnly);
        Assert.Equal(plan.Document.InputCodec!.Quality, plan.JpegQuality);
        Assert.Equal(choice.CodecCutFps, plan.Document.ThroughputFps, 6);
        Assert.Equal(0, _result.Plan.EdgeLayerCount);

        var (summary, run) = await EdgeRun.RunAsync(plan, TaskStreamSource.Parse("stream:medium", 200, 10, 3), new FixedBitsScheduler(),
            new EdgeRunOptions { Cloud = _server.LocalEndPoint, Log = _log.Enqueue });
        Assert.Equal(200, summary.FramesAnswered);
        Assert.Equal(0, summary.FramesFailed);
        Assert.Equal("coach", summary.Method);
        Assert.True(summary.Accuracy > 0.8, $"accuracy {summary.Accuracy:P1}");
        // The wire's bytes are the JPEG frame's, near what the codec calibration measured, far below the 37,632-byte 8-bit frame.
        Assert.InRange(summary.BytesPerFrame, 0.5 * plan.Document.InputCodec.BytesPerFrame, (2 * plan.Document.InputCodec.BytesPerFrame) + 200);
        Assert.Equal(200, run.Records.ToArray().Length);
        Assert.DoesNotContain(_log, line => line.Contains("MalformedPayload", StringComparison.Ordinal));
    }
}
