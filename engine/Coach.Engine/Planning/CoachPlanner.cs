using System.Diagnostics;

namespace Coach.Engine.Planning;

/// <summary>
/// COACH's offline search (paper §III-B, ARCHITECTURE §2.5–2.7): over every partition (ideal) of the layer DAG,
/// enumerated by the recursive divide-and-conquer of <see cref="IdealDecomposition"/>, pick the one whose
/// pipeline has the smallest bottleneck stage max(T_e, T_t, T_c), then the fewest bubbles (eq. 5), subject to
/// T_max on the overlapped single-task latency (eq. 3, 4). Bits: the cut's minimum safe width from calibration
/// (eq. 1), raised where that fills the transmission bubble without lengthening the bottleneck (eq. 11 offline).
/// Exact: calibration, which is expensive, is asked only for partitions whose 2-bit lower bound on the bottleneck
/// could still beat the best found (branch and bound; T_t, the bottleneck and the latency only grow with bits).
/// </summary>
public sealed class CoachPlanner : IPartitionPlanner
{
    public string Method => "coach";

    public PartitionPlan Plan(PlanningProblem problem, ICutBitsProvider bits)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(bits);
        var clock = Stopwatch.StartNew();
        var decomposition = IdealDecomposition.Build(problem);
        var candidates = new List<(bool[] OnEdge, double LowerBound)>();
        var onEdge = new bool[problem.NodeCount];
        var lowerBits = new int[problem.Tensors.Count];
        Array.Fill(lowerBits, 2);
        decomposition.Enumerate(onEdge, () =>
        {
            double te = PipelineCostModel.EdgeSeconds(problem, onEdge);
            double tc = PipelineCostModel.CloudSeconds(problem, onEdge);
            double tt = 0;
            bool any = false;
            for (int k = 0; k < problem.Tensors.Count; k++)
            {
                if (PipelineCostModel.IsCut(problem, k, onEdge))
                {
                    tt += PipelineCostModel.TensorSeconds(problem, k, 2);
                    any = true;
                }
            }
            if (any)
            {
                tt += problem.Settings.FrameOverheadSeconds;
            }
            candidates.Add(((bool[])onEdge.Clone(), Math.Max(te, Math.Max(tt, tc))));
        });
        candidates.Sort((a, b) => a.LowerBound.CompareTo(b.LowerBound));

        var chooser = new BitChooser(problem, bits);
        PartitionPlan? best = null;
        double bestLatency = double.PositiveInfinity;
        long examined = 0;
        foreach (var (edgeSet, lowerBound) in candidates)
        {
            // The lower bound is a sum in another order than the exact costs: allow for rounding.
            if (best is not null && lowerBound * (1 - 1e-12) > best.Cost.BottleneckSeconds)
            {
                break;
            }
            examined++;
            var plan = chooser.Choose(Method, edgeSet, out var latencyAtMinimumBits);
            bestLatency = Math.Min(bestLatency, latencyAtMinimumBits);
            if (plan is not null && (best is null || PartitionCost.CompareObjective(plan.Cost, best.Cost) < 0))
            {
                best = plan;
            }
        }
        if (best is null)
        {
            // Every partition breaks T_max: report the best latency any of them reaches.
            foreach (var (edgeSet, _) in candidates.Skip((int)examined))
            {
                chooser.Choose(Method, edgeSet, out var latency);
                bestLatency = Math.Min(bestLatency, latency);
            }
            throw new PlanInfeasibleException(
                $"no partition meets T_max = {problem.Settings.LatencyBudgetSeconds * 1e3:F3} ms: the lowest latency any partition reaches is {bestLatency * 1e3:F3} ms; raise --tmax to at least that",
                bestLatency);
        }
        best.PlannerMilliseconds = clock.Elapsed.TotalMilliseconds;
        return new PartitionPlan
        {
            Method = best.Method,
            OnEdge = best.OnEdge,
            CutTensors = best.CutTensors,
            Bits = best.Bits,
            MinimumBits = best.MinimumBits,
            Cost = best.Cost,
            PlannerMilliseconds = clock.Elapsed.TotalMilliseconds,
            CandidatesExamined = candidates.Count,
            Note = $"{candidates.Count} partitions enumerated, {examined} evaluated with calibrated bits",
        };
    }
}

/// <summary>
/// The bits of one partition: the calibrated minimum b_min of its cut, then eq. 11 offline —
/// Q = argmin_{Q ≥ b_min} |T_t(Q) − max{T_e, T_t(Q), T_c}| among widths that keep the bottleneck and T_max
/// (the widest on ties): more bits where the link would otherwise idle, for free accuracy.
/// </summary>
public sealed class BitChooser(PlanningProblem problem, ICutBitsProvider provider)
{
    private readonly Dictionary<string, int> _minimumBits = new(StringComparer.Ordinal);

    public int MinimumBits(int[] cut)
    {
        if (cut.Length == 0 || !cut.Any(k => problem.Tensors[k].IsFloat))
        {
            return 32;
        }
        var key = string.Join(',', cut);
        if (!_minimumBits.TryGetValue(key, out var b))
        {
            b = provider.MinimumBits(problem, cut);
            if (b is not ((>= 2 and <= 8) or 32))
            {
                throw new InvalidOperationException($"calibration returned {b} bits for a cut; expected 2…8 or 32");
            }
            _minimumBits[key] = b;
        }
        return b;
    }

    /// <summary>The plan of one partition, or null when it breaks T_max; also the latency at minimum bits.</summary>
    public PartitionPlan? Choose(string method, bool[] onEdge, out double latencyAtMinimumBits)
    {
        var cut = PipelineCostModel.CutTensors(problem, onEdge);
        int minimum = MinimumBits(cut);
        var minimumBits = PipelineCostModel.UniformBits(cut.Length, minimum);
        var atMinimum = PipelineCostModel.Evaluate(problem, onEdge, cut, minimumBits);
        latencyAtMinimumBits = atMinimum.LatencySeconds;
        double? budget = problem.Settings.LatencyBudgetSeconds;
        if (budget is { } tmax && atMinimum.LatencySeconds > tmax)
        {
            return null;
        }
        var chosen = atMinimum;
        var chosenBits = minimumBits;
        if (minimum < 32 && atMinimum.TransmissionSeconds < atMinimum.BottleneckSeconds)
        {
            double bottleneck = atMinimum.BottleneckSeconds;
            double bestGap = Gap(atMinimum);
            for (int b = minimum + 1; b <= 9; b++)
            {
                int width = b == 9 ? 32 : b;
                var bitsHere = PipelineCostModel.UniformBits(cut.Length, width);
                var cost = PipelineCostModel.Evaluate(problem, onEdge, cut, bitsHere);
                if (cost.BottleneckSeconds > bottleneck || (budget is { } t && cost.LatencySeconds > t))
                {
                    break; // T_t and the latency only grow with bits
                }
                double gap = Gap(cost);
                if (gap <= bestGap)
                {
                    bestGap = gap;
                    chosen = cost;
                    chosenBits = bitsHere;
                }
            }
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

    // eq. 11: |T'_t − max{T_e, T'_t, T_c}|
    private static double Gap(PartitionCost c) => Math.Abs(c.TransmissionSeconds - c.BottleneckSeconds);
}
