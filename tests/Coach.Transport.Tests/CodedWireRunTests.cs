using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Coach.Engine.Data;
using Coach.Engine.Planning;
using Coach.Transport.Cloud;
using Coach.Transport.Edge;

namespace Coach.Transport.Tests;

/// <summary>A plan of the bundled model run with and without zstd-coded cut tensors (plan.json <c>wire_coding</c>) against a real cloud.</summary>
public sealed class CodedWireRunTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"coach-coded-{Guid.NewGuid():N}");
    private readonly ConcurrentQueue<string> _log = new();
    private CloudServer _server = null!;

    public ValueTask InitializeAsync()
    {
        string model = ModelCatalog.Get("resnet-fm112").Path;
        string profile = Path.Combine(ModelCatalog.RepositoryRoot, "models", "profiles", "resnet-fm112.cpu.json");
        string plain = Path.Combine(_root, "plain");
        PlanningSession.Run(new PlanningOptions
        {
            Model = model, EdgeProfile = profile, CloudProfile = profile, EdgeSlowdown = 8, Bandwidth = "10mbit",
            BitsSource = "fixed:4", Method = "coach", InputCodec = "none", OutputDirectory = plain,
        });
        // The same plan, coded: the same tail, so the cloud serves both under one plan hash.
        string coded = Path.Combine(_root, "coded");
        Directory.CreateDirectory(coded);
        foreach (var file in Directory.GetFiles(plain))
        {
            File.Copy(file, Path.Combine(coded, Path.GetFileName(file)));
        }
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(plain, "plan.json")))!.AsObject();
        json["wire_coding"] = "zstd";
        File.WriteAllText(Path.Combine(coded, "plan.json"), json.ToJsonString());
        _server = CloudServer.FromPlansDirectory(plain, new CloudServerOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), LogInterval = TimeSpan.Zero, Log = _log.Enqueue });
        _server.Start();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task CodedCutTensorsAreAnsweredLikePackedOnesInFewerBytes()
    {
        var options = new EdgeRunOptions { Cloud = _server.LocalEndPoint, Log = _log.Enqueue };
        var plain = PlanDirectory.Load(Path.Combine(_root, "plain"));
        var coded = PlanDirectory.Load(Path.Combine(_root, "coded"));
        Assert.Equal(Protocol.TensorCompression.None, plain.WireCoding);
        Assert.Equal(Protocol.TensorCompression.Zstd, coded.WireCoding);
        Assert.Equal(plain.PlanHashHex, coded.PlanHashHex);

        var (plainSummary, plainRun) = await EdgeRun.RunAsync(plain, TaskStreamSource.Parse("stream:medium", 200, 10, 3), new FixedBitsScheduler(), options);
        var (codedSummary, codedRun) = await EdgeRun.RunAsync(coded, TaskStreamSource.Parse("stream:medium", 200, 10, 3), new FixedBitsScheduler(), options);

        Assert.Equal(200, plainSummary.FramesAnswered);
        Assert.Equal(200, codedSummary.FramesAnswered);
        Assert.Equal(0, codedSummary.FramesFailed);
        // The cloud dequantizes the same codes either way: the same answers, frame by frame.
        var plainLabels = plainRun.Records.ToArray().Select(r => r.PredictedLabel).ToArray();
        var codedLabels = codedRun.Records.ToArray().Select(r => r.PredictedLabel).ToArray();
        Assert.Equal(plainLabels, codedLabels);
        Assert.True(codedSummary.BytesPerFrame < 0.9 * plainSummary.BytesPerFrame,
            $"coded {codedSummary.BytesPerFrame:F0} B a frame, packed {plainSummary.BytesPerFrame:F0}");
    }
}
