using Coach.Engine.Planning;

namespace Coach.Engine.Tests.Planning;

/// <summary>
/// Reference search for small graphs: every subset of layers, kept when downward closed, scored exactly as
/// <see cref="CoachPlanner"/> scores a partition: the reference the planner tests compare with. Exponential in the
/// layer count.
/// </summary>
internal sealed class BruteForcePlanner : IPartitionPlanner
{
    public const int MaxLayers = 24;

    public string Method => "brute-force";

    /// <summary>Every ideal of the problem's DAG, found by testing all 2^n layer subsets.</summary>
    public static List<bool[]> AllIdeals(PlanningProblem problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        int n = problem.NodeCount;
        if (n > MaxLayers)
        {
            throw new ArgumentException($"brute force over 2^{n} layer subsets is infeasible (limit {MaxLayers} layers)");
        }
        var ideals = new List<bool[]>();
        for (long mask = 0; mask < 1L << n; mask++)
        {
            var onEdge = new bool[n];
            for (int i = 0; i < n; i++)
            {
                onEdge[i] = (mask >> i & 1) != 0;
            }
            if (IsDownwardClosed(problem, onEdge))
            {
                ideals.Add(onEdge);
            }
        }
        return ideals;
    }

    /// <summary>The ideals whose cut the edge and the cloud can carry (<see cref="CutConstraints"/>), which every planner searches.</summary>
    public static List<bool[]> DeployableIdeals(PlanningProblem problem) => [.. AllIdeals(problem).Where(i => CutConstraints.Admits(problem, i))];

    public PartitionPlan Plan(PlanningProblem problem, ICutBitsProvider bits)
    {
        var chooser = new BitChooser(problem, bits);
        PartitionPlan? best = null;
        double bestLatency = double.PositiveInfinity;
        // Only the partitions the edge and cloud can deploy (CutConstraints: float32 values, at most MaxCutTensors).
        foreach (var ideal in DeployableIdeals(problem))
        {
            var plan = chooser.Choose(Method, ideal, out _);
            var cut = PipelineCostModel.CutTensors(problem, ideal);
            bestLatency = Math.Min(bestLatency, PipelineCostModel.Evaluate(problem, ideal, cut, chooser.MinimumBitsPerTensor(cut)).LatencySeconds);
            if (plan is not null && (best is null || PartitionCost.CompareObjective(plan.Cost, best.Cost) < 0))
            {
                best = plan;
            }
        }
        return best ?? throw new PlanInfeasibleException($"no partition meets T_max; best latency {bestLatency * 1e3:F3} ms", bestLatency);
    }

    /// <summary>min over ideals of T_e + T_t + T_c at 32 bits (the serial latency DADS minimises).</summary>
    public static double MinimumSerialLatency(PlanningProblem problem) =>
        DeployableIdeals(problem).Min(ideal => PartitionPlan.ForPartition("brute-force", problem, ideal, 32).Cost.SerialLatencySeconds);

    /// <summary>True when <paramref name="onEdge"/> is downward closed (every predecessor of an edge layer is on the edge): a partition.</summary>
    public static bool IsDownwardClosed(PlanningProblem problem, bool[] onEdge)
    {
        for (int v = 0; v < problem.NodeCount; v++)
        {
            if (onEdge[v] && problem.Predecessors[v].Any(p => !onEdge[p]))
            {
                return false;
            }
        }

        return true;
    }
}
