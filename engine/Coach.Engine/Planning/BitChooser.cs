using Coach.Engine.Online;

namespace Coach.Engine.Planning;

/// <summary>
/// The bits of one partition: each cut tensor's calibrated minimum b_i (eq. 1, one joint test over the cut;
/// docs/planner.md §4), then eq. 11 offline on a floor level Q: every tensor is sent at max(b_i, Q), and
/// Q = argmin_{Q ≥ min b_i} |T_t(Q) − max{T_e, T_t(Q), T_c}| among levels that keep the bottleneck and T_max (the widest
/// on ties): more bits where the link would otherwise idle, for free accuracy. Raising a floor widens the narrowest
/// tensors first (those that lose the most to quantization) and never narrows one below its calibrated minimum; with one
/// shared minimum it is exactly eq. 11 on that width.
/// </summary>
public sealed class BitChooser(PlanningProblem problem, ICutBitsProvider provider)
{
    /// <summary>Eq. 11's candidates offline: the widths calibration can return (eq. 1), and raw float.</summary>
    private static readonly int[] OfflineWidths = [2, 3, 4, 5, 6, 7, 8, 32];

    private readonly Dictionary<string, int> _minimumBits = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int[]> _perTensor = new(StringComparer.Ordinal);

    /// <summary>Latency of the partition with every float cut tensor at 2 bits: a lower bound for any bits.</summary>
    public double LatencyLowerBound(bool[] onEdge, int[] cut) =>
        PipelineCostModel.Evaluate(problem, onEdge, cut, PipelineCostModel.UniformBits(cut.Length, 2)).LatencySeconds;

    /// <summary>The narrowest width all the cut's tensors can share (eq. 1); 32 when no float value crosses.</summary>
    public int MinimumBits(int[] cut)
    {
        ArgumentNullException.ThrowIfNull(cut);
        if (cut.Length == 0 || !cut.Any(k => problem.Tensors[k].IsFloat))
        {
            return 32;
        }
        var key = string.Join(',', cut);
        if (!_minimumBits.TryGetValue(key, out var b))
        {
            b = provider.MinimumBits(problem, cut);
            if (!IsWidth(b))
            {
                throw new InvalidOperationException($"calibration returned {b} bits for a cut; expected 2…8 or 32");
            }
            _minimumBits[key] = b;
        }
        return b;
    }

    /// <summary>Each cut tensor's minimum width under one joint eq. 1 test (non-float values: 32, they go raw).</summary>
    public int[] MinimumBitsPerTensor(int[] cut)
    {
        ArgumentNullException.ThrowIfNull(cut);
        if (cut.Length == 0 || !cut.Any(k => problem.Tensors[k].IsFloat))
        {
            return PipelineCostModel.UniformBits(cut.Length, 32);
        }
        var key = string.Join(',', cut);
        if (!_perTensor.TryGetValue(key, out var bits))
        {
            bits = provider.MinimumBitsPerTensor(problem, cut);
            if (bits.Length != cut.Length || !bits.All(IsWidth))
            {
                throw new InvalidOperationException($"calibration returned [{string.Join(", ", bits)}] for a cut of {cut.Length} tensors; expected one width 2…8 or 32 each");
            }
            bits = [.. bits.Select((b, i) => problem.Tensors[cut[i]].IsFloat ? b : 32)];
            _perTensor[key] = bits;
        }
        return [.. bits];
    }

    /// <summary>Every tensor at least at <paramref name="floor"/>: max(b_i, Q).</summary>
    public static int[] Raise(int[] minimum, int floor)
    {
        ArgumentNullException.ThrowIfNull(minimum);
        return [.. minimum.Select(b => Math.Max(b, floor))];
    }

    /// <summary>
    /// The plan of one partition, or null when it breaks T_max or its bottleneck exceeds <paramref name="pruneAbove"/>
    /// (then <paramref name="latencyAtMinimumBits"/> is NaN); else also the latency at minimum bits.
    /// </summary>
    public PartitionPlan? Choose(string method, bool[] onEdge, out double latencyAtMinimumBits, double pruneAbove = double.PositiveInfinity)
    {
        ArgumentNullException.ThrowIfNull(onEdge);
        var cut = PipelineCostModel.CutTensors(problem, onEdge);
        if (problem.Settings.LatencyBudgetSeconds is { } limit && LatencyLowerBound(onEdge, cut) > limit)
        {
            // Even at 2 bits this partition breaks T_max (latency only grows with bits): no calibration needed.
            latencyAtMinimumBits = double.NaN;
            return null;
        }
        var minimumBits = MinimumBitsPerTensor(cut);
        double te = PipelineCostModel.EdgeSeconds(problem, onEdge);
        double tc = PipelineCostModel.CloudSeconds(problem, onEdge);
        double bottleneck = Math.Max(Math.Max(te, tc), PipelineCostModel.TransmissionSeconds(problem, cut, minimumBits));
        if (bottleneck > pruneAbove)
        {
            latencyAtMinimumBits = double.NaN;
            return null;
        }
        var atMinimum = PipelineCostModel.Evaluate(problem, onEdge, cut, minimumBits);
        latencyAtMinimumBits = atMinimum.LatencySeconds;
        double? budget = problem.Settings.LatencyBudgetSeconds;
        if (budget is { } tmax && atMinimum.LatencySeconds > tmax)
        {
            return null;
        }
        var chosen = atMinimum;
        var chosenBits = minimumBits;
        int lowest = minimumBits.Length == 0 ? 32 : minimumBits.Min();
        var link = new PartitionLink(problem, onEdge, cut, minimumBits, budget);
        int floor = BubbleFillingBits.Choose(lowest, OfflineWidths, Math.Max(te, tc), ref link); // eq. 11 offline, under T_max
        if (floor != lowest)
        {
            chosenBits = Raise(minimumBits, floor);
            chosen = PipelineCostModel.Evaluate(problem, onEdge, cut, chosenBits);
        }
        return new PartitionPlan
        {
            Method = method,
            OnEdge = onEdge,
            CutTensors = cut,
            Bits = chosenBits,
            MinimumBits = minimumBits,
            Cost = chosen,
        };
    }

    private static bool IsWidth(int b) => b is (>= 2 and <= 8) or 32;

    /// <summary>T_t with every cut tensor at max(b_i, Q), and T_max (eq. 3) on its overlapped latency (eq. 4).</summary>
    private readonly struct PartitionLink(PlanningProblem problem, bool[] onEdge, int[] cut, int[] minimum, double? latencyBudget) : ITransmissionAtBits
    {
        public double TransmissionSeconds(int bits)
        {
            double s = PipelineCostModel.FrameSeconds(problem);
            for (int i = 0; i < cut.Length; i++)
            {
                s += PipelineCostModel.TensorSeconds(problem, cut[i], Math.Max(minimum[i], bits));
            }
            return s;
        }

        public bool Admits(int bits) =>
            latencyBudget is not { } tmax
            || PipelineCostModel.Evaluate(problem, onEdge, cut, Raise(minimum, bits)).LatencySeconds <= tmax;
    }
}
