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

    /// <summary>
    /// The best partition. With an input codec in the problem (<see cref="CostSettings.InputCodec"/>, docs/planner.md §5.4),
    /// the candidates are the layer cuts, priced without the codec, and the compressed input cut: the cloud-only partition whose
    /// frame goes through the codec at its calibrated quality (its bytes and the edge's encode time in T_t, eq. 2; its accuracy
    /// within ε, eq. 1 applied to the codec). The better of the two by the same objective wins, so COACH's predicted throughput
    /// is never below the codec's cloud-only plan. With a codec the cloud-only partition is always the coded one.
    /// </summary>
    public PartitionPlan Plan(PlanningProblem problem, ICutBitsProvider bits)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(bits);
        if (problem.Settings.InputCodec is not { } codec)
        {
            return PlanLayerCuts(problem, bits);
        }

        var clock = Stopwatch.StartNew();
        var layerProblem = problem.WithSettings(problem.Settings with { InputCodec = null });
        PartitionPlan? layer = null;
        PlanInfeasibleException? infeasible = null;
        try
        {
            layer = PlanLayerCuts(layerProblem, bits);
        }
        catch (PlanInfeasibleException e)
        {
            infeasible = e;
        }

        var coded = PartitionPlan.ForPartition(Method, problem, new bool[problem.NodeCount], 8);
        // The codec carries one frame: a model with several inputs has no compressed input cut.
        bool codedCarried = coded.CutTensors.Length == 1 && problem.Tensors[coded.CutTensors[0]].IsFloat;
        bool codedMeetsBudget = problem.Settings.LatencyBudgetSeconds is not { } tmax || coded.Cost.LatencySeconds <= tmax;
        bool codecWins = codedCarried && codedMeetsBudget
            && (layer is null || layer.EdgeLayerCount == 0 || PartitionCost.CompareObjective(coded.Cost, layer.Cost) < 0);
        if (layer is null && !codecWins)
        {
            throw new PlanInfeasibleException(
                infeasible!.Message + (codedCarried ? $"; the compressed input cut ({codec.Codec} quality {codec.Quality}) reaches {coded.Cost.LatencySeconds * 1e3:F3} ms" : ""),
                codedCarried ? Math.Min(infeasible.BestLatencySeconds, coded.Cost.LatencySeconds) : infeasible.BestLatencySeconds);
        }

        var choice = new CutChoice(codec.Codec, codec.Quality, codecWins, codedCarried ? coded.Cost.ThroughputPerSecond : 0,
            layer?.Cost.ThroughputPerSecond ?? 0, layer is null ? null : DescribeCut(layerProblem, layer),
            Reason(problem, codec, coded, codedCarried, codedMeetsBudget, layer, layerProblem));
        var chosen = codecWins ? coded : layer!;
        long examined = (layer?.CandidatesExamined ?? 0) + 1;
        var result = chosen.WithSearch(examined, (layer?.Note is { } note ? note + "; " : "") + choice.Reason, layer?.PartitionsEnumerated ?? 0, choice);
        result.PlannerMilliseconds = clock.Elapsed.TotalMilliseconds;
        return result;
    }

    /// <summary>The layer cut in words: its cut tensors and bits.</summary>
    private static string DescribeCut(PlanningProblem problem, PartitionPlan plan) =>
        plan.CutTensors.Length == 0 ? "edge-only"
        : plan.EdgeLayerCount == 0 ? "cloud-only, 8-bit frame"
        : string.Join(", ", plan.CutTensors.Select((k, i) => $"{problem.Tensors[k].Name}@{plan.Bits[i]}b"));

    private static string Reason(PlanningProblem problem, InputCodecModel codec, PartitionPlan coded, bool carried, bool meetsBudget, PartitionPlan? layer, PlanningProblem layerProblem)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        string codecCut = string.Create(inv, $"the compressed input cut (frame as {codec.Codec} quality {codec.Quality}, {codec.BytesPerFrame:F0} B + {codec.EdgeEncodeSeconds * 1e3:F3} ms encode a frame)");
        if (!carried)
        {
            return $"{codecCut} is not a candidate: the model has {coded.CutTensors.Length} inputs and the codec carries one frame";
        }

        string codedFigure = string.Create(inv, $"{coded.Cost.ThroughputPerSecond:F1} frames/s ({coded.Cost.Bottleneck.ToString().ToLowerInvariant()} stage {coded.Cost.BottleneckSeconds * 1e3:F3} ms)");
        if (layer is null)
        {
            return $"{codecCut} predicts {codedFigure}; no layer cut meets T_max";
        }

        string layerFigure = string.Create(inv, $"{layer.Cost.ThroughputPerSecond:F1} frames/s ({layer.Cost.Bottleneck.ToString().ToLowerInvariant()} stage {layer.Cost.BottleneckSeconds * 1e3:F3} ms)");
        string layerCut = $"the best layer cut ({DescribeCut(layerProblem, layer)})";
        if (!meetsBudget)
        {
            return string.Create(inv, $"{layerCut} predicts {layerFigure}; {codecCut} breaks T_max ({coded.Cost.LatencySeconds * 1e3:F3} ms)");
        }

        if (layer.EdgeLayerCount == 0)
        {
            return $"{codecCut} predicts {codedFigure}; with a codec the cloud-only partition sends the coded frame";
        }

        return PartitionCost.CompareObjective(coded.Cost, layer.Cost) < 0
            ? $"{codecCut} wins: {codedFigure} against {layerFigure} for {layerCut}"
            : $"{layerCut} wins: {layerFigure} against {codedFigure} for {codecCut}";
    }

    /// <summary>The exact search over the layer cuts (every partition of the DAG) at calibrated bits.</summary>
    private PartitionPlan PlanLayerCuts(PlanningProblem problem, ICutBitsProvider bits)
    {
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
