namespace Coach.Engine.Planning;

/// <summary>Time of one run of a cloud fragment (a tail or a bridge) at batch b: <c>FixedMs + PerRequestMs·b</c>, measured.</summary>
public readonly record struct FragmentCost(double FixedMs, double PerRequestMs)
{
    public double RunMs(double batch) => FixedMs + (PerRequestMs * batch);

    /// <summary>The affine fit through two measured runs (batch 1 and batch <paramref name="batch"/>).</summary>
    public static FragmentCost Fit(double msAtOne, int batch, double msAtBatch)
    {
        if (batch <= 1)
        {
            return new FragmentCost(0, Math.Max(0, msAtOne));
        }

        double perRequest = Math.Max(0, (msAtBatch - msAtOne) / (batch - 1));
        return new FragmentCost(Math.Max(0, msAtOne - perRequest), perRequest);
    }
}

/// <summary>One plan served by the cloud: its request rate, the cloud-side latency budget of its requests, and its own tail's cost.</summary>
public sealed record RealignedPlan(string Id, double RequestsPerSecond, double BudgetMs, FragmentCost Tail);

/// <summary>
/// Fragment re-alignment as a choice (docs/fleet.md §4, after Graft: J. Wu, L. Wang, Q. Jin, F. Liu, "Graft: Efficient
/// Inference Serving for Hybrid Deep Learning With SLO Guarantees via DNN Re-Alignment", IEEE TPDS 35(2), 2024, which
/// re-aligns non-uniform fragments so that they share layers and batches, minimising the resources spent while every
/// request meets its latency SLO). Plans are indexed 0…P−1; <see cref="Bridges"/> holds (p, q) when q's cut lies wholly
/// after p's (V_p ⊂ V_q), with the cost of the bridge fragment V_q \ V_p.
/// </summary>
public sealed record RealignmentProblem(IReadOnlyList<RealignedPlan> Plans, IReadOnlyDictionary<(int From, int To), FragmentCost> Bridges, int MaxBatch, double MaxWaitMs);

/// <summary>A re-alignment: <c>Target[p] = q</c> runs p's requests through the bridge p→q and then in q's tail batches; <c>Target[p] = p</c> is p's own tail.</summary>
public sealed record RealignmentChoice(int[] Target, double ComputeMsPerSecond, bool Feasible)
{
    public int Bridged => Target.Where((t, p) => t != p).Count();
}

/// <summary>
/// Picks <c>Target</c> to minimise the cloud compute spent per second (so to maximise throughput per unit of compute) subject to
/// every plan's latency budget, under the cloud's dynamic batching (a batch starts with its first request and takes what
/// arrives within the max wait, up to the max batch):
/// <list type="bullet">
/// <item>a fragment f fed at Λ requests/s runs batches of b(Λ) = min(B, 1 + Λ·W) and spends (Λ / b)·(α_f + β_f·b) ms per second;</item>
/// <item>a request of p served at its own tail waits at most W and takes one run: W + t_p(b); bridged to q it waits twice:
/// W + t_pq(b_p) + W + t_q(b_q), where q's batch grows with every plan aligned to it — the latency cost of the larger batch;</item>
/// <item>no fragment may be busy more than 100 % of the time; every target q of another plan runs its own tail (Target[q] = q).</item>
/// </list>
/// Exact by branch and bound over the targets (a fragment's spend only grows with its load, so a partial spend bounds the
/// total); beyond <see cref="ExactLimit"/> plans, greedy single moves from "every plan on its own tail".
/// </summary>
public static class RealignmentPlanner
{
    public const int ExactLimit = 10;

    public static RealignmentChoice Plan(RealignmentProblem problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        int n = problem.Plans.Count;
        int[] independent = Enumerable.Range(0, n).ToArray();
        RealignmentChoice best = Evaluate(problem, independent);
        if (n > ExactLimit)
        {
            return Greedy(problem, best);
        }

        int[] target = new int[n];
        Search(problem, target, 0, ref best);
        return best;
    }

    /// <summary>The spend and feasibility of one assignment (also the brute force's yardstick).</summary>
    public static RealignmentChoice Evaluate(RealignmentProblem problem, int[] target)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(target);
        int n = problem.Plans.Count;
        var load = new double[n];
        bool valid = true;
        for (int p = 0; p < n; p++)
        {
            int q = target[p];
            if (q != p && (target[q] != q || !problem.Bridges.ContainsKey((p, q))))
            {
                valid = false;
            }

            load[q] += problem.Plans[p].RequestsPerSecond;
        }

        if (!valid)
        {
            return new RealignmentChoice((int[])target.Clone(), double.PositiveInfinity, false);
        }

