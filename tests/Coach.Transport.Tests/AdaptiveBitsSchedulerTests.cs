using System.Collections.Concurrent;
using System.Net;
using Coach.Engine.Online;
using Coach.Engine.Onnx;
using Coach.Engine.Onnx.Proto;
using Google.Protobuf;
using Coach.Native.OnnxRuntime;
using Coach.Transport.Cloud;
using Coach.Transport.Edge;

namespace Coach.Transport.Tests;

/// <summary>
/// The online scheduler for a model whose output is not class scores (<see cref="SchedulerState.AdaptiveBitsMode"/>): every
/// frame is sent, eq. 11 alone picks the bits from the live bandwidth between the plan's safe floor and 8, nothing exits
/// early, cloud answers teach nothing, it allocates nothing per frame, and a real edge run against a cloud serving a
/// detection-shaped tail ([N, 2, 6]) has every frame answered and says which scheduler it ran.
/// </summary>
public sealed class AdaptiveBitsSchedulerTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"coach-adaptive-{Guid.NewGuid():N}");
    private readonly ConcurrentQueue<string> _log = new();
    private CloudServer _server = null!;

    public ValueTask InitializeAsync()
    {
        _server = CloudServer.FromPlansDirectory(WritePlan(), new CloudServerOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), LogInterval = TimeSpan.Zero, Log = _log.Enqueue });
        _server.Start();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    /// <summary>The tiny split plan at 3 bits with a detection-shaped tail, a bandwidth prior and stage times for eq. 11.</summary>
    private string WritePlan()
    {
        string dir = TinyModels.WritePlan(_root, "adaptive", TinyModels.Head(), DetectionTail(), bits: 3);
        File.WriteAllText(Path.Combine(dir, "plan.json"),
            "{\"id\":\"adaptive\",\"method\":\"coach\",\"bandwidth_bps\":20000000,\"t_edge_ms\":5,\"t_cloud_ms\":2,\"frame_overhead_ms\":0," +
            "\"cut_tensors\":[{\"name\":\"cut\",\"shape\":[1,4,2,2],\"bits\":3}],\"bits\":[3]}");
        return dir;
    }

    /// <summary>
    /// cut [N,4,2,2] → [N,16] → MatMul [16, 12] → output "boxes" [N, 2, 6]: not class scores. Value k sums the cut values
    /// j ≡ k (mod 10), so the argmax of a frame's 12 values is still the pattern's label and the answers can be checked.
    /// </summary>
    private static byte[] DetectionTail()
    {
        var graph = new GraphProto { Name = "detection-tail" };
        graph.Input.Add(OnnxBuilder.FloatValue("cut", [-1, 4, 2, 2]));
        graph.Output.Add(OnnxBuilder.FloatValue("boxes", [-1, 2, 6]));
        var weights = new TensorProto { Name = "w", DataType = 1 };
        weights.Dims.Add(TinyModels.CutElements);
        weights.Dims.Add(12);
        for (int j = 0; j < TinyModels.CutElements; j++)
        {
            for (int k = 0; k < 12; k++)
            {
                weights.FloatData.Add(j % TinyModels.Classes == k ? 1f : 0f);
            }
        }

        graph.Initializer.Add(weights);
        graph.Initializer.Add(Shape("flat_shape", [-1, TinyModels.CutElements]));
        graph.Initializer.Add(Shape("boxes_shape", [-1, 2, 6]));
        graph.Node.Add(OnnxBuilder.Node("Reshape", ["cut", "flat_shape"], ["flat"]));
        graph.Node.Add(OnnxBuilder.Node("MatMul", ["flat", "w"], ["scores"]));
        graph.Node.Add(OnnxBuilder.Node("Reshape", ["scores", "boxes_shape"], ["boxes"]));
        var model = new ModelProto { IrVersion = 8, ProducerName = "coach-test", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = 17 });
        return model.ToByteArray();
    }

    private static TensorProto Shape(string name, long[] dims)
    {
        var shape = new TensorProto { Name = name, DataType = 7 };
        shape.Dims.Add(dims.Length);
        shape.Int64Data.AddRange(dims);
        return shape;
    }

    private static SchedulerState State(PlanDirectory plan)
    {
        var state = SchedulerState.CreateAdaptiveBits(new SchedulerCalibration { PlanBits = 3, MaxBits = 8 }, [new SchedulerCutTensor("cut", 4)], "the tail's output is [-1, 4, 6]");
        state.TailSha256 = plan.PlanHashHex;
        return state;
    }

    [Fact]
    public void EveryFrameIsSentAtBitsThatFollowTheBandwidthAndNothingIsLearnt()
    {
        PlanDirectory plan = PlanDirectory.Load(Path.Combine(_root, "adaptive"));
        var scheduler = new OnlineFrameScheduler(plan, State(plan));
        Assert.True(scheduler.AdaptiveBitsOnly);
        Assert.Equal("coach-online-adaptive-bits", scheduler.Name);
        Assert.Null(scheduler.Scheduler);
        using var tensor = PinnedTensor.Create(TensorElementType.Float, [1, 4, 2, 2]);
        PinnedTensor[] cut = [tensor];
        tensor.AsSpan<float>().Fill(0.5f);

        // 20 Mbit/s: 16 values leave the link idle beside T_e = 5 ms, so eq. 11 fills the bubble with 8 bits.
        SchedulingDecision fast = scheduler.Decide(0, cut, 0.005);
        Assert.False(fast.EarlyExit);
        Assert.Equal(8, fast.Bits);
        scheduler.OnCloudLabel(0, 3);
        Assert.Equal(0, scheduler.CentreUpdates);
        for (int i = 0; i < 64; i++)
        {
            scheduler.OnTransferSample(100, 0.05); // 2 kB/s measured: transmission is the bottleneck
        }

        Assert.Equal(3, scheduler.Decide(1, cut, 0.005).Bits); // down to the plan's safe floor, never below
        IFrameScheduler asInterface = scheduler;
        asInterface.OnLoad(saturated: false);
        Assert.Equal(3, scheduler.Decide(2, cut, 0.005).Bits);
        Assert.Equal(0, scheduler.EarlyExits);
        Assert.Equal(3, scheduler.FramesSent);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            asInterface.OnLoad(saturated: i % 2 == 0);
            SchedulingDecision d = scheduler.Decide(i, cut, 0.004 + ((i % 7) * 1e-4));
            scheduler.OnTransferSample(60 + d.Bits, 0.0002 + ((i % 5) * 1e-5));
            scheduler.OnCloudLabel(i, i % 10);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public async Task AnEdgeRunAnswersEveryFrameWithoutEarlyExitsAndNamesTheScheduler()
    {
        PlanDirectory plan = PlanDirectory.Load(Path.Combine(_root, "adaptive"));
        State(plan).Save(plan.DirectoryPath);
        var reloaded = SchedulerState.TryLoad(plan.DirectoryPath)!;
        var (summary, pipeline) = await EdgeRun.RunAsync(plan, new PatternSource(200), new OnlineFrameScheduler(plan, reloaded),
            new EdgeRunOptions { Cloud = _server.LocalEndPoint, Log = _log.Enqueue });

        Assert.Equal(200, summary.FramesAnswered);
        Assert.Equal(200, summary.RequestsAnswered); // the cloud runs a tail whose output is [N, 2, 6] in batches
        Assert.Equal(0, summary.EarlyExits);
        Assert.Equal(1.0, summary.Accuracy);
        Assert.Contains("\"scheduler\":\"coach-online-adaptive-bits\"", summary.ToJson());
        Assert.Contains(_log, line => line.Contains("output [2x6] (not class scores", StringComparison.Ordinal));
        Assert.All(pipeline.Records.ToArray(), r => Assert.InRange(r.Bits, 3, 8));
    }
}
