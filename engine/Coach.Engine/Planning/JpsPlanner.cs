using System.Globalization;

namespace Coach.Engine.Planning;

/// <summary>
/// Johnson's rule for the two-stage flow shop F2||C_max (S. M. Johnson, "Optimal two- and three-stage production schedules
/// with setup times included", Naval Research Logistics Quarterly 1954): every job runs on stage 1 then stage 2, each stage
/// one job at a time. The jobs with a &lt; b go first in ascending a, the rest after them in descending b; no order has a
/// shorter makespan.
/// </summary>
public static class JohnsonSchedule
{
    /// <summary>The job order of Johnson's rule for stage times <paramref name="a"/> (stage 1) and <paramref name="b"/> (stage 2).</summary>
    public static int[] Order(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        if (a.Length != b.Length)
        {
            throw new ArgumentException($"every job has two stage times: got {a.Length} and {b.Length}");
        }

        var first = new List<int>();
        var last = new List<int>();
        for (int j = 0; j < a.Length; j++)
        {
            (a[j] < b[j] ? first : last).Add(j);
        }

        var aa = a.ToArray();
        var bb = b.ToArray();
        first.Sort((x, y) => aa[x] != aa[y] ? aa[x].CompareTo(aa[y]) : x.CompareTo(y));
        last.Sort((x, y) => bb[x] != bb[y] ? bb[y].CompareTo(bb[x]) : x.CompareTo(y));
        return [.. first, .. last];
    }

    /// <summary>When the last job leaves stage 2, the jobs run in <paramref name="order"/> with no stage idle by choice.</summary>
    public static double Makespan(ReadOnlySpan<int> order, ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double stage1 = 0;
        double stage2 = 0;
        foreach (int j in order)
        {
            stage1 += a[j];
            stage2 = Math.Max(stage2, stage1) + b[j];
        }

        return stage2;
    }
}

/// <summary>
/// JPS (Y. Duan and J. Wu, "Optimizing job offloading schedule for collaborative DNN inference", IEEE TMC 2023, ref. [11];
/// first as "Joint optimization of DNN partition and scheduling for mobile cloud computing", ICPP 2021). A batch of N jobs
/// (frames) of one chain-structured DNN is offloaded from a device: each job is cut at some point c of the layer chain, runs
/// its head on the device (stage 1, a(c) = T_e) and then sends its cut tensor (stage 2, b(c) = T_t, unquantized); the cloud's
/// compute is not a stage of JPS's model. That is a two-stage flow shop, ordered optimally by Johnson's rule, and JPS chooses
/// the cuts jointly with the order: its optimal partition uses at most two cut points, k jobs at one and N − k at the other.
/// This planner searches every pair of deployable cut points and every k with the makespan of Johnson's order (exact over
/// that space). The runtime runs one partition for every frame, so the plan deploys the best single cut point of the same
/// objective (k = N); the note gives the two-cut schedule and its predicted throughput N / makespan beside it.
/// </summary>
public sealed class JpsPlanner(int jobs = JpsPlanner.DefaultJobs) : IPartitionPlanner
{
    /// <summary>Jobs in the batch JPS schedules.</summary>
    public const int DefaultJobs = 100;

    public int Jobs { get; } = jobs >= 1 ? jobs : throw new ArgumentOutOfRangeException(nameof(jobs), jobs, "JPS schedules a batch of at least one job");

    public string Method => "jps";