        double spend = 0;
        bool feasible = true;
        var tailBatch = new double[n];
        for (int q = 0; q < n; q++)
        {
            if (load[q] <= 0 && target[q] != q)
            {
                continue;
            }

            tailBatch[q] = Batch(problem, load[q]);
            double s = Spend(problem, problem.Plans[q].Tail, load[q]);
            feasible &= s <= 1000;
            spend += s;
        }

        for (int p = 0; p < n; p++)
        {
            RealignedPlan plan = problem.Plans[p];
            int q = target[p];
            double latency;
            if (q == p)
            {
                latency = problem.MaxWaitMs + plan.Tail.RunMs(tailBatch[p]);
            }
            else
            {
                FragmentCost bridge = problem.Bridges[(p, q)];
                double s = Spend(problem, bridge, plan.RequestsPerSecond);
                feasible &= s <= 1000;
                spend += s;
                latency = problem.MaxWaitMs + bridge.RunMs(Batch(problem, plan.RequestsPerSecond)) + problem.MaxWaitMs + problem.Plans[q].Tail.RunMs(tailBatch[q]);
            }

            feasible &= latency <= plan.BudgetMs;
        }

        return new RealignmentChoice((int[])target.Clone(), spend, feasible);
    }

    /// <summary>The batch a fragment fed at <paramref name="rate"/> requests/s runs: the first request and what arrives within the max wait.</summary>
    public static double Batch(RealignmentProblem problem, double rate) =>
        Math.Clamp(1 + (rate * problem.MaxWaitMs / 1000), 1, Math.Max(1, problem.MaxBatch));

    /// <summary>Compute ms spent per second by a fragment fed at <paramref name="rate"/> requests/s.</summary>
    public static double Spend(RealignmentProblem problem, FragmentCost cost, double rate)
    {
        if (rate <= 0)
        {
            return 0;
        }

        double b = Batch(problem, rate);
        return rate / b * cost.RunMs(b);
    }

    private static bool Better(RealignmentChoice candidate, RealignmentChoice best) =>
        (candidate.Feasible && !best.Feasible)
        || (candidate.Feasible == best.Feasible && (candidate.ComputeMsPerSecond < best.ComputeMsPerSecond - 1e-9
            || (Math.Abs(candidate.ComputeMsPerSecond - best.ComputeMsPerSecond) <= 1e-9 && candidate.Bridged < best.Bridged)));

    private static void Search(RealignmentProblem problem, int[] target, int p, ref RealignmentChoice best)
    {
        int n = problem.Plans.Count;
        if (p == n)
        {
            RealignmentChoice candidate = Evaluate(problem, target);
            if (Better(candidate, best))
            {
                best = candidate;
            }

            return;
        }

        if (best.Feasible && LowerBound(problem, target, p) >= best.ComputeMsPerSecond - 1e-9)
        {
            return;
        }

        target[p] = p;
        Search(problem, target, p + 1, ref best);
        for (int q = 0; q < n; q++)
        {
            // A target runs its own tail: q must not be aligned elsewhere (already decided when q < p).
            if (q != p && problem.Bridges.ContainsKey((p, q)) && (q > p || target[q] == q) && !AlignedTo(target, p, p))
            {
                target[p] = q;
                Search(problem, target, p + 1, ref best);
            }
        }

        target[p] = p;
    }

    /// <summary>True when some plan before <paramref name="upTo"/> is aligned to <paramref name="q"/> (then q must keep its own tail).</summary>
    private static bool AlignedTo(int[] target, int q, int upTo)
    {
        for (int i = 0; i < upTo; i++)
        {
            if (i != q && target[i] == q)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Spend already committed by plans 0…p−1: their bridges, and each target's tail at the load assigned so far (a
    /// fragment's spend grows with its load, so this never exceeds the spend of any completion).
    /// </summary>
    private static double LowerBound(RealignmentProblem problem, int[] target, int p)
    {
        int n = problem.Plans.Count;
        var load = new double[n];
        double spend = 0;
        for (int i = 0; i < p; i++)
        {
            load[target[i]] += problem.Plans[i].RequestsPerSecond;
            if (target[i] != i)
            {
                spend += Spend(problem, problem.Bridges[(i, target[i])], problem.Plans[i].RequestsPerSecond);
            }
        }

        for (int q = 0; q < n; q++)
        {
            spend += Spend(problem, problem.Plans[q].Tail, load[q]);
        }

        return spend;
    }

    private static RealignmentChoice Greedy(RealignmentProblem problem, RealignmentChoice start)
    {
        RealignmentChoice best = start;
        while (true)
        {
            RealignmentChoice round = best;
            foreach (var ((p, q), _) in problem.Bridges)
            {
                int[] target = (int[])best.Target.Clone();
                target[p] = q;
                RealignmentChoice candidate = Evaluate(problem, target);
                if (Better(candidate, round))
                {
                    round = candidate;
                }
            }

            if (ReferenceEquals(round, best))
            {
                return best;
            }

            best = round;
        }
    }
}
