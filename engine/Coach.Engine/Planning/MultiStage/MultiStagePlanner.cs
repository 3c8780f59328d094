using System.Diagnostics;

namespace Coach.Engine.Planning.MultiStage;

/// <summary>
/// Pipelines a model across a chain of edge devices and the cloud (docs/edgepipe.md): a partition of the layer DAG
/// into k stages that are differences of nested ideals, with bits per cut tensor on every link, maximising the
/// throughput 1 / max(stage compute, link transfer) under every device's memory budget and an optional budget on one
/// frame's serial latency. With k = 2 it is COACH's problem, and it gives COACH's partition and bits.
/// <para>
/// Exact: the dynamic programme of <see cref="StageChainSearch"/> over the N ideals and their P nested pairs,
/// O(N² · n/64) to find the pairs and O(k · P · log(k · P)) per device order; a free order tries all (k − 1)!
/// orders of the edge devices (k − 1 ≤ <see cref="MaxFreeOrderDevices"/>). Calibration, which is expensive, is asked
/// lazily: a link whose cut is not calibrated yet is costed at 2 bits, a lower bound (T_t only grows with bits), and
/// the search is repeated after calibrating the cuts of the chain it chose, until that chain's cuts are all
/// calibrated — then no other chain can beat it. Bits: the calibrated minimum of each cut (<see cref="BitChooser"/>),
/// raised by COACH's eq. 11 where the link would idle below the bottleneck.
/// </para>
/// </summary>
public sealed class MultiStagePlanner
{
    public const int MaxIdeals = 6_000;
    public const long MaxNestedPairs = 4_000_000;
    public const int MaxFreeOrderDevices = 5;

    public MultiStagePlan Plan(PlanningProblem problem, DeviceChain chain, LayerMemory memory, ICutBitsProvider bits)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(chain);
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(bits);
        var clock = Stopwatch.StartNew();
        chain.Validate(problem.NodeCount);
        if (memory.WeightBytes.Length != problem.NodeCount)
        {
            throw new ArgumentException($"the memory model has {memory.WeightBytes.Length} layers; the model has {problem.NodeCount}");
        }
        if (chain.OrderIsFree && chain.EdgeDevices.Count > MaxFreeOrderDevices)
        {
            throw new ArgumentException(
                $"a free order of {chain.EdgeDevices.Count} edge devices is {chain.EdgeDevices.Count}! orders; the planner tries every order of at most {MaxFreeOrderDevices}: fix the order");
        }
        var ideals = new NestedIdeals(problem, memory, MaxIdeals, MaxNestedPairs);
        var costs = new LinkCosts(problem, ideals, chain.EdgeDevices, new BitChooser(problem, bits));
        var devices = chain.EdgeDevices.Append(chain.Cloud).ToArray();
        var prefixSeconds = devices.Select(d => ideals.SumSeconds(d.LayerSeconds)).ToArray();
        int edgeCount = chain.EdgeDevices.Count;

