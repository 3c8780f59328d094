using Coach.Engine.Online;
using System.Diagnostics;

namespace Coach.Engine.Planning;

/// <summary>
/// COACH's offline search (paper §III-B, docs/planner.md §5): over every partition (ideal) of the layer DAG,
/// enumerated by the recursive divide-and-conquer of <see cref="IdealDecomposition"/>, pick the one whose
/// pipeline has the smallest bottleneck stage max(T_e, T_t, T_c), then the fewest bubbles (eq. 5), subject to
/// T_max on the overlapped single-task latency (eq. 3, 4). Bits: the cut's minimum safe width from calibration
/// (eq. 1), raised where that fills the transmission bubble without lengthening the bottleneck (eq. 11 offline).
/// Exact: calibration, which is expensive, is asked only for partitions whose 2-bit lower bound on the bottleneck
/// could still beat the best found (branch and bound; T_t, the bottleneck and the latency only grow with bits).
/// </summary>
public sealed class CoachPlanner : IPartitionPlanner
{
    /// <summary>Upper bound on enumerated partitions (memory for their lower bounds).</summary>
    public const int MaxPartitions = 20_000_000;

    public string Method => "coach";

    public PartitionPlan Plan(PlanningProblem problem, ICutBitsProvider bits)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(bits);
        var clock = Stopwatch.StartNew();
        var decomposition = IdealDecomposition.Build(problem);
        var partitions = decomposition.CountIdeals();
        if (partitions > MaxPartitions)
        {
            throw new InvalidOperationException(
                $"the layer DAG has {partitions} partitions, more than the {MaxPartitions} this exact search enumerates; the graph is unusually wide (many independent branches)");
        }
        var candidates = new List<(bool[] OnEdge, double LowerBound)>();
        var onEdge = new bool[problem.NodeCount];
        var twoBitSeconds = new double[problem.Tensors.Count];
        for (int k = 0; k < twoBitSeconds.Length; k++)
        {
            twoBitSeconds[k] = PipelineCostModel.TensorSeconds(problem, k, 2);
        }
        decomposition.Enumerate(onEdge, () =>
        {
            double te = PipelineCostModel.EdgeSeconds(problem, onEdge);
            double tc = PipelineCostModel.CloudSeconds(problem, onEdge);
            double tt = 0;
            bool any = false;
            for (int k = 0; k < twoBitSeconds.Length; k++)
            {
                if (PipelineCostModel.IsCut(problem, k, onEdge))
                {
                    tt += twoBitSeconds[k];
                    any = true;
                }
            }
            if (any)
            {
                tt += PipelineCostModel.FrameSeconds(problem);
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
            var plan = chooser.Choose(Method, edgeSet, out var latencyAtMinimumBits, best?.Cost.BottleneckSeconds ?? double.PositiveInfinity);
            if (!double.IsNaN(latencyAtMinimumBits))
            {
                bestLatency = Math.Min(bestLatency, latencyAtMinimumBits);
            }
            if (plan is not null && (best is null || PartitionCost.CompareObjective(plan.Cost, best.Cost) < 0))
            {
                best = plan;
            }
        }
        if (best is null)
        {
            // Every partition breaks T_max. The lowest latency achievable, exactly but calibrating few cuts: visit
            // partitions by their 2-bit latency (a lower bound) until it exceeds the best calibrated latency.
            var byBound = candidates.Select(c => (c.OnEdge, Bound: chooser.LatencyLowerBound(c.OnEdge, PipelineCostModel.CutTensors(problem, c.OnEdge))))
                .OrderBy(c => c.Bound).ToList();
            bestLatency = double.PositiveInfinity;
            foreach (var (edgeSet, bound) in byBound)
            {
                if (bound >= bestLatency)
                {
                    break;
                }
                var cut = PipelineCostModel.CutTensors(problem, edgeSet);
                var atMinimum = PipelineCostModel.Evaluate(problem, edgeSet, cut, PipelineCostModel.UniformBits(cut.Length, chooser.MinimumBits(cut)));
                bestLatency = Math.Min(bestLatency, atMinimum.LatencySeconds);
            }
            throw new PlanInfeasibleException(
                $"no partition meets T_max = {problem.Settings.LatencyBudgetSeconds * 1e3:F3} ms: the lowest latency any partition reaches is {bestLatency * 1e3:F3} ms; raise --tmax to at least that",
                bestLatency);
        }
        var chosen = best.WithSearch(examined, $"{candidates.Count} partitions enumerated, {examined} evaluated with calibrated bits", candidates.Count);
        chosen.PlannerMilliseconds = clock.Elapsed.TotalMilliseconds;
        return chosen;
    }
}

/// <summary>
/// The bits of one partition: the calibrated minimum b_min of its cut, then eq. 11 offline —
/// Q = argmin_{Q ≥ b_min} |T_t(Q) − max{T_e, T_t(Q), T_c}| among widths that keep the bottleneck and T_max
/// (the widest on ties): more bits where the link would otherwise idle, for free accuracy.
/// </summary>
public sealed class BitChooser(PlanningProblem problem, ICutBitsProvider provider)
{
    /// <summary>Eq. 11's candidates offline: the widths calibration can return (eq. 1), and raw float.</summary>
    private static readonly int[] OfflineWidths = [2, 3, 4, 5, 6, 7, 8, 32];

    private readonly Dictionary<string, int> _minimumBits = new(StringComparer.Ordinal);

    /// <summary>Latency of the partition with every float cut tensor at 2 bits: a lower bound for any bits.</summary>
    public double LatencyLowerBound(bool[] onEdge, int[] cut) =>
        PipelineCostModel.Evaluate(problem, onEdge, cut, PipelineCostModel.UniformBits(cut.Length, 2)).LatencySeconds;

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
        int minimum = MinimumBits(cut);
        var minimumBits = PipelineCostModel.UniformBits(cut.Length, minimum);
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
        var link = new PartitionLink(problem, onEdge, cut, budget);
        int width = BubbleFillingBits.Choose(minimum, OfflineWidths, Math.Max(te, tc), ref link); // eq. 11 offline, under T_max
        if (width != minimum)
        {
            chosenBits = PipelineCostModel.UniformBits(cut.Length, width);
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

    /// <summary>T_t(Q) of one partition with every cut tensor at Q, and T_max (eq. 3) on its overlapped latency (eq. 4).</summary>
    private readonly struct PartitionLink(PlanningProblem problem, bool[] onEdge, int[] cut, double? latencyBudget) : ITransmissionAtBits
    {
        public double TransmissionSeconds(int bits) =>
            PipelineCostModel.TransmissionSeconds(problem, cut, PipelineCostModel.UniformBits(cut.Length, bits));

        public bool Admits(int bits) =>
            latencyBudget is not { } tmax
            || PipelineCostModel.Evaluate(problem, onEdge, cut, PipelineCostModel.UniformBits(cut.Length, bits)).LatencySeconds <= tmax;
    }
}
