using System.Numerics;

namespace Coach.Engine.Planning;

/// <summary>Gives the minimum safe bit widths of a cut (eq. 1): 2…8, or 32 when no quantization is safe.</summary>
public interface ICutBitsProvider
{
    /// <summary>
    /// The narrowest width every cut tensor can share. <paramref name="cutTensors"/> are indices into
    /// <see cref="PlanningProblem.Tensors"/>, ascending.
    /// </summary>
    int MinimumBits(PlanningProblem problem, IReadOnlyList<int> cutTensors);

    /// <summary>
    /// The minimum width of each cut tensor (in <paramref name="cutTensors"/>' order) under one joint eq. 1 test: each
    /// tensor quantized to its own bits (docs/planner.md §4). By default every tensor gets the shared width.
    /// </summary>
    int[] MinimumBitsPerTensor(PlanningProblem problem, IReadOnlyList<int> cutTensors) =>
        PipelineCostModel.UniformBits(cutTensors.Count, MinimumBits(problem, cutTensors));
}

/// <summary>The same bit width for every cut (SPINN's fixed 8 bits, unquantized baselines, synthetic graphs).</summary>
public sealed class FixedBits(int bits) : ICutBitsProvider
{
    public int Bits { get; } = bits is (>= 2 and <= 8) or 32 ? bits : throw new ArgumentOutOfRangeException(nameof(bits), bits, "bits must be 2…8 or 32");
    public int MinimumBits(PlanningProblem problem, IReadOnlyList<int> cutTensors) => Bits;
}

/// <summary>A chosen partition: layers on the edge, cut tensors with their bits, and the predicted costs.</summary>
public sealed class PartitionPlan
{
    public required string Method { get; init; }
    /// <summary>OnEdge[i]: layer i (topological index) runs on the edge.</summary>
    public required bool[] OnEdge { get; init; }
    /// <summary>Cut tensors (indices into <see cref="PlanningProblem.Tensors"/>), ascending.</summary>
    public required int[] CutTensors { get; init; }
    /// <summary>Bit width of each cut tensor (32 = sent unquantized).</summary>
    public required int[] Bits { get; init; }
    /// <summary>Minimum safe bits from calibration, before eq. 11 filled a bubble (COACH only; else = Bits).</summary>
    public int[]? MinimumBits { get; init; }
    public required PartitionCost Cost { get; init; }
    /// <summary>Wall time the search took.</summary>
    public double PlannerMilliseconds { get; set; }
    /// <summary>
    /// Partitions the method examined: cuts tried by the baselines; for COACH the partitions it evaluated with calibrated
    /// bits, those whose lower bound could still beat the best found (the rest were pruned unevaluated).
    /// </summary>
    public long CandidatesExamined { get; init; }
    /// <summary>Partitions (ideals) the COACH search enumerated and bounded, pruned or not; 0 for the baselines.</summary>
    public long PartitionsEnumerated { get; init; }
    /// <summary>Expected share of frames answered on the edge without transmission (SPINN's early exit), 0 otherwise.</summary>
    public double EarlyExitRate { get; init; }
    public string? Note { get; init; }
    /// <summary>COACH with an input codec: how the compressed input cut compared with the best layer cut; null otherwise.</summary>
    public CutChoice? CutChoice { get; init; }

    public int EdgeLayerCount => OnEdge.Count(x => x);

    /// <summary>
    /// This partition, bits and costs with the account of the search that chose it (what a planner returns after picking
    /// one of its candidates); <see cref="PlannerMilliseconds"/> is left for the caller to set.
    /// </summary>
    public PartitionPlan WithSearch(long candidatesExamined, string? note = null, long partitionsEnumerated = 0, CutChoice? cutChoice = null) => new()
    {
        CutChoice = cutChoice ?? CutChoice,
        Method = Method,
        OnEdge = OnEdge,
        CutTensors = CutTensors,
        Bits = Bits,
        MinimumBits = MinimumBits,
        Cost = Cost,
        EarlyExitRate = EarlyExitRate,
        CandidatesExamined = candidatesExamined,
        PartitionsEnumerated = partitionsEnumerated,
        Note = note,
    };

    /// <summary>Builds a plan for a given edge set at given bits (one width for all float cut tensors).</summary>
    public static PartitionPlan ForPartition(string method, PlanningProblem problem, bool[] onEdge, int bits, long examined = 1)
    {
        var cut = PipelineCostModel.CutTensors(problem, onEdge);
        var perTensor = PipelineCostModel.UniformBits(cut.Length, bits);
        for (int i = 0; i < cut.Length; i++)
        {
            // A model input crossing the cut is the camera's frame: 8-bit pixels (k/255), sent exactly as uint8,
            // never widened to float32 — no method, baseline or not, would ship a raw frame four times larger.
            if (problem.Tensors[cut[i]].Producer < 0 && perTensor[i] > 8)
            {
                perTensor[i] = 8;
            }
        }

        return new PartitionPlan
        {
            Method = method,
            OnEdge = onEdge,
            CutTensors = cut,
            Bits = perTensor,
            Cost = PipelineCostModel.Evaluate(problem, onEdge, cut, perTensor),
            CandidatesExamined = examined,
        };
    }
}

/// <summary>
/// Which candidate won when COACH also considered the compressed input cut (docs/planner.md §5.4): the codec and its quality,
/// whether the codec cut won, the predicted throughputs of the codec cut and of the best layer cut (0 where there is none), the
/// layer cut in words, and why.
/// </summary>
public sealed record CutChoice(string Codec, int Quality, bool CodecCutWon, double CodecCutFps, double LayerCutFps, string? LayerCut, string Reason);

/// <summary>No partition meets T_max (eq. 3); the message names the best latency achievable.</summary>
public sealed class PlanInfeasibleException : Exception
{
    public PlanInfeasibleException(string message, double bestLatencySeconds) : base(message) => BestLatencySeconds = bestLatencySeconds;
    public PlanInfeasibleException() { }
    public PlanInfeasibleException(string message) : base(message) { }
    public PlanInfeasibleException(string message, Exception inner) : base(message, inner) { }
    public double BestLatencySeconds { get; }
}

/// <summary>A planner of the common cost model.</summary>
public interface IPartitionPlanner
{
    /// <summary>Short name used on the command line (coach, ns, dads, spinn, jps, edge, cloud).</summary>
    string Method { get; }
    PartitionPlan Plan(PlanningProblem problem, ICutBitsProvider bits);
}

/// <summary>Counts that show how large the search space is.</summary>
public sealed record SearchSpaceSize(int Layers, BigInteger Ideals, BigInteger LayerSubsets, int SeriesBlocks, int LargestBlockIdeals);
