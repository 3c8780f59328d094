using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Coach.Engine.Graph;
using Coach.Engine.Splitting;
using Google.Protobuf;

namespace Coach.Engine.Planning;

/// <summary>One cut tensor in plan.json.</summary>
public sealed record PlanCutTensor(
    string Name,
    long[] Shape,
    string Dtype,
    int ElementType,
    int Bits,
    int MinimumBits,
    long Bytes,
    string? Producer,
    double[]? CodedRatios = null);

/// <summary>head.onnx or tail.onnx in plan.json.</summary>
public sealed record PlanModelPart(string File, string Sha256, string[] Inputs, string[] Outputs, int Layers);

/// <summary>Where a profile came from.</summary>
public sealed record PlanProfileSource(string Device, string Provider, string? Path);

/// <summary>The full model a plan was cut from.</summary>
/// <summary>How a cloud-only plan codes its input frames (plan.json <c>input_codec</c>): the codec (only "jpeg"), its
/// quality, and what the codec calibration measured at it (docs/baselines.md): mean bytes a frame, the edge's encode time a
/// frame (in the edge's time: scaled by the edge slowdown, as T_t counts it), and the model's accuracy on the decoded and the raw calibration frames.</summary>
public sealed record PlanInputCodec(string Codec, int Quality, double BytesPerFrame, double EncodeMs, double Accuracy, double RawAccuracy, int Frames);

public sealed record PlanModel(string Name, string? Path, string Sha256);

/// <summary>
/// plan.json (schema coach.plan/1): what the edge, the cloud and the demo load. Stage times in ms; the cut tensors
/// in wire order with their shape (batch 1), dtype and bits; head/tail null for cloud-only/edge-only plans;
/// <see cref="Scheduler"/> is a slot the online calibration fills (thresholds S_ext, S_adj), null as written here.
/// </summary>
public sealed class PlanDocument
{
    public const string CurrentSchema = "coach.plan/1";
    // Optional fields with a default other than null or 0 have setters: the source-generated reader assigns every init-only
    // property, so a field missing from the file would come back null or 0 instead of its default.
    public string Schema { get; set; } = CurrentSchema;
    public required string Id { get; init; }
    public required string Method { get; init; }
    public PlanModel? Model { get; init; }
    public string ModelSha256 { get; set; } = string.Empty;
    public PlanProfileSource? EdgeProfile { get; init; }
    public PlanProfileSource? CloudProfile { get; init; }
    public double EdgeSlowdown { get; set; } = 1;
    public double BandwidthBps { get; init; }
    public double FrameOverheadMs { get; init; }

