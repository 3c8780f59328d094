using Coach.Engine.Graph;
using Coach.Engine.Profiling;

namespace Coach.Engine.Planning;

/// <summary>A value that can cross the cut: a model input (Producer = -1) or a layer's output.</summary>
public sealed record PlanTensor(string Name, int Producer, int[] Consumers, long ElementCount, int ElementType, long[] Shape)
{
    public bool IsFloat => ElementType == OnnxElementTypes.Float;
    public long RawBytes => ElementCount * OnnxElementTypes.ByteSize(ElementType);
}

/// <summary>The link and the latency budget the plan is made for.</summary>
public sealed record CostSettings
{
    /// <summary>Bandwidth B of the edge→cloud link in bit/s.</summary>
    public required double BandwidthBitsPerSecond { get; init; }
    /// <summary>Fixed cost of sending one frame (header, syscalls, first-byte latency), added to T_t once per frame.</summary>
    public double FrameOverheadSeconds { get; init; } = 0.0005;
    /// <summary>
    /// The edge's own work per frame besides the head's layers (taking the frame, the online scheduler, packing, the
    /// socket), in the edge's time; added to T_e of every partition. Measured, not guessed: <c>coach bench paper</c> probes it.
    /// </summary>
    public double EdgeFrameOverheadSeconds { get; init; }
    /// <summary>T_max of eq. 3 (latency of one task under the overlap model), or null for none.</summary>
    public double? LatencyBudgetSeconds { get; init; }
    /// <summary>
    /// Most tensors a partition may cut: one Request carries at most this many (<see cref="CutConstraints.MaxTensorsPerFrame"/>,
    /// the wire's default); a partition that cuts more is infeasible.
    /// </summary>
    public int MaxCutTensors { get; init; } = CutConstraints.MaxTensorsPerFrame;

    /// <summary>Cut tensors go zstd-coded (plan.json <c>wire_coding</c>): their coded sizes and coding time; null for packed.</summary>
    public WireCodingModel? Coding { get; init; }

    /// <summary>The model's input frame goes through an image or video codec (the cloud-jpeg and cloud-h264 plans): its measured bytes and the edge's
    /// encode time per frame; null for 8-bit pixels as they are.</summary>
    public InputCodecModel? InputCodec { get; init; }
}

/// <summary>
/// The byte model of a frame sent through an image or video codec (docs/baselines.md): the JPEG quality or the x264 rate
/// factor (<see cref="Quality"/> for both) the codec calibration chose
/// within ε of the raw frames' accuracy (eq. 1 applied to the codec), the mean bytes a frame at it and the edge's encode
/// time a frame (in the edge's time: this machine's, times the edge slowdown), both measured on the calibration frames.
/// The edge's send stage encodes then sends each frame, so both are part of T_t (eq. 2).
/// </summary>
public sealed record InputCodecModel(string Codec, int Quality, double BytesPerFrame, double EdgeEncodeSeconds, double Accuracy, double RawAccuracy, int Frames)
{
    public InputCodecModel Validated() => ((Codec == "jpeg" && Quality is >= 1 and <= 100) || (Codec == "h264" && Quality is >= 0 and <= 51))
        && BytesPerFrame > 0 && EdgeEncodeSeconds >= 0
        ? this
        : throw new ArgumentException($"an input codec is jpeg at quality 1 … 100 or h264 at rate factor 0 … 51, with positive bytes a frame; got {Codec} at {Quality}, {BytesPerFrame} B, {EdgeEncodeSeconds} s");
}

/// <summary>
/// The byte model of zstd-coded cut tensors (docs/entropy.md): per tensor name and width 2…8, coded / packed bytes as
/// measured on calibration frames, and the edge's coding time per packed byte (in the edge's time: this machine's, times
/// the edge slowdown). The edge's send stage codes then sends each frame, so both are part of T_t (eq. 2).
/// </summary>
public sealed record WireCodingModel(IReadOnlyDictionary<string, double[]> Ratios, double EdgeEncodeSecondsPerPackedByte)
{
    /// <summary>Coded / packed bytes of <paramref name="tensor"/> at <paramref name="bits"/>; 1 where not measured (sent packed).</summary>
    public double Ratio(string tensor, int bits) =>
        bits is >= 2 and <= 8 && Ratios.TryGetValue(tensor, out var r) && r.Length == 7 ? r[bits - 2] : 1.0;
}

