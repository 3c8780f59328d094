namespace Coach.Engine.Planning;

/// <summary>The planners by their command-line names.</summary>
public static class Planners
{
    public static readonly IReadOnlyList<string> Methods = ["coach", "ns", "dads", "spinn", "jps", "edge", "cloud", "cloud-jpeg", "cloud-h264"];

    public static IPartitionPlanner Create(string method, DadsLoad dadsLoad = DadsLoad.Light, double spinnExitRate = 0, double dadsArrivalFps = double.PositiveInfinity) => method switch
    {
        "coach" => new CoachPlanner(),
        "ns" or "neurosurgeon" => new NeurosurgeonPlanner(),
        "dads" => new DadsPlanner(dadsLoad, dadsArrivalFps),
        "spinn" => new SpinnPlanner(spinnExitRate),
        "jps" => new JpsPlanner(),
        "edge" => new EdgeOnlyPlanner(),
        "cloud" => new CloudOnlyPlanner(),
        // Cloud-only with the frame sent as JPEG: the cost model's input codec (CostSettings.InputCodec) prices the frame.
        "cloud-jpeg" => new CloudOnlyPlanner("cloud-jpeg"),
        // Cloud-only with the frames sent as one H.264 stream, priced the same way.
        "cloud-h264" => new CloudOnlyPlanner("cloud-h264"),
        _ => throw new ArgumentException($"unknown planning method '{method}'; use one of {string.Join(", ", Methods)}"),
    };
}

/// <summary>Wraps a bits provider and keeps the time spent in it (calibration), so planner time excludes it.</summary>
public sealed class TimedBitsProvider(ICutBitsProvider inner) : ICutBitsProvider
{
    public TimeSpan Elapsed { get; private set; }
    public int Calls { get; private set; }

    public int MinimumBits(PlanningProblem problem, IReadOnlyList<int> cutTensors)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            Calls++;
            return inner.MinimumBits(problem, cutTensors);
        }
        finally
        {
            Elapsed += System.Diagnostics.Stopwatch.GetElapsedTime(start);
        }
    }

    public int[] MinimumBitsPerTensor(PlanningProblem problem, IReadOnlyList<int> cutTensors)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            Calls++;
            return inner.MinimumBitsPerTensor(problem, cutTensors);
        }
        finally
        {
            Elapsed += System.Diagnostics.Stopwatch.GetElapsedTime(start);
        }
    }
}

/// <summary>Words and counts for `coach plan --explain`.</summary>
public static class PlanExplanation
{
    public static SearchSpaceSize SearchSpace(PlanningProblem problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        var d = IdealDecomposition.Build(problem);
        var (blocks, largest) = d.TopLevelShape();
        return new SearchSpaceSize(problem.NodeCount, d.CountIdeals(), System.Numerics.BigInteger.Pow(2, problem.NodeCount), blocks, (int)System.Numerics.BigInteger.Min(largest, int.MaxValue));
    }

    public static string Describe(PlanningProblem problem, PartitionPlan plan)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(plan);
        var c = plan.Cost;
        var w = new System.Text.StringBuilder();
        int edge = plan.EdgeLayerCount;
        w.AppendLine($"method {plan.Method}: {edge} of {problem.NodeCount} layers on the edge, {problem.NodeCount - edge} in the cloud.");
        if (plan.CutTensors.Length == 0)
        {
            w.AppendLine("Nothing crosses the link: the edge answers every frame alone.");
        }
        else
        {
            w.AppendLine($"{plan.CutTensors.Length} cut tensor(s) cross the link at {Bandwidth.Format(problem.Settings.BandwidthBitsPerSecond)}:");
            for (int i = 0; i < plan.CutTensors.Length; i++)
            {
                var t = problem.Tensors[plan.CutTensors[i]];
                var from = t.Producer < 0 ? "model input" : $"from {problem.NodeNames[t.Producer]}";
                var bits = !t.IsFloat ? "raw (not float)" : plan.Bits[i] == 32 ? "unquantized (32 bits)" : $"{plan.Bits[i]} bits";
                var minimum = plan.MinimumBits is { } m && t.IsFloat && m[i] != plan.Bits[i] ? $", raised from the calibrated minimum {m[i]} to fill the link's idle time (eq. 11)" : "";
                w.AppendLine($"  - {t.Name} [{string.Join("x", t.Shape)}] {from}, {bits}{minimum}: {PipelineCostModel.TensorBytes(problem, plan.CutTensors[i], plan.Bits[i]):N0} bytes");
            }
        }
        w.AppendLine($"Per frame the edge computes {c.EdgeSeconds * 1e3:F3} ms, the link carries {c.TransmissionSeconds * 1e3:F3} ms (incl. {problem.Settings.FrameOverheadSeconds * 1e3:F3} ms per-frame overhead), the cloud computes {c.CloudSeconds * 1e3:F3} ms.");
        w.AppendLine($"The {c.Bottleneck.ToString().ToLowerInvariant()} stage is the bottleneck at {c.BottleneckSeconds * 1e3:F3} ms: a stream runs at {c.ThroughputPerSecond:F1} frames/s; the other stages idle {(c.BottleneckSeconds - c.EdgeSeconds) * 1e3:F3} ms (edge), {(c.BottleneckSeconds - c.TransmissionSeconds) * 1e3:F3} ms (link), {(c.BottleneckSeconds - c.CloudSeconds) * 1e3:F3} ms (cloud) per frame.");
        w.AppendLine($"Bubbles (eq. 5): B_c = |T_e - T_c| = {c.ComputeBubbleSeconds * 1e3:F3} ms, B_t = {c.TransmissionBubbleSeconds * 1e3:F3} ms.");
        w.AppendLine($"One frame takes {c.LatencySeconds * 1e3:F3} ms end to end: {c.SerialLatencySeconds * 1e3:F3} ms in series, less {c.TransmissionParallelSeconds * 1e3:F3} ms of sending while the edge still computes (T_t^p) and {c.CloudParallelSeconds * 1e3:F3} ms of cloud compute while later tensors are still on the link (T_c^p).");
        if (problem.Settings.LatencyBudgetSeconds is { } tmax)
        {
            w.AppendLine($"T_max = {tmax * 1e3:F3} ms is {(c.LatencySeconds <= tmax ? "met" : "NOT met")}.");
        }
        return w.ToString();
    }
}
