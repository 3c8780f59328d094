namespace Coach.Engine.Planning;

/// <summary>How DADS weighs the load.</summary>
public enum DadsLoad
{
    /// <summary>Lightly loaded: minimise the latency of one task, T_e + T_t + T_c (one minimum s–t cut).</summary>
    Light,
    /// <summary>Heavily loaded: minimise the pipeline's bottleneck over a family of weighted minimum cuts.</summary>
    Heavy,
    /// <summary>
    /// DADS's own switch by the load: the light-load cut when it keeps up with the frames' arrival rate (its service rate,
    /// 1 / its longest stage, at least the arrival rate), else the heavy-load cut.
    /// </summary>
    Auto,
}

/// <summary>
/// DADS (Hu, Bao, Wang and Liu, "Dynamic Adaptive DNN Surgery for Inference Acceleration on the Edge", INFOCOM
/// 2019, ref. [3]). The DAG becomes an s–t flow network whose cuts are exactly the partitions: s = edge side,
/// t = cloud side; layer v has s→v of capacity t_v^c (paid when v is in the cloud) and v→t of capacity t_v^e (paid
/// when it is on the edge); each value k produced by u gets an auxiliary vertex k' with u→k' of capacity
/// bytes(k)/B and k'→w of infinite capacity for every reader w, so a value read by several cloud layers is paid once;
/// infinite w→u edges forbid a cloud layer feeding an edge layer (cuts stay downward closed); model inputs hang off s.
/// The minimum cut is then the partition of least T_e + T_t + T_c (unquantized; the per-frame overhead, a constant
/// for every partition that sends something, is compared against the edge-only plan afterwards).
/// Heavy load (DADS's second regime) weighs edge compute against transmission + cloud and keeps, over a sweep of
/// weights, the cut with the smallest bottleneck stage.
/// DADS picks the regime by the load: with frames arriving at rate λ, the system is lightly loaded when the light-load
/// cut serves them, 1 / max(T_e, T_t, T_c) ≥ λ, and heavily loaded otherwise (<see cref="DadsLoad.Auto"/>; a stream taken as
/// fast as the pipeline goes, λ = ∞, is heavily loaded by definition).
/// </summary>
public sealed class DadsPlanner(DadsLoad load = DadsLoad.Light, double arrivalFps = double.PositiveInfinity) : IPartitionPlanner
{
    public DadsLoad Load { get; } = load;

    /// <summary>The frames' arrival rate λ (frames/s) <see cref="DadsLoad.Auto"/> compares against; ∞ for a saturated stream.</summary>
    public double ArrivalFps { get; } = arrivalFps > 0 ? arrivalFps : throw new ArgumentOutOfRangeException(nameof(arrivalFps), arrivalFps, "the arrival rate is a positive number of frames a second");

    public string Method => "dads";

    public PartitionPlan Plan(PlanningProblem problem, ICutBitsProvider bits)
    {
        ArgumentNullException.ThrowIfNull(problem);
        if (Load != DadsLoad.Auto)
        {
            return PlanFor(Load, problem);
        }

        var light = PlanFor(DadsLoad.Light, problem);
        double serviceFps = light.Cost.ThroughputPerSecond;
        bool lightlyLoaded = serviceFps >= ArrivalFps;
        var chosen = lightlyLoaded ? light : PlanFor(DadsLoad.Heavy, problem);
        string arrival = double.IsPositiveInfinity(ArrivalFps) ? "frames taken as fast as the pipeline goes (λ = ∞)" : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"λ = {ArrivalFps:F1} frames/s");
        return chosen.WithSearch(chosen.CandidatesExamined, string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{(lightlyLoaded ? "lightly" : "heavily")} loaded: {arrival} against the light-load cut's service rate {serviceFps:F1} frames/s; {chosen.Note}"));
    }

    /// <summary>The plan of one regime.</summary>
    public PartitionPlan PlanFor(DadsLoad regime, PlanningProblem problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        var edgeOnly = new bool[problem.NodeCount];
        Array.Fill(edgeOnly, true);
        // The min cut keeps non-float values uncut (infinite capacity); the tensor-count limit filters the candidates.
        var candidates = new List<PartitionPlan> { PartitionPlan.ForPartition(Method, problem, edgeOnly, 32) };
        if (regime == DadsLoad.Light)
        {
            candidates.Add(PartitionPlan.ForPartition(Method, problem, MinimumCut(problem, 1, 1), 32));
            var best = candidates.Where(c => CutConstraints.Admits(problem, c.OnEdge)).MinBy(p => p.Cost.SerialLatencySeconds)!;
            return Examined(best, candidates.Count, regime);
        }
        for (int i = 1; i < 32; i++)
        {
            double edgeWeight = i / 32.0;
            candidates.Add(PartitionPlan.ForPartition(Method, problem, MinimumCut(problem, edgeWeight, 1 - edgeWeight), 32));
        }
        var heavy = candidates.Where(c => CutConstraints.Admits(problem, c.OnEdge)).OrderBy(p => p.Cost.BottleneckSeconds).ThenBy(p => p.Cost.SerialLatencySeconds).First();
        return Examined(heavy, candidates.Count, regime);
    }

    private PartitionPlan Examined(PartitionPlan p, int count, DadsLoad regime) => new()
    {
        Method = Method, OnEdge = p.OnEdge, CutTensors = p.CutTensors, Bits = p.Bits, Cost = p.Cost, CandidatesExamined = count,
        Note = regime == DadsLoad.Light ? "light load: minimum s-t cut of T_e + T_t + T_c" : "heavy load: weighted minimum cuts, least bottleneck",
    };

    /// <summary>The edge set of a minimum s–t cut with edge time weighted by <paramref name="edgeWeight"/>, transmission and cloud by <paramref name="offloadWeight"/>.</summary>
    public static bool[] MinimumCut(PlanningProblem problem, double edgeWeight, double offloadWeight)
    {
        ArgumentNullException.ThrowIfNull(problem);
        int n = problem.NodeCount;
        int source = n + problem.Tensors.Count;
        int sink = source + 1;
        var network = new MaxFlow(sink + 1);
        for (int v = 0; v < n; v++)
        {
            network.AddEdge(source, v, offloadWeight * problem.CloudSeconds[v]);
            network.AddEdge(v, sink, edgeWeight * problem.EdgeSeconds[v]);
        }
        for (int k = 0; k < problem.Tensors.Count; k++)
        {
            var t = problem.Tensors[k];
            int aux = n + k;
            int producer = t.Producer < 0 ? source : t.Producer;
            // A value the data plane cannot carry (not float32, CutConstraints) is never cut: infinite capacity.
            network.AddEdge(producer, aux, CutConstraints.CanCross(problem, k) ? offloadWeight * PipelineCostModel.TensorSeconds(problem, k, 32) : double.PositiveInfinity);
            foreach (var w in t.Consumers)
            {
                network.AddEdge(aux, w, double.PositiveInfinity);
                if (t.Producer >= 0)
                {
                    network.AddEdge(w, t.Producer, double.PositiveInfinity);
                }
            }
        }
        network.Run(source, sink);
        var side = network.SourceSide(source);
        return side[..n];
    }
}
