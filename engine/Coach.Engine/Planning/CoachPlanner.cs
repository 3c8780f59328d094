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
        var excluded = new long[Enum.GetValues<CutViolation>().Length];
        decomposition.Enumerate(onEdge, () =>
        {
            double tt = 0;
            int count = 0;
            bool nonFloat = false;
            for (int k = 0; k < twoBitSeconds.Length; k++)
            {
                if (PipelineCostModel.IsCut(problem, k, onEdge))
                {
                    tt += twoBitSeconds[k];
                    count++;
                    nonFloat |= !CutConstraints.CanCross(problem, k);
                }
            }
            // The deployment constraints (CutConstraints): no non-float value crosses, at most MaxCutTensors tensors.
            var violation = nonFloat ? CutViolation.NonFloat : count > problem.Settings.MaxCutTensors ? CutViolation.TooManyTensors : CutViolation.None;
            if (violation != CutViolation.None)
            {
                excluded[(int)violation]++;
                return;
            }
            if (count > 0)
            {
                tt += PipelineCostModel.FrameSeconds(problem);
            }
            double te = PipelineCostModel.EdgeSeconds(problem, onEdge);
            double tc = PipelineCostModel.CloudSeconds(problem, onEdge);
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
                var atMinimum = PipelineCostModel.Evaluate(problem, edgeSet, cut, chooser.MinimumBitsPerTensor(cut));
                bestLatency = Math.Min(bestLatency, atMinimum.LatencySeconds);
            }
            throw new PlanInfeasibleException(
                $"no partition meets T_max = {problem.Settings.LatencyBudgetSeconds * 1e3:F3} ms: the lowest latency any partition reaches is {bestLatency * 1e3:F3} ms (among those the data plane can carry); raise --tmax to at least that"
                + ExcludedNote(problem, decomposition, excluded, bestLatency),
                bestLatency);
        }
        // Eq. 4 as a constraint: the chosen plan's latency comes from a schedule in which no cloud layer starts before its inputs.
        PipelineCostModel.Schedule(problem, best.OnEdge, best.CutTensors, best.Bits).EnsureValid(problem, best.OnEdge, best.Cost.LatencySeconds);
        var chosen = best.WithSearch(examined, $"{candidates.Count} partitions enumerated, {examined} evaluated with calibrated bits"
            + (excluded.Sum() > 0 ? $", {excluded.Sum()} excluded by the cut constraints" : ""), candidates.Count + excluded.Sum());
        chosen.PlannerMilliseconds = clock.Elapsed.TotalMilliseconds;
        return chosen;
    }

    /// <summary>
    /// Which cut constraint bound when T_max cannot be met: for each kind of excluded partition, how many there were and the
    /// lowest latency (at 2 bits, a lower bound) one of them would have reached, when below the deployable best.
    /// </summary>
    private static string ExcludedNote(PlanningProblem problem, IdealDecomposition decomposition, long[] excluded, double bestLatency)
    {
        if (excluded.Sum() == 0)
        {
            return "";
        }
        var fastest = new double[excluded.Length];
        Array.Fill(fastest, double.PositiveInfinity);
        var onEdge = new bool[problem.NodeCount];
        decomposition.Enumerate(onEdge, () =>
        {
            var cut = PipelineCostModel.CutTensors(problem, onEdge);
            var violation = CutConstraints.Check(problem, cut);
            if (violation != CutViolation.None)
            {
                double atTwoBits = PipelineCostModel.Evaluate(problem, onEdge, cut, PipelineCostModel.UniformBits(cut.Length, 2)).LatencySeconds;
                fastest[(int)violation] = Math.Min(fastest[(int)violation], atTwoBits);
            }
        });
        var notes = new List<string>();
        foreach (var violation in new[] { CutViolation.TooManyTensors, CutViolation.NonFloat })
        {
            int v = (int)violation;
            if (excluded[v] > 0)
            {
                string faster = fastest[v] < bestLatency ? $"; the limit binds: the fastest of them could reach {fastest[v] * 1e3:F3} ms" : "";
                notes.Add($"{excluded[v]} partitions were excluded because they {CutConstraints.Describe(violation, problem)}{faster}");
            }
        }
        return ". " + string.Join(". ", notes);
    }
}
