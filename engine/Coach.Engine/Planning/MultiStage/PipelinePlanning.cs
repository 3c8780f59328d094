using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Coach.Engine.Data;
using Coach.Engine.Graph;
using Coach.Engine.Profiling;
using Coach.Engine.Splitting;
using Google.Protobuf;

namespace Coach.Engine.Planning.MultiStage;

/// <summary>What one multi-stage planning run is asked for: the model, the device chain file and COACH's bits source.</summary>
public sealed record PipelinePlanningOptions
{
    /// <summary>An ONNX file or a bundled model's name.</summary>
    public required string Model { get; init; }

    /// <summary>The device chain file (schema coach.devices/1, docs/edgepipe.md §4).</summary>
    public required string DevicesFile { get; init; }

    /// <summary>Profile for the devices the file gives none (times their slowdown).</summary>
    public string? ReferenceProfile { get; init; }

    /// <summary>Bits source as <see cref="PlanningOptions.BitsSource"/>.</summary>
    public string BitsSource { get; init; } = "calib";
    public double Epsilon { get; init; } = 0.005;
    public int? CalibrationFrames { get; init; }
    public double CalibrationMargin { get; init; } = Calibration.CutCalibrator.DefaultStandardErrors;

    /// <summary>Folder for stage-N.onnx and pipeline.json; null to plan without writing.</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>The even layer split across the devices in the order given (<see cref="MultiStagePlanner.PlanEvenSplit"/>), not the planner's search: the baseline.</summary>
    public bool EvenSplit { get; init; }
}

/// <summary>A multi-stage plan with the graph and problem it was made for and its document (pipeline.json).</summary>
public sealed record PipelinePlanningResult(PipelinePlanDocument Document, LayerGraph Graph, PlanningProblem Problem, MultiStagePlan Plan);

/// <summary>
/// <c>coach plan --devices</c> end to end (docs/edgepipe.md §4–§5): the chain file and profiles → <see cref="MultiStagePlanner"/>
/// with COACH's bits source → one model file per stage (<see cref="ModelSplitter.SplitStage"/>) → pipeline.json.
/// </summary>
public static class PipelinePlanningSession
{
    public const string PlanFile = "pipeline.json";

    public static PipelinePlanningResult Run(PipelinePlanningOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var modelPath = File.Exists(options.Model) ? options.Model
            : ModelCatalog.TryGet(options.Model, out var entry) && entry is not null ? entry.Path
            : throw new FileNotFoundException($"model '{options.Model}' is neither a file nor a bundled model name", options.Model);
        var graph = LayerGraph.Load(modelPath);
        ShapeDiscovery.Complete(graph);
        var description = DeviceChainFile.Load(options.DevicesFile);
        var reference = options.ReferenceProfile is { } r ? LayerProfile.Load(r) : null;
        var (problem, chain) = description.Resolve(graph, reference);
        var planningOptions = new PlanningOptions
        {
            Model = modelPath,
            BitsSource = options.BitsSource,
            Epsilon = options.Epsilon,
            CalibrationFrames = options.CalibrationFrames,
            CalibrationMargin = options.CalibrationMargin,
        };
        var bits = new TimedBitsProvider(PlanningSession.BitsSource(planningOptions, graph));
        var clock = Stopwatch.StartNew();
        var planner = new MultiStagePlanner();
        var plan = options.EvenSplit ? planner.PlanEvenSplit(problem, chain, LayerMemory.FromGraph(graph), bits)
            : planner.Plan(problem, chain, LayerMemory.FromGraph(graph), bits);
        double plannerMs = (clock.Elapsed - bits.Elapsed).TotalMilliseconds;
        var document = PipelinePlanWriter.Describe(graph, problem, chain, plan, Path.GetFullPath(modelPath), Path.GetFullPath(options.DevicesFile),
            plannerMs, bits.Elapsed.TotalMilliseconds, PlanningSession.DescribeBitsSource(planningOptions), options.Epsilon);
        if (options.OutputDirectory is { } dir)
        {
            PipelinePlanWriter.Write(graph, plan, document, dir);
        }
        return new PipelinePlanningResult(document, graph, problem, plan);
    }
}

/// <summary>One link of pipeline.json: the rate, what crosses it (cut tensors in wire order with their bits) and its transfer time T.</summary>
public sealed record PipelineLinkDocument(double RateBps, double FrameOverheadMs, PlanCutTensor[] CutTensors, int[] Bits, double Bytes, double TMs);

/// <summary>
/// One stage of pipeline.json: the device, its compute time T, its memory next to the budget, its model file (null for
/// a stage without layers), the values it receives, those its model reads and produces, those it relays as received, and
/// its uplink (null for the cloud).
/// </summary>
public sealed record PipelineStageDocument(
    int Index,
    string Device,
    int Layers,
    double TMs,
    long MemoryBytes,
    long WeightBytes,
    long ActivationBytes,
    long? MemoryBudgetBytes,
    PlanModelPart? Model,
    string[] Receives,
    string[] Relays,
    PipelineLinkDocument? Link);

