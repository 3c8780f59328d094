using System.Security.Cryptography;
using Coach.Engine.Data.Media;
using Coach.Engine.Online;
using Coach.Engine.Onnx;
using Coach.Engine.Onnx.Proto;
using Google.Protobuf;

namespace Coach.Engine.Tests.Online;

/// <summary>
/// The online calibration for models other than the bundled 10-class ones, through ONNX Runtime on models built in code: a
/// 13-class classifier gets 13 semantic centres and early exits (the label count comes from the tail's output shape, not
/// from a fixed 10), and a tail with a detection-shaped output [N, 4, 6] gets the adaptive-bits-only scheduler, which says so.
/// </summary>
public sealed class AnyModelOnlineCalibrationTests : IDisposable
{
    private const int Size = 8;
    private const int Values = 3 * Size * Size;
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"coach-anymodel-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public void AThirteenClassTailGetsThirteenCentresAndItsFramesExitWithTheirOwnLabel()
    {
        const int classes = 13;
        string plan = WritePlan("classifier", Tail(classes, null));
        var frames = Frames(classes, 520);

        var state = PlanOnlineCalibration.Run(plan, frames, Options());

        Assert.Equal(SchedulerState.SemanticCacheMode, state.Mode);
        Assert.Equal(classes, state.LabelCount);
        Assert.Equal(classes, state.Centres.Count);
        Assert.True(state.Calibration.ExitThreshold is not null, state.Calibration.ToJson());
        Assert.True(state.Calibration.StreamLevels.Single(l => l.Correlation == "high").EarlyExitRatio > 0, state.Calibration.ToJson());
        // The warm centre of label 12 (beyond the bundled models' 10) answers a frame of class 12.
        var cache = state.CreateCache();
        var scheduler = new OnlineScheduler(cache, state.Calibration, new TransferCostModel(0.001, 0.001, [Values], [3]), new BandwidthEstimator(4, 1e6));
        var feature = new float[state.FeatureLength];
        var pixels = new float[Values];
        frames.RenderFrame(490, pixels);
        Assert.Equal(12, frames.Label(490));
        TaskFeature.BandPool(pixels, [Values], [3], state.FeatureBands, feature); // head = Relu, so the cut is the frame
        Assert.Equal(12, scheduler.Decide(feature).Label);
    }

    [Fact]
    public void TheLabelCountIsTheTailsClassDimensionNotTheClassesTheFramesHappenToName()
    {
        // Label-free frames show only the classes the full model answered on them; the cloud may answer any of the tail's.
        string plan = WritePlan("wide", Tail(24, null));
        var state = PlanOnlineCalibration.Run(plan, Frames(13, 520), Options());
        Assert.Equal(24, state.LabelCount);
        Assert.Equal(0, state.Counts[20]);
        Assert.Equal(40, state.Counts[12]);
    }

    [Fact]
    public void ATailWhoseOutputIsNotClassScoresIsCalibratedForAdaptiveBitsOnlyAndSaysWhy()
    {
        string plan = WritePlan("detector", Tail(24, [-1, 4, 6]));
        var frames = Frames(2, 40);

        var state = PlanOnlineCalibration.Run(plan, frames, Options());

        Assert.True(state.AdaptiveBitsOnly);
        Assert.Equal(SchedulerState.AdaptiveBitsMode, state.Mode);
        Assert.Contains("[-1, 4, 6]", state.ModeReason);
        Assert.Null(state.Calibration.ExitThreshold);
        Assert.Empty(state.Centres);
        Assert.Equal(3, state.Calibration.PlanBits); // the plan's calibrated minimum, eq. 11's floor
        Assert.Equal(8, state.Calibration.MaxBits);
        Assert.True(state.CalibrationEdgeMs > 0 && state.CalibrationCloudMs > 0);
        var reloaded = SchedulerState.FromJson(state.ToJson());
        Assert.True(reloaded.AdaptiveBitsOnly);
        Assert.Equal(state.ModeReason, reloaded.ModeReason);
        Assert.Throws<InvalidOperationException>(() => reloaded.CreateCache());
    }

    [Fact]
    public void AnEmbeddingModelShapedLikeClassScoresCanBeForcedToAdaptiveBitsOnly()
    {
        string plan = WritePlan("embedding", Tail(13, null));
        var state = PlanOnlineCalibration.Run(plan, Frames(13, 40), Options(), adaptiveBitsOnly: true);
        Assert.True(state.AdaptiveBitsOnly);
        Assert.Contains("--adaptive-bits-only", state.ModeReason);
    }

    [Fact]
    public void ALabelOutsideTheModelsClassesIsRefusedNamingTheFix()
    {
        string plan = WritePlan("small", Tail(5, null));
        var e = Assert.Throws<ArgumentException>(() => PlanOnlineCalibration.Run(plan, Frames(7, 280), Options()));
        Assert.Contains("outside the model's 5 classes", e.Message);
        Assert.Contains("label-free", e.Message);
    }

    [Fact]
    public void ModelOutputKindReadsTheClassCountFromTheOutputShape()
    {
        Assert.Equal(1000, ModelOutputKind.Classes([-1, 1000]));
        Assert.Equal(10, ModelOutputKind.Classes([1, 10]));
        Assert.Null(ModelOutputKind.Classes([-1, 4, 6]));
        Assert.Null(ModelOutputKind.Classes([-1, 1]));
        Assert.Null(ModelOutputKind.Classes([-1, 1000, 1, 1]));
        Assert.Null(ModelOutputKind.Classes(null));
    }

