namespace Coach.Engine.Planning;

/// <summary>The cut points chain-oriented baselines consider: prefixes of the topological order.</summary>
public static class ChainCuts
{
    /// <summary>Every prefix of the topological order (each is downward closed): n + 1 partitions.</summary>
    public static IEnumerable<bool[]> TopologicalPrefixes(PlanningProblem problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        for (int k = 0; k <= problem.NodeCount; k++)
        {
            var onEdge = new bool[problem.NodeCount];
            for (int i = 0; i < k; i++)
            {
                onEdge[i] = true;
            }
            yield return onEdge;
        }
    }

    /// <summary>Prefixes that a single tensor crosses (the points of a chain), plus the edge-only prefix; deployable ones only.</summary>
    public static IEnumerable<bool[]> SingleTensorPrefixes(PlanningProblem problem) =>
        TopologicalPrefixes(problem).Where(p => PipelineCostModel.CutTensors(problem, p).Length <= 1 && CutConstraints.Admits(problem, p));

    /// <summary>The prefixes whose cut the edge and cloud can carry (<see cref="CutConstraints"/>); the edge-only prefix always.</summary>
    public static IEnumerable<bool[]> DeployablePrefixes(PlanningProblem problem) =>
        TopologicalPrefixes(problem).Where(p => CutConstraints.Admits(problem, p));
}

/// <summary>Everything on the end device: nothing is transmitted.</summary>
public sealed class EdgeOnlyPlanner : IPartitionPlanner
{
    public string Method => "edge";

    public PartitionPlan Plan(PlanningProblem problem, ICutBitsProvider bits)
    {
        ArgumentNullException.ThrowIfNull(problem);
        var onEdge = new bool[problem.NodeCount];
        Array.Fill(onEdge, true);
        return PartitionPlan.ForPartition(Method, problem, onEdge, 32);
    }
}

/// <summary>Everything in the cloud: the frame itself is sent, unquantized.</summary>
public sealed class CloudOnlyPlanner(string method = "cloud") : IPartitionPlanner
{
    /// <summary>"cloud", or "cloud-jpeg"/"cloud-h264" when the frame goes as JPEG/H.264 (its bytes and encode time are the problem's
    /// <see cref="CostSettings.InputCodec"/>).</summary>
    public string Method => method;

    public PartitionPlan Plan(PlanningProblem problem, ICutBitsProvider bits)
    {
        ArgumentNullException.ThrowIfNull(problem);
        return PartitionPlan.ForPartition(Method, problem, new bool[problem.NodeCount], 32);
    }
}

/// <summary>
/// Neurosurgeon (Kang et al., ASPLOS 2017, ref. [6]): per-layer latency prediction and the single split point of a
/// chain that minimises the latency of one task, T_e + T_t + T_c, sending the split tensor unquantized. On a DAG
/// its split points are the places a single tensor crosses.
/// </summary>
public sealed class NeurosurgeonPlanner : IPartitionPlanner
{
    public string Method => "ns";

    public PartitionPlan Plan(PlanningProblem problem, ICutBitsProvider bits)
    {
        var plans = ChainCuts.SingleTensorPrefixes(problem).Select(p => PartitionPlan.ForPartition(Method, problem, p, 32)).ToList();
        return plans.MinBy(p => p.Cost.SerialLatencySeconds)!.WithSearch(plans.Count);
    }
}

/// <summary>
/// SPINN (Laskaridis et al., MobiCom 2020, ref. [27]): a split point of the chain, the transferred tensor quantized to
/// a fixed 8 bits, and confidence-based early exits on the device. The split minimises the expected latency of one
/// task; a share <see cref="EarlyExitRate"/> of frames exits on the edge and skips T_t and T_c (the offline cost model
/// cannot know the rate: 0 unless given).
/// </summary>
public sealed class SpinnPlanner(double earlyExitRate = 0) : IPartitionPlanner
{
    public const int TransferBits = 8;

    public double EarlyExitRate { get; } = earlyExitRate is >= 0 and < 1 ? earlyExitRate : throw new ArgumentOutOfRangeException(nameof(earlyExitRate));

    public string Method => "spinn";

    public PartitionPlan Plan(PlanningProblem problem, ICutBitsProvider bits)
    {
        double keep = 1 - EarlyExitRate;
        var plans = ChainCuts.SingleTensorPrefixes(problem).Select(p => PartitionPlan.ForPartition(Method, problem, p, TransferBits)).ToList();
        var best = plans.MinBy(p => p.Cost.EdgeSeconds + keep * (p.Cost.TransmissionSeconds + p.Cost.CloudSeconds))!;
        var c = best.Cost;
        var expected = EarlyExitRate == 0 ? c : c with
        {
            TransmissionSeconds = keep * c.TransmissionSeconds,
            CloudSeconds = keep * c.CloudSeconds,
            LatencySeconds = c.EdgeSeconds + keep * (c.LatencySeconds - c.EdgeSeconds),
        };
        return new PartitionPlan
        {
            Method = Method, OnEdge = best.OnEdge, CutTensors = best.CutTensors, Bits = best.Bits, Cost = expected,
            CandidatesExamined = plans.Count, EarlyExitRate = EarlyExitRate,
        };
    }
}