    /// <summary>The edge's per-frame work besides the head's layers, included in <see cref="TEdgeMs"/>.</summary>
    public double EdgeOverheadMs { get; init; }
    public double? TmaxMs { get; init; }
    /// <summary>Most tensors the planner let a cut carry (one Request's limit, <see cref="CutConstraints.MaxTensorsPerFrame"/> by default).</summary>
    public int MaxCutTensors { get; set; } = CutConstraints.MaxTensorsPerFrame;
    public double Epsilon { get; init; }
    public required PlanCutTensor[] CutTensors { get; init; }
    public int[] Bits { get; set; } = [];
    public string[] EdgeLayers { get; set; } = [];
    public int CloudLayerCount { get; init; }
    public double TEdgeMs { get; init; }
    public double TTransMs { get; init; }
    public double TCloudMs { get; init; }
    public double LatencyMs { get; init; }
    public double SerialLatencyMs { get; init; }
    public double ThroughputFps { get; init; }
    public double BubbleMs { get; init; }
    public double BubbleComputeMs { get; init; }
    public double BubbleTransMs { get; init; }
    public double TTransParallelMs { get; init; }
    public double TCloudParallelMs { get; init; }
    public string Bottleneck { get; set; } = string.Empty;
    public double PlannerMs { get; init; }
    /// <summary>Time spent calibrating bits (ORT runs), not counted in <see cref="PlannerMs"/>.</summary>
    public double CalibrationMs { get; init; }
    /// <summary>Where the bits came from: the bundled labelled calibration split, the user's frames label-free
    /// (disagreement with the full model's top-1), a results file, or fixed bits.</summary>
    public string? Calibration { get; init; }
    /// <summary>The model's input contract (docs/data.md), when it has a card or ONNX image metadata: the edge preprocesses its frames by it.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Coach.Engine.Data.ModelCard? Input { get; set; }
    public long CandidatesExamined { get; init; }
    public double EarlyExitRate { get; init; }
    public string? Note { get; init; }
    public PlanModelPart? Head { get; init; }
    public PlanModelPart? Tail { get; init; }
    public JsonElement? Scheduler { get; init; }
    /// <summary>How the edge codes the packed UAQ codes of its cut tensors: <c>zstd</c> (docs/protocol.md compression code 2,
    /// each tensor sent coded when that is shorter) or null (packed as they are).</summary>
    public string? WireCoding { get; init; }
    /// <summary>With <see cref="WireCoding"/>: the edge's coding time per packed byte, in ns (the planner's T_t counts it).</summary>
    public double EncodeNsPerPackedByte { get; init; }
    /// <summary>A cloud-only plan whose edge sends its frames as JPEG (the cloud-jpeg method; docs/protocol.md compression 3)
    /// or as one H.264 stream (cloud-h264, compression 4; quality is then x264's rate factor).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public PlanInputCodec? InputCodec { get; init; }
    /// <summary>A COACH plan made with an input codec: which cut won, the compressed input cut or the best layer cut, with both
    /// predicted throughputs and the reason (docs/planner.md §5.4).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public CutChoice? CutChoice { get; init; }

    public string ToJson(bool indented = true) => JsonSerializer.Serialize(this, indented ? PlanJsonContext.Default.PlanDocument : PlanJsonCompactContext.Default.PlanDocument);

    /// <summary>
    /// Reads plan.json (or DIR/plan.json). Required: <c>id</c>, <c>method</c> and <c>cut_tensors</c>, each cut tensor with a
    /// name and bits 1 … 8 or 32; a document that lacks one is refused with an <see cref="InvalidDataException"/> that names
    /// the file and the field. Fields it does not know are ignored.
    /// </summary>
    public static PlanDocument Load(string path)
    {
        var file = Directory.Exists(path) ? System.IO.Path.Combine(path, "plan.json") : path;
        if (!File.Exists(file))
        {
            throw new FileNotFoundException($"no plan at '{file}'; write one with `coach plan ... --out DIR`", file);
        }
        PlanDocument? doc;
        try
        {
            doc = JsonSerializer.Deserialize(File.ReadAllBytes(file), PlanJsonContext.Default.PlanDocument);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{file}' is not a {CurrentSchema} plan{(e.Path is { Length: > 1 } at ? $" (at {at})" : "")}: {e.Message}", e);
        }
        if (doc is null)
        {
            throw new InvalidDataException($"'{file}' holds no plan");
        }
        if (doc.WireCoding is not (null or "zstd" or "none"))
        {
            throw new InvalidDataException($"'{file}': field 'wire_coding' is '{doc.WireCoding}'; expected \"zstd\", \"none\" or no field");
        }
        if (doc.InputCodec is { } codec && !(codec is { Codec: "jpeg", Quality: >= 1 and <= 100 } or { Codec: "h264", Quality: >= 0 and <= 51 }))
        {
            throw new InvalidDataException($"'{file}': field 'input_codec' is {codec.Codec} at quality {codec.Quality}; expected codec \"jpeg\" with quality 1 … 100 or \"h264\" with rate factor 0 … 51");
        }
        if (doc.Schema != CurrentSchema)
        {
            throw new InvalidDataException($"'{file}' has schema '{doc.Schema}', expected '{CurrentSchema}'");
        }
        doc.Validate(file);
        return doc;
    }