    public PartitionPlan Plan(PlanningProblem problem, ICutBitsProvider bits)
    {
        ArgumentNullException.ThrowIfNull(problem);
        var plans = ChainCuts.DeployablePrefixes(problem).Select(p => PartitionPlan.ForPartition(Method, problem, p, 32)).ToList();
        var schedule = Schedule([.. plans.Select(StageOne)], [.. plans.Select(StageTwo)], Jobs);
        var single = Enumerable.Range(0, plans.Count)
            .Select(c => (Cut: c, Makespan: TwoTypeMakespan(StageOne(plans[c]), StageTwo(plans[c]), Jobs, 0, 0, 0)))
            .MinBy(x => (x.Makespan, plans[x.Cut].Cost.SerialLatencySeconds));
        var deployed = plans[single.Cut];
        string Cut(int c) => plans[c].EdgeLayerCount == 0 ? "cloud-only" : plans[c].EdgeLayerCount == problem.NodeCount ? "edge-only" : $"after {problem.NodeNames[plans[c].EdgeLayerCount - 1]}";
        string note = string.Create(CultureInfo.InvariantCulture,
            $"JPS schedule of {Jobs} jobs by Johnson's rule: {schedule.FirstJobs} cut {Cut(schedule.FirstCut)}, {Jobs - schedule.FirstJobs} cut {Cut(schedule.SecondCut)}, makespan {schedule.Makespan * 1e3:F3} ms ({Jobs / schedule.Makespan:F1} jobs/s over device compute and transmission); "
            + $"deployed: one cut for every frame, {Cut(single.Cut)} ({Jobs / single.Makespan:F1} jobs/s on the same two stages)");
        return deployed.WithSearch(plans.Count, note);
    }

    private static double StageOne(PartitionPlan p) => p.Cost.EdgeSeconds;

    private static double StageTwo(PartitionPlan p) => p.Cost.TransmissionSeconds;

    /// <summary>JPS's two-cut schedule: cut indices, the jobs at the first, and the Johnson makespan.</summary>
    public readonly record struct TwoCutSchedule(int FirstCut, int SecondCut, int FirstJobs, double Makespan);

    /// <summary>
    /// The least Johnson makespan of <paramref name="jobs"/> jobs over every pair of cut points (c, d) and every split, k jobs at
    /// c and the rest at d (k = jobs: one cut point).
    /// </summary>
    public static TwoCutSchedule Schedule(double[] a, double[] b, int jobs)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Length == 0 || a.Length != b.Length)
        {
            throw new ArgumentException($"JPS needs one or more cut points with two stage times each (got {a.Length} and {b.Length})");
        }

        var best = new TwoCutSchedule(0, 0, jobs, double.PositiveInfinity);
        for (int c = 0; c < a.Length; c++)
        {
            for (int d = c; d < a.Length; d++)
            {
                for (int k = c == d ? jobs : 1; k <= jobs; k++)
                {
                    double makespan = TwoTypeMakespan(a[c], b[c], k, a[d], b[d], jobs - k);
                    if (makespan < best.Makespan * (1 - 1e-12))
                    {
                        best = new TwoCutSchedule(c, d, k, makespan);
                    }
                }
            }
        }

        return best;
    }

    /// <summary>The Johnson makespan of n1 jobs (a1, b1) and n2 jobs (a2, b2), without building the order.</summary>
    public static double TwoTypeMakespan(double a1, double b1, int n1, double a2, double b2, int n2)
    {
        // Johnson's order of two job types: both in the first group (a < b) by ascending a, both in the second by descending b,
        // else the first group's type first.
        bool firstGroup1 = a1 < b1;
        bool firstGroup2 = a2 < b2;
        bool oneFirst = firstGroup1 != firstGroup2 ? firstGroup1 : firstGroup1 ? a1 <= a2 : b1 >= b2;
        var (fa, fb, fn, sa, sb, sn) = oneFirst ? (a1, b1, n1, a2, b2, n2) : (a2, b2, n2, a1, b1, n1);
        double stage1 = 0;
        double stage2 = 0;
        for (int j = 0; j < fn; j++)
        {
            stage1 += fa;
            stage2 = Math.Max(stage2, stage1) + fb;
        }

        for (int j = 0; j < sn; j++)
        {
            stage1 += sa;
            stage2 = Math.Max(stage2, stage1) + sb;
        }

        return stage2;
    }
}