    private static OnlineEvaluationOptions Options() => new()
    {
        MinBits = 2,
        StreamCalibrationFrames = 400,
        StreamRunLength = 10,
        EdgeSeconds = 0.001,
        CloudSeconds = 0.001,
        FeatureBands = Size, // one band per row: the rows are what tells the classes apart
    };

    /// <summary>
    /// Frames of class c light up row c of the 24 rows (3 channels × 8), with a seeded wobble; in runs of 40 frames of one
    /// class, as a video or a class-by-class image folder gives them.
    /// </summary>
    private static DecodedFrames Frames(int classes, int count)
    {
        var pixels = new byte[count * Values];
        var labels = new int[count];
        var random = new Random(5);
        for (int i = 0; i < count; i++)
        {
            int c = (i / 40) % classes;
            labels[i] = c;
            for (int j = 0; j < Values; j++)
            {
                pixels[(i * Values) + j] = (byte)((j / Size == c ? 200 : 30) + random.Next(-20, 21));
            }
        }

        string[] names = [.. Enumerable.Range(0, classes).Select(c => $"c{c}")];
        return new DecodedFrames(pixels, labels, Size, Size, names, "synthetic frames");
    }

    /// <summary>Tail: cut [N,3,8,8] → [N,192] → MatMul [192, width] (output k sums row k) → output, reshaped when given.</summary>
    private static byte[] Tail(int width, long[]? reshape)
    {
        var graph = new GraphProto { Name = "tail" };
        graph.Input.Add(OnnxBuilder.FloatValue("cut", [-1, 3, Size, Size]));
        graph.Output.Add(OnnxBuilder.FloatValue("out", reshape ?? [-1, width]));
        var weights = new TensorProto { Name = "w", DataType = 1 };
        weights.Dims.Add(Values);
        weights.Dims.Add(width);
        for (int j = 0; j < Values; j++)
        {
            for (int k = 0; k < width; k++)
            {
                weights.FloatData.Add(j / Size == k ? 1f : 0f);
            }
        }

        graph.Initializer.Add(weights);
        graph.Initializer.Add(Shape("flat_shape", [-1, Values]));
        graph.Node.Add(OnnxBuilder.Node("Reshape", ["cut", "flat_shape"], ["flat"]));
        graph.Node.Add(OnnxBuilder.Node("MatMul", ["flat", "w"], [reshape is null ? "out" : "scores"]));
        if (reshape is not null)
        {
            graph.Initializer.Add(Shape("out_shape", reshape));
            graph.Node.Add(OnnxBuilder.Node("Reshape", ["scores", "out_shape"], ["out"]));
        }

        return Model(graph);
    }

    /// <summary>Head: frame [N,3,8,8] → Relu → cut (the frame itself, its values being ≥ 0).</summary>
    private static byte[] Head()
    {
        var graph = new GraphProto { Name = "head" };
        graph.Input.Add(OnnxBuilder.FloatValue("frame", [-1, 3, Size, Size]));
        graph.Output.Add(OnnxBuilder.FloatValue("cut", [-1, 3, Size, Size]));
        graph.Node.Add(OnnxBuilder.Node("Relu", ["frame"], ["cut"]));
        return Model(graph);
    }

    private static TensorProto Shape(string name, long[] dims)
    {
        var shape = new TensorProto { Name = name, DataType = 7 };
        shape.Dims.Add(dims.Length);
        shape.Int64Data.AddRange(dims);
        return shape;
    }

    private static byte[] Model(GraphProto graph)
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "coach-test", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = 17 });
        return model.ToByteArray();
    }

    /// <summary>A split plan at the cut "cut" sent at 4 bits, calibrated minimum 3, as `coach plan` writes it.</summary>
    private string WritePlan(string id, byte[] tail)
    {
        string dir = Path.Combine(_root, id);
        Directory.CreateDirectory(dir);
        byte[] head = Head();
        File.WriteAllBytes(Path.Combine(dir, "head.onnx"), head);
        File.WriteAllBytes(Path.Combine(dir, "tail.onnx"), tail);
        string Hash(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));
        File.WriteAllText(Path.Combine(dir, "plan.json"),
            $"{{\"id\":\"{id}\",\"method\":\"coach\",\"bandwidth_bps\":10000000,\"t_edge_ms\":1,\"t_cloud_ms\":1," +
            "\"cut_tensors\":[{\"name\":\"cut\",\"shape\":[1,3,8,8],\"dtype\":\"float32\",\"bits\":4,\"minimum_bits\":3}],\"bits\":[4]," +
            $"\"head\":{{\"file\":\"head.onnx\",\"sha256\":\"{Hash(head)}\",\"inputs\":[\"frame\"],\"outputs\":[\"cut\"],\"layers\":1}}," +
            $"\"tail\":{{\"file\":\"tail.onnx\",\"sha256\":\"{Hash(tail)}\",\"inputs\":[\"cut\"],\"outputs\":[\"out\"],\"layers\":2}}}}");
        return dir;
    }
}