/// <summary>pipeline.json (schema coach.pipeline-plan/1): a plan across a device chain (docs/edgepipe.md §3.6).</summary>
public sealed class PipelinePlanDocument
{
    public const string CurrentSchema = "coach.pipeline-plan/1";
    public string Schema { get; set; } = CurrentSchema;
    public required string Id { get; init; }
    public required PlanModel Model { get; init; }
    public required string DevicesFile { get; init; }
    public double Epsilon { get; init; }
    public string? Calibration { get; init; }
    public double? LatencyBudgetMs { get; init; }
    public int K { get; init; }
    public required PipelineStageDocument[] Stages { get; set; }
    public double BottleneckMs { get; init; }
    public double ThroughputFps { get; init; }
    public double SerialLatencyMs { get; init; }
    public long Ideals { get; init; }
    public long NestedPairs { get; init; }
    public int OrdersTried { get; init; }
    public int CutsCalibrated { get; init; }
    /// <summary>The search's wall time, calibration excluded (as coach plan's planner_ms).</summary>
    public double PlannerMs { get; init; }
    public double CalibrationMs { get; init; }

    public string ToJson(bool indented = true) =>
        JsonSerializer.Serialize(this, indented ? PipelinePlanJsonContext.Default.PipelinePlanDocument : PipelinePlanCompactJsonContext.Default.PipelinePlanDocument);

    public static PipelinePlanDocument Load(string path)
    {
        var doc = JsonSerializer.Deserialize(File.ReadAllBytes(path), PipelinePlanJsonContext.Default.PipelinePlanDocument)
            ?? throw new InvalidDataException($"'{path}' is empty; expected a {CurrentSchema} document written by coach plan --devices");
        if (doc.Schema != CurrentSchema)
        {
            throw new InvalidDataException($"'{path}' has schema '{doc.Schema}'; expected {CurrentSchema} (write it with coach plan --devices)");
        }
        return doc;
    }
}

