namespace Coach.Engine.Planning.MultiStage;

/// <summary>
/// The dynamic programme over chains of nested ideals ∅ = I_0 ⊆ I_1 ⊆ … ⊆ I_k = V for one device order
/// (docs/edgepipe.md §3). Stage j holds I_j \ I_{j−1} on device j; link j carries the cut of I_j.
/// <para>
/// For a cap B, <see cref="Solve"/> finds the chain of least serial latency whose every stage compute and link
/// transfer is at most B and whose every stage fits its memory budget:
/// f_j(I) = min_{I' ⊆ I} f_{j−1}(I') + C_j(I', I) + L_j(I), in O(k · P) for P nested pairs. The least B for which a
/// chain exists (and meets the latency budget) is found by binary search over the values C and L take, so the
/// result is exact: the smallest bottleneck, then the smallest serial latency among the chains that reach it.
/// Total O(k · P · log(k · P)); the sorted stage computes are kept across calls, as only link costs change.
/// </para>
/// </summary>
internal sealed class StageChainSearch
{
    private readonly NestedIdeals _ideals;
    private readonly PipelineDevice[] _devices;
    private readonly double[][] _prefixSeconds;
    private readonly double? _latencyBudget;
    private double[][] _linkSeconds = [];
    private double[]? _computeCaps;

    /// <param name="devices">The chain in pipeline order, the cloud last.</param>
    /// <param name="prefixSeconds">Per device, Σ of its layer times over each ideal.</param>
    public StageChainSearch(NestedIdeals ideals, PipelineDevice[] devices, double[][] prefixSeconds, double? latencyBudget)
    {
        _ideals = ideals;
        _devices = devices;
        _prefixSeconds = prefixSeconds;
        _latencyBudget = latencyBudget;
    }

    /// <summary>Stage j's compute for the stage I \ I' (its per-frame work included).</summary>
    public double ComputeSeconds(int stage, int inner, int outer) =>
        _prefixSeconds[stage][outer] - _prefixSeconds[stage][inner] + _devices[stage].FrameOverheadSeconds;

    public bool Fits(int stage, int inner, int outer)
    {
        if (_devices[stage].MemoryBudgetBytes is not { } budget)
        {
            return true;
        }
        var (weights, activations) = _ideals.StageMemory(inner, outer);
        return weights + activations <= budget;
    }

    /// <summary>
    /// The best chain: ideal indices I_1 … I_{k−1}, or null when no chain fits the memory budgets and the latency
    /// budget. <paramref name="linkSeconds"/>: per edge stage, its uplink's transfer time for each ideal's cut (exact
    /// or a lower bound). <paramref name="leastSerialLatency"/> is the least serial latency of any chain that fits the
    /// memory budgets (infinite when none does), for the caller's error message.
    /// </summary>
    public (int[] Chain, double Bottleneck, double SerialLatency)? Best(double[][] linkSeconds, out double leastSerialLatency)
    {
        _linkSeconds = linkSeconds;
        var unbounded = Solve(double.PositiveInfinity);
        leastSerialLatency = unbounded?.SerialLatency ?? double.PositiveInfinity;
        if (unbounded is null || (_latencyBudget is { } limit && unbounded.Value.SerialLatency > limit))
        {
            return null;
        }
        // The least feasible cap is a compute or a transfer value; feasibility only grows with the cap, so it is the
        // smaller of the least feasible value of each sorted list (stage computes do not change between calls).
        _computeCaps ??= ComputeCaps();
        var linkCaps = linkSeconds.SelectMany(l => l).Distinct().Order().ToArray();
        double cap = Math.Min(LeastFeasible(_computeCaps), LeastFeasible(linkCaps));
        var best = Solve(cap)!.Value;
        return (best.Chain, cap, best.SerialLatency);
    }

    /// <summary>The least value of <paramref name="caps"/> (ascending) under which a chain exists, or +∞.</summary>
    private double LeastFeasible(double[] caps)
    {
        int lo = 0;
        int hi = caps.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (Admits(Solve(caps[mid])))
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }
        return lo < caps.Length ? caps[lo] : double.PositiveInfinity;
    }

    private bool Admits((int[] Chain, double SerialLatency)? solution) =>
        solution is { } s && (_latencyBudget is not { } limit || s.SerialLatency <= limit);

    /// <summary>Every value a stage's compute can take in a stage that fits its budget, ascending.</summary>
    private double[] ComputeCaps()
    {
        var values = new HashSet<double>();
        for (int j = 0; j < _devices.Length; j++)
        {
            // The cloud's stage always ends with every layer.
            for (int outer = j < _devices.Length - 1 ? 0 : _ideals.Full; outer < _ideals.Count; outer++)
            {
                foreach (var inner in _ideals.Subsets[outer])
                {
                    if (Fits(j, inner, outer))
                    {
                        values.Add(ComputeSeconds(j, inner, outer));
                    }
                }
            }
        }
        var sorted = values.ToArray();
        Array.Sort(sorted);
        return sorted;
    }

    /// <summary>The chain of least serial latency with every compute and transfer at most <paramref name="cap"/>.</summary>
    public (int[] Chain, double SerialLatency)? Solve(double cap)
    {
        int k = _devices.Length;
        int count = _ideals.Count;
        var reach = new double[count];
        Array.Fill(reach, double.PositiveInfinity);
        reach[0] = 0; // I_0 = ∅
        var parent = new int[k][];
        for (int j = 0; j < k; j++)
        {
            bool last = j == k - 1;
            var next = new double[count];
            Array.Fill(next, double.PositiveInfinity);
            parent[j] = new int[count];
            for (int outer = last ? _ideals.Full : 0; outer < count; outer++)
            {
                double link = last ? 0 : _linkSeconds[j][outer];
                if (link > cap || (!last && !_ideals.Deployable[outer]))
                {
                    continue;
                }
                double best = double.PositiveInfinity;
                int arg = -1;
                foreach (var inner in _ideals.Subsets[outer])
                {
                    if (double.IsPositiveInfinity(reach[inner]))
                    {
                        continue;
                    }
                    double compute = ComputeSeconds(j, inner, outer);
                    if (compute > cap || !Fits(j, inner, outer))
                    {
                        continue;
                    }
                    double value = reach[inner] + compute;
                    if (value < best)
                    {
                        best = value;
                        arg = inner;
                    }
                }
                if (arg >= 0)
                {
                    next[outer] = best + link;
                    parent[j][outer] = arg;
                }
            }
            reach = next;
        }
        if (double.IsPositiveInfinity(reach[_ideals.Full]))
        {
            return null;
        }
        var chain = new int[k - 1];
        int at = _ideals.Full;
        for (int j = k - 1; j >= 1; j--)
        {
            at = parent[j][at];
            chain[j - 1] = at;
        }
        return (chain, reach[_ideals.Full]);
    }
}