/// <summary>
/// Everything the planners need, in index form: layers in topological order with their edge and cloud times
/// (t_i^e, t_i^c of eq. 2), and the values that can cross a cut. Built from a <see cref="LayerGraph"/> and two
/// profiles, or directly (tests, synthetic graphs).
/// </summary>
public sealed class PlanningProblem
{
    public PlanningProblem(IReadOnlyList<string> nodeNames, double[] edgeSeconds, double[] cloudSeconds,
        IReadOnlyList<PlanTensor> tensors, CostSettings settings)
    {
        ArgumentNullException.ThrowIfNull(nodeNames);
        ArgumentNullException.ThrowIfNull(tensors);
        int n = nodeNames.Count;
        if (edgeSeconds.Length != n || cloudSeconds.Length != n)
        {
            throw new ArgumentException($"expected {n} edge and cloud layer times, got {edgeSeconds.Length} and {cloudSeconds.Length}");
        }
        if (!(settings.BandwidthBitsPerSecond > 0))
        {
            throw new ArgumentException($"bandwidth must be positive, got {settings.BandwidthBitsPerSecond} bit/s");
        }
        if (settings.MaxCutTensors < 1)
        {
            throw new ArgumentException($"the most tensors a cut may carry (--max-cut-tensors) must be at least 1, got {settings.MaxCutTensors}");
        }
        NodeNames = nodeNames;
        EdgeSeconds = edgeSeconds;
        CloudSeconds = cloudSeconds;
        Tensors = tensors;
        Settings = settings;
        var preds = new List<int>[n];
        var succs = new List<int>[n];
        var inputsOf = new List<int>[n];
        for (int i = 0; i < n; i++)
        {
            preds[i] = [];
            succs[i] = [];
            inputsOf[i] = [];
        }
        for (int k = 0; k < tensors.Count; k++)
        {
            var t = tensors[k];
            foreach (var c in t.Consumers)
            {
                if (c <= t.Producer || c >= n)
                {
                    throw new ArgumentException($"tensor '{t.Name}' (producer {t.Producer}) is read by layer {c}: layers must be numbered in topological order");
                }
                inputsOf[c].Add(k);
                if (t.Producer >= 0 && !preds[c].Contains(t.Producer))
                {
                    preds[c].Add(t.Producer);
                    succs[t.Producer].Add(c);
                }
            }
        }
        TensorProducers = [.. tensors.Select(t => t.Producer)];
        TensorConsumers = [.. tensors.Select(t => t.Consumers)];
        TensorIsFloat = [.. tensors.Select(t => t.IsFloat)];
        TensorElements = [.. tensors.Select(t => t.ElementCount)];
        TensorRawBytes = [.. tensors.Select(t => t.RawBytes)];
        TensorCodingRatios = settings.Coding is { } coding
            ? [.. tensors.Select(t => Enumerable.Range(2, 7).Select(b => t.IsFloat && t.Producer >= 0 ? coding.Ratio(t.Name, b) : 1.0).ToArray())]
            : null;
        Predecessors = [.. preds.Select(p => p.Order().ToArray())];
        Successors = [.. succs.Select(s => s.Order().ToArray())];
        NodeInputs = [.. inputsOf.Select(l => l.ToArray())];
    }

    public int NodeCount => NodeNames.Count;
    public IReadOnlyList<string> NodeNames { get; }
    public double[] EdgeSeconds { get; }
    public double[] CloudSeconds { get; }
    public IReadOnlyList<PlanTensor> Tensors { get; }
    public CostSettings Settings { get; }
    public int[][] Predecessors { get; }
    public int[][] Successors { get; }
    /// <summary>For each layer, the indices (into <see cref="Tensors"/>) of the values it reads.</summary>
    public int[][] NodeInputs { get; }

    // Flat copies of the tensor table for the planner's inner loops.
    internal int[] TensorProducers { get; }
    internal int[][] TensorConsumers { get; }
    internal bool[] TensorIsFloat { get; }
    internal long[] TensorElements { get; }
    internal long[] TensorRawBytes { get; }
    /// <summary>Per tensor, coded / packed bytes at 2…8 bits when the cut tensors go coded; null otherwise.</summary>
    internal double[][]? TensorCodingRatios { get; }

    public PlanningProblem WithSettings(CostSettings settings) =>
        new(NodeNames, EdgeSeconds, CloudSeconds, Tensors, settings);

    /// <summary>
    /// The problem of a real model: layer times from the edge profile (scaled by <paramref name="edgeSlowdown"/>, so
    /// a profile measured on a fast machine can stand in for a slower device) and the cloud profile.
    /// </summary>
    public static PlanningProblem FromGraph(LayerGraph graph, LayerProfile edge, LayerProfile cloud, CostSettings settings, double edgeSlowdown = 1.0)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(edge);
        ArgumentNullException.ThrowIfNull(cloud);
        if (!(edgeSlowdown > 0))
        {
            throw new ArgumentException($"edge slowdown must be positive, got {edgeSlowdown}");
        }
        edge.EnsureMatches(graph);
        cloud.EnsureMatches(graph);
        int n = graph.Nodes.Count;
        var te = new double[n];
        var tc = new double[n];
        for (int i = 0; i < n; i++)
        {
            te[i] = edge.MedianMicroseconds(graph.Nodes[i].Name) * 1e-6 * edgeSlowdown;
            tc[i] = cloud.MedianMicroseconds(graph.Nodes[i].Name) * 1e-6;
        }
        return FromGraph(graph, te, tc, settings);
    }

    /// <summary>The problem of a real model with given layer times (seconds, by topological index).</summary>
    public static PlanningProblem FromGraph(LayerGraph graph, double[] edgeSeconds, double[] cloudSeconds, CostSettings settings)
    {
        ArgumentNullException.ThrowIfNull(graph);
        if (!graph.HasCompleteShapes)
        {
            var unknown = graph.Tensors.First(t => t.Role != TensorRole.Parameter && !t.ShapeKnown);
            throw new ModelGraphException($"the shape of value '{unknown.Name}' is unknown; run shape discovery (ShapeDiscovery.Complete) before planning");
        }
        var names = graph.Nodes.Select(x => x.Name).ToArray();
        var tensors = new List<PlanTensor>();
        foreach (var t in graph.Tensors)
        {
            if (t.Role == TensorRole.Parameter || t.Consumers.Count == 0)
            {
                continue; // never needed across the cut
            }
            tensors.Add(new PlanTensor(t.Name, t.Producer, [.. t.Consumers], t.ElementCount, t.ElementType, t.Shape!));
        }
        return new PlanningProblem(names, edgeSeconds, cloudSeconds, tensors, settings);
    }
}