/// <summary>Describes a multi-stage plan and writes its stage models (stage-1.onnx … stage-k.onnx) and pipeline.json.</summary>
public static class PipelinePlanWriter
{
    public static PipelinePlanDocument Describe(LayerGraph graph, PlanningProblem problem, DeviceChain chain, MultiStagePlan plan, string modelPath,
        string devicesFile, double plannerMs, double calibrationMs, string calibration, double epsilon)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(chain);
        ArgumentNullException.ThrowIfNull(plan);
        var devices = chain.EdgeDevices.Append(chain.Cloud).ToDictionary(d => d.Name, StringComparer.Ordinal);
        var stages = new PipelineStageDocument[plan.Stages.Count];
        string[] received = [.. graph.InputTensors.Select(i => graph.Tensors[i].Name)];
        var before = new bool[problem.NodeCount];
        for (int j = 0; j < plan.Stages.Count; j++)
        {
            var s = plan.Stages[j];
            var split = ModelSplitter.SplitStage(graph, before, s.IdealThroughHere, $"stage{j + 1}");
            PipelineLinkDocument? link = null;
            string[] relays = [];
            if (s.Transfer is { } tr)
            {
                var uplink = devices[s.Device].Uplink!;
                var cut = tr.CutTensors.Select((k, i) =>
                {
                    var t = problem.Tensors[k];
                    return new PlanCutTensor(t.Name, t.Shape, OnnxElementTypes.Name(t.ElementType), t.ElementType,
                        t.IsFloat ? tr.Bits[i] : 32, t.IsFloat ? tr.MinimumBits[i] : 32, (long)PipelineCostModel.TensorBytes(problem, k, tr.Bits[i]),
                        t.Producer >= 0 ? problem.NodeNames[t.Producer] : null);
                }).ToArray();
                link = new PipelineLinkDocument(uplink.BitsPerSecond, uplink.FrameOverheadSeconds * 1e3, cut, [.. cut.Select(c => c.Bits)], tr.Bytes, tr.Seconds * 1e3);
                relays = [.. cut.Select(c => c.Name).Where(name => !split.Outputs.Contains(name))];
            }
            var part = split.Model is null ? null
                : new PlanModelPart($"stage-{j + 1}.onnx", Convert.ToHexStringLower(SHA256.HashData(split.Model.ToByteArray())), [.. split.Inputs], [.. split.Outputs],
                    split.Model.Graph.Node.Count(n => n.OpType != "Constant"));
            stages[j] = new PipelineStageDocument(j + 1, s.Device, s.Layers.Length, s.ComputeSeconds * 1e3, s.MemoryBytes, s.WeightBytes, s.ActivationBytes,
                s.MemoryBudgetBytes, part, received, relays, link);
            received = link is null ? [] : [.. link.CutTensors.Select(c => c.Name)];
            before = s.IdealThroughHere;
        }
        var id = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join("|", stages.Select(s => $"{s.Device}:{s.Model?.Sha256}:{string.Join(",", s.Link?.Bits ?? [])}")))));
        return new PipelinePlanDocument
        {
            Id = $"pipe-{id[..12]}",
            Model = new PlanModel(Path.GetFileNameWithoutExtension(modelPath), modelPath, graph.Sha256),
            DevicesFile = devicesFile,
            Epsilon = epsilon,
            Calibration = calibration,
            LatencyBudgetMs = chain.LatencyBudgetSeconds * 1e3,
            K = stages.Length,
            Stages = stages,
            BottleneckMs = plan.BottleneckSeconds * 1e3,
            ThroughputFps = plan.ThroughputPerSecond,
            SerialLatencyMs = plan.SerialLatencySeconds * 1e3,
            Ideals = plan.Ideals,
            NestedPairs = plan.NestedPairs,
            OrdersTried = plan.OrdersTried,
            CutsCalibrated = plan.CutsCalibrated,
            PlannerMs = plannerMs,
            CalibrationMs = calibrationMs,
        };
    }

    /// <summary>Writes DIR/stage-N.onnx for every stage with layers and DIR/pipeline.json; stale stage files are removed.</summary>
    public static void Write(LayerGraph graph, MultiStagePlan plan, PipelinePlanDocument document, string directory)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(document);
        Directory.CreateDirectory(directory);
        foreach (var stale in Directory.EnumerateFiles(directory, "stage-*.onnx"))
        {
            File.Delete(stale);
        }
        foreach (var stale in Directory.EnumerateDirectories(directory, "hop-*"))
        {
            Directory.Delete(stale, recursive: true);
        }
        var before = new bool[graph.Nodes.Count];
        for (int j = 0; j < plan.Stages.Count; j++)
        {
            var split = ModelSplitter.SplitStage(graph, before, plan.Stages[j].IdealThroughHere, $"stage{j + 1}");
            if (split.Model is not null)
            {
                byte[] bytes = split.Model.ToByteArray();
                File.WriteAllBytes(Path.Combine(directory, $"stage-{j + 1}.onnx"), bytes);
                if (j > 0)
                {
                    WriteHop(directory, document, j + 1, bytes);
                }
            }
            before = plan.Stages[j].IdealThroughHere;
        }
        File.WriteAllText(Path.Combine(directory, PipelinePlanningSession.PlanFile), document.ToJson());
    }

    /// <summary>The folder of stage <paramref name="stage"/>'s hop: what the device before it connects to.</summary>
    public static string HopDirectory(int stage) => $"hop-{stage}";

    /// <summary>The plan id a device says in its Hello to reach stage <paramref name="stage"/> of pipeline <paramref name="pipelineId"/>.</summary>
    public static string HopPlanId(string pipelineId, int stage) => $"{pipelineId}-hop{stage}";

    /// <summary>
    /// DIR/hop-J/: a coach.plan/1 plan whose cut tensors are what stage J receives (wire order and bits of the link before
    /// it) and whose tail.onnx is stage J's model. coach-cloud serves the last hop as it serves any plan; coach-relay
    /// serves the hops between with its stage in place of a tail (docs/edgepipe.md §7).
    /// </summary>
    private static void WriteHop(string directory, PipelinePlanDocument document, int stage, byte[] model)
    {
        var doc = document.Stages[stage - 1];
        var link = document.Stages[stage - 2].Link!;
        var hop = Path.Combine(directory, HopDirectory(stage));
        Directory.CreateDirectory(hop);
        File.WriteAllBytes(Path.Combine(hop, PlanDirectoryTail), model);
        var plan = new PlanDocument
        {
            Id = HopPlanId(document.Id, stage),
            Method = "pipeline",
            Model = document.Model,
            ModelSha256 = document.Model.Sha256,
            Epsilon = document.Epsilon,
            BandwidthBps = link.RateBps,
            FrameOverheadMs = link.FrameOverheadMs,
            CutTensors = link.CutTensors,
            Bits = link.Bits,
            TCloudMs = doc.TMs,
            Tail = doc.Model! with { File = PlanDirectoryTail },
            Note = $"stage {stage} of {document.K} ({doc.Device}) of pipeline {document.Id}",
        };
        File.WriteAllText(Path.Combine(hop, "plan.json"), plan.ToJson());
    }

    private const string PlanDirectoryTail = "tail.onnx";
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true, AllowTrailingCommas = true, ReadCommentHandling = JsonCommentHandling.Skip)]
[JsonSerializable(typeof(PipelinePlanDocument))]
internal sealed partial class PipelinePlanJsonContext : JsonSerializerContext;

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = false)]
[JsonSerializable(typeof(PipelinePlanDocument))]
internal sealed partial class PipelinePlanCompactJsonContext : JsonSerializerContext;