        IEnumerable<int[]> orders = chain.OrderIsFree ? Permutations(edgeCount) : [Enumerable.Range(0, edgeCount).ToArray()];
        (int[] Order, int[] Chain, double Bottleneck, double Serial)? best = null;
        double leastSerial = double.PositiveInfinity;
        int tried = 0;
        foreach (var order in orders)
        {
            tried++;
            var stageDevices = order.Select(i => devices[i]).Append(chain.Cloud).ToArray();
            var stagePrefix = order.Select(i => prefixSeconds[i]).Append(prefixSeconds[edgeCount]).ToArray();
            var search = new StageChainSearch(ideals, stageDevices, stagePrefix, chain.LatencyBudgetSeconds);
            var found = CalibratedBest(search, costs, order, out var least);
            leastSerial = Math.Min(leastSerial, least);
            if (found is { } f && (best is null || f.Bottleneck < best.Value.Bottleneck
                || (f.Bottleneck == best.Value.Bottleneck && f.SerialLatency < best.Value.Serial)))
            {
                best = (order, f.Chain, f.Bottleneck, f.SerialLatency);
            }
        }
        if (best is not { } chosen)
        {
            if (double.IsPositiveInfinity(leastSerial))
            {
                throw new MemoryBudgetException(MemoryBudgetDiagnosis.Explain(problem, ideals, memory, devices));
            }
            throw new PlanInfeasibleException(
                $"no partition across the {devices.Length} devices meets the latency budget of {chain.LatencyBudgetSeconds * 1e3:F3} ms: the lowest serial latency within the memory budgets is {leastSerial * 1e3:F3} ms (cuts not yet calibrated costed at 2 bits); raise the budget to at least that",
                leastSerial);
        }
        var plan = new StagePlanBuilder(problem, ideals, costs).Build(
            [.. chosen.Order.Select(i => devices[i]), chain.Cloud], [.. chosen.Order], chosen.Chain, chosen.Bottleneck, chain.LatencyBudgetSeconds,
            ideals.NestedPairs, tried);
        plan.PlannerMilliseconds = clock.Elapsed.TotalMilliseconds;
        return plan;
    }

    /// <summary>
    /// The even layer split, the PipeDream-like baseline (docs/edgepipe.md §9): the devices in the order given, stage j
    /// ending at the deployable ideal that contains stage j − 1's and whose layer count is nearest j·n/k — the layers
    /// shared out evenly by count, whatever each costs on its device or its links. Each link gets COACH's bits for its
    /// cut (the calibrated minimum, raised by eq. 11 below the split's own bottleneck), as in <see cref="Plan"/>.
    /// Memory and latency budgets are not searched for: the split is what it is, and each stage reports its memory.
    /// </summary>
    public MultiStagePlan PlanEvenSplit(PlanningProblem problem, DeviceChain chain, LayerMemory memory, ICutBitsProvider bits)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(chain);
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(bits);
        var clock = Stopwatch.StartNew();
        chain.Validate(problem.NodeCount);
        var ideals = new NestedIdeals(problem, memory, MaxIdeals, MaxNestedPairs);
        var costs = new LinkCosts(problem, ideals, chain.EdgeDevices, new BitChooser(problem, bits));
        var devices = chain.EdgeDevices.Append(chain.Cloud).ToArray();
        int k = devices.Length;
        int n = problem.NodeCount;
        var sizes = ideals.Sets.Select(set => set.Count(x => x)).ToArray();
        var cuts = new int[k - 1];
        if (!Extend(0, -1))
        {
            throw new PlanInfeasibleException($"no chain of {k - 1} nested deployable cuts, each stage with a layer, splits the model's {n} layers: the even split of {k} stages cannot be formed", double.PositiveInfinity);
        }
        costs.Calibrate(cuts);
        var bounds = cuts.Prepend(0).Append(ideals.Full).ToArray();
        double bottleneck = 0;
        for (int j = 0; j < k; j++)
        {
            var prefix = ideals.SumSeconds(devices[j].LayerSeconds);
            bottleneck = Math.Max(bottleneck, devices[j].FrameOverheadSeconds + prefix[bounds[j + 1]] - prefix[bounds[j]]);
            if (j < k - 1)
            {
                bottleneck = Math.Max(bottleneck, costs.Seconds(j, bounds[j + 1], costs.MinimumBits(bounds[j + 1])));
            }
        }
        var edgeOrder = Enumerable.Range(0, k - 1).ToArray();
        var plan = new StagePlanBuilder(problem, ideals, costs).Build(devices, edgeOrder, cuts, bottleneck, latencyBudget: null, ideals.NestedPairs, ordersTried: 1);
        plan.PlannerMilliseconds = clock.Elapsed.TotalMilliseconds;
        return plan;

        // Stage j + 1's cut: the candidates nearest j·n/k first, the first that leaves a chain for the later stages.
        bool Extend(int j, int previous)
        {
            if (j == k - 1)
            {
                return true;
            }
            double target = (double)(j + 1) * n / k;
            var candidates = Enumerable.Range(0, ideals.Count)
                .Where(i => ideals.Deployable[i] && i != ideals.Full
                    // Every stage keeps at least one layer: a stage without layers has no model for coach-relay to serve (§6).
                    && (previous < 0 ? sizes[i] > 0 : sizes[i] > sizes[previous] && Contains(ideals.Sets[i], ideals.Sets[previous])))
                .OrderBy(i => Math.Abs(sizes[i] - target)).ThenBy(i => i);
            foreach (int i in candidates)
            {
                cuts[j] = i;
                if (Extend(j + 1, i))
                {
                    return true;
                }
            }
            return false;
        }

        static bool Contains(bool[] outer, bool[] inner)
        {
            for (int v = 0; v < inner.Length; v++)
            {
                if (inner[v] && !outer[v])
                {
                    return false;
                }
            }
            return true;
        }
    }

    /// <summary>
    /// The best chain of one device order with its cuts calibrated: search with lower bounds where cuts are not
    /// calibrated, calibrate the chosen chain's cuts, and search again until it only crosses calibrated cuts.
    /// </summary>
    private static (int[] Chain, double Bottleneck, double SerialLatency)? CalibratedBest(StageChainSearch search, LinkCosts costs, int[] order, out double leastSerialLatency)
    {
        while (true)
        {
            var found = search.Best([.. order.Select(costs.Estimates)], out leastSerialLatency);
            if (found is not { } f || !costs.Calibrate(f.Chain))
            {
                return found;
            }
        }
    }

    /// <summary>Every order of 0 … count−1, the identity first (so ties keep the order given).</summary>
    private static IEnumerable<int[]> Permutations(int count)
    {
        var current = Enumerable.Range(0, count).ToArray();
        return Permute(current, 0);

        static IEnumerable<int[]> Permute(int[] items, int from)
        {
            if (from == items.Length)
            {
                yield return (int[])items.Clone();
                yield break;
            }
            for (int i = from; i < items.Length; i++)
            {
                (items[from], items[i]) = (items[i], items[from]);
                foreach (var p in Permute(items, from + 1))
                {
                    yield return p;
                }
                (items[from], items[i]) = (items[i], items[from]);
            }
        }
    }
}