    private void Validate(string file)
    {
        if (string.IsNullOrEmpty(Id) || string.IsNullOrEmpty(Method))
        {
            throw new InvalidDataException($"'{file}': field '{(string.IsNullOrEmpty(Id) ? "id" : "method")}' is empty");
        }
        for (int i = 0; i < CutTensors.Length; i++)
        {
            var cut = CutTensors[i] ?? throw new InvalidDataException($"'{file}': field 'cut_tensors[{i}]' is null");
            if (string.IsNullOrEmpty(cut.Name))
            {
                throw new InvalidDataException($"'{file}': field 'cut_tensors[{i}].name' is missing");
            }
            if (cut.Bits is not ((>= 1 and <= 8) or 32))
            {
                throw new InvalidDataException($"'{file}': field 'cut_tensors[{i}].bits' of {cut.Name} is {cut.Bits}; expected 1 … 8 or 32");
            }
        }
    }
}

/// <summary>What a plan run was made with (recorded in plan.json).</summary>
public sealed record PlanContext(
    string ModelName,
    string? ModelPath,
    PlanProfileSource? EdgeProfile,
    PlanProfileSource? CloudProfile,
    double EdgeSlowdown,
    double Epsilon,
    double CalibrationMs = 0,
    string? Calibration = null);

/// <summary>Writes head.onnx, tail.onnx and plan.json for a chosen partition.</summary>
public static class PlanWriter
{
    /// <summary>plan.json content; <paramref name="graph"/> may be null for a synthetic graph without a model file.</summary>
    public static PlanDocument Describe(LayerGraph? graph, PlanningProblem problem, PartitionPlan plan, PlanContext context, PlanModelPart? head = null, PlanModelPart? tail = null)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(context);
        var c = plan.Cost;
        var cut = plan.CutTensors.Select((k, i) =>
        {
            var t = problem.Tensors[k];
            return new PlanCutTensor(t.Name, t.Shape, OnnxElementTypes.Name(t.ElementType), t.ElementType,
                t.IsFloat ? plan.Bits[i] : 32, t.IsFloat ? (plan.MinimumBits?[i] ?? plan.Bits[i]) : 32,
                (long)PipelineCostModel.TensorBytes(problem, k, plan.Bits[i]),
                t.Producer >= 0 ? problem.NodeNames[t.Producer] : null,
                problem.TensorCodingRatios?[k]);
        }).ToArray();
        var modelSha = graph?.Sha256 ?? new string('0', 64);
        var idSource = tail?.Sha256 ?? head?.Sha256 ?? modelSha;
        return new PlanDocument
        {
            Id = $"{plan.Method}-{idSource[..12]}",
            Method = plan.Method,
            Model = new PlanModel(context.ModelName, context.ModelPath, modelSha),
            ModelSha256 = modelSha,
            EdgeProfile = context.EdgeProfile,
            CloudProfile = context.CloudProfile,
            EdgeSlowdown = context.EdgeSlowdown,
            BandwidthBps = problem.Settings.BandwidthBitsPerSecond,
            FrameOverheadMs = problem.Settings.FrameOverheadSeconds * 1e3,
            EdgeOverheadMs = problem.Settings.EdgeFrameOverheadSeconds * 1e3,
            TmaxMs = problem.Settings.LatencyBudgetSeconds * 1e3,
            MaxCutTensors = problem.Settings.MaxCutTensors,
            Epsilon = context.Epsilon,
            CutTensors = cut,
            Bits = [.. cut.Select(x => x.Bits)],
            EdgeLayers = [.. problem.NodeNames.Where((_, i) => plan.OnEdge[i])],
            CloudLayerCount = plan.OnEdge.Count(x => !x),
            TEdgeMs = c.EdgeSeconds * 1e3,
            TTransMs = c.TransmissionSeconds * 1e3,
            TCloudMs = c.CloudSeconds * 1e3,
            LatencyMs = c.LatencySeconds * 1e3,
            SerialLatencyMs = c.SerialLatencySeconds * 1e3,
            ThroughputFps = c.ThroughputPerSecond,
            BubbleMs = c.BubbleSeconds * 1e3,
            BubbleComputeMs = c.ComputeBubbleSeconds * 1e3,
            BubbleTransMs = c.TransmissionBubbleSeconds * 1e3,
            TTransParallelMs = c.TransmissionParallelSeconds * 1e3,
            TCloudParallelMs = c.CloudParallelSeconds * 1e3,
            Bottleneck = c.Bottleneck.ToString().ToLowerInvariant(),
            PlannerMs = plan.PlannerMilliseconds,
            CalibrationMs = context.CalibrationMs,
            Calibration = context.Calibration,
            CandidatesExamined = plan.CandidatesExamined,
            EarlyExitRate = plan.EarlyExitRate,
            Note = plan.Note,
            Head = head,
            Tail = tail,
            WireCoding = problem.Settings.Coding is null ? null : "zstd",
            EncodeNsPerPackedByte = (problem.Settings.Coding?.EdgeEncodeSecondsPerPackedByte ?? 0) * 1e9,
            InputCodec = problem.Settings.InputCodec is { } codec && plan.EdgeLayerCount == 0
                ? new PlanInputCodec(codec.Codec, codec.Quality, codec.BytesPerFrame, codec.EdgeEncodeSeconds * 1e3, codec.Accuracy, codec.RawAccuracy, codec.Frames)
                : null,
            CutChoice = plan.CutChoice,
        };
    }

    /// <summary>Splits the model at the plan and writes DIR/head.onnx, DIR/tail.onnx (when present) and DIR/plan.json.</summary>
    public static PlanDocument Write(LayerGraph graph, PlanningProblem problem, PartitionPlan plan, PlanContext context, string directory)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(plan);
        Directory.CreateDirectory(directory);
        PlanModelPart? headPart = null;
        PlanModelPart? tailPart = null;
        foreach (var stale in new[] { "head.onnx", "tail.onnx" })
        {
            File.Delete(System.IO.Path.Combine(directory, stale));
        }
        if (plan.CutTensors.Length == 0)
        {
            // Edge-only: head.onnx is the full model.
            var bytes = OnnxNamed(graph);
            headPart = WritePart(directory, "head.onnx", bytes, graph.InputTensors, graph.OutputTensors, graph, graph.Nodes.Count);
        }
        else
        {
            var names = plan.CutTensors.Select(k => problem.Tensors[k].Name).ToArray();
            var split = ModelSplitter.Split(graph, names, plan.OnEdge);
            if (split.Head is not null)
            {
                headPart = WritePart(directory, "head.onnx", split.Head.ToByteArray(),
                    [.. split.Head.Graph.Input.Select(i => i.Name)], [.. split.HeadOutputs], split.Head.Graph.Node.Count(n => n.OpType != "Constant"));
            }
            if (split.Tail is not null)
            {
                tailPart = WritePart(directory, "tail.onnx", split.Tail.ToByteArray(),
                    [.. split.TailInputs], [.. split.Tail.Graph.Output.Select(o => o.Name)], split.Tail.Graph.Node.Count(n => n.OpType != "Constant"));
            }
        }
        var doc = Describe(graph, problem, plan, context, headPart, tailPart);
        File.WriteAllText(System.IO.Path.Combine(directory, "plan.json"), doc.ToJson());
        return doc;
    }

    private static byte[] OnnxNamed(LayerGraph graph) => OperatorSupport.WithCanonicalNodeNames(graph.Model).ToByteArray();

    private static PlanModelPart WritePart(string directory, string file, byte[] bytes, IReadOnlyList<int> inputs, IReadOnlyList<int> outputs, LayerGraph graph, int layers) =>
        WritePart(directory, file, bytes, [.. inputs.Select(i => graph.Tensors[i].Name)], [.. outputs.Select(i => graph.Tensors[i].Name)], layers);

    private static PlanModelPart WritePart(string directory, string file, byte[] bytes, string[] inputs, string[] outputs, int layers)
    {
        File.WriteAllBytes(System.IO.Path.Combine(directory, file), bytes);
        return new PlanModelPart(file, Convert.ToHexStringLower(SHA256.HashData(bytes)), inputs, outputs, layers);
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true, AllowTrailingCommas = true, ReadCommentHandling = JsonCommentHandling.Skip)]
[JsonSerializable(typeof(PlanDocument))]
internal sealed partial class PlanJsonContext : JsonSerializerContext;

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = false)]
[JsonSerializable(typeof(PlanDocument))]
internal sealed partial class PlanJsonCompactContext : JsonSerializerContext;
