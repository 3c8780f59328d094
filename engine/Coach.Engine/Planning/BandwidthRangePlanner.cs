using System.Globalization;

namespace Coach.Engine.Planning;

/// <summary>
/// COACH for a link whose rate moves within known bounds (a bandwidth schedule, a shared Wi-Fi cell): the single-rate plan
/// of eq. 2–5 at each listed rate is a candidate partition; every candidate is costed at every rate with the bits it would
/// be sent with there (its calibrated minimum b_min, raised by eq. 11 where the link has room, which is also what the online
/// component does with the live bandwidth), and the candidate with the highest mean predicted throughput over the rates
/// wins. Its bits are then those of the nominal rate (the problem's own).
/// </summary>
/// <remarks>
/// Why: a plan made for one rate often sits at its cut's minimum safe bits, so when the link halves its transmission time
/// doubles and eq. 11 has nothing left to take away. A cut a little deeper costs some edge time at the top rate and keeps
/// the pipeline full lower down.
/// </remarks>
public sealed class BandwidthRangePlanner : IPartitionPlanner
{
    private readonly IPartitionPlanner _inner;
    private readonly double[] _rates;

    /// <param name="inner">The single-rate planner whose plans are the candidates (COACH's).</param>
    /// <param name="bandwidthsBitsPerSecond">The rates the link is expected to run at (at least one, each positive).</param>
    public BandwidthRangePlanner(IPartitionPlanner inner, IReadOnlyList<double> bandwidthsBitsPerSecond)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(bandwidthsBitsPerSecond);
        if (bandwidthsBitsPerSecond.Count == 0 || bandwidthsBitsPerSecond.Any(r => !(r > 0) || double.IsInfinity(r)))
        {
            throw new ArgumentException("a bandwidth range needs one or more positive, finite rates", nameof(bandwidthsBitsPerSecond));
        }

        _inner = inner;
        _rates = [.. bandwidthsBitsPerSecond.Distinct().OrderDescending()];
    }

    public string Method => _inner.Method;

    public IReadOnlyList<double> Rates => _rates;

    public PartitionPlan Plan(PlanningProblem problem, ICutBitsProvider bits)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(bits);
        var atRates = _rates.Select(rate => problem.WithSettings(problem.Settings with { BandwidthBitsPerSecond = rate })).ToArray();
        var nominal = _inner.Plan(problem, bits);
        var candidates = new List<bool[]> { nominal.OnEdge };
        long examined = nominal.CandidatesExamined;
        // The nominal rate's plan is already a candidate (and usually one of the rates): no second search for it.
        foreach (var atRate in atRates.Where(p => p.Settings.BandwidthBitsPerSecond != problem.Settings.BandwidthBitsPerSecond))
        {
            PartitionPlan plan;
            try
            {
                plan = _inner.Plan(atRate, bits);
            }
            catch (PlanInfeasibleException)
            {
                continue;
            }

            examined += plan.CandidatesExamined;
            if (!candidates.Any(c => c.AsSpan().SequenceEqual(plan.OnEdge)))
            {
                candidates.Add(plan.OnEdge);
            }
        }

        var choosers = atRates.Select(p => new BitChooser(p, bits)).ToArray();
        bool[] best = nominal.OnEdge;
        double bestMean = MeanThroughput(nominal.OnEdge, choosers);
        double nominalMean = bestMean;
        foreach (var candidate in candidates.Skip(1))
        {
            double mean = MeanThroughput(candidate, choosers);
            if (mean > bestMean * (1 + 1e-9))
            {
                best = candidate;
                bestMean = mean;
            }
        }

        var chosen = ReferenceEquals(best, nominal.OnEdge) ? nominal : new BitChooser(problem, bits).Choose(Method, best, out _) ?? nominal;
        string rates = string.Join(", ", _rates.Select(Bandwidth.Format));
        return chosen.WithSearch(examined, string.Create(CultureInfo.InvariantCulture,
            $"planned for {rates}: {candidates.Count} candidate partitions (the single-rate optima), mean predicted throughput over the rates {bestMean:F1} fps (the {Bandwidth.Format(problem.Settings.BandwidthBitsPerSecond)} plan alone: {nominalMean:F1})"));
    }

    /// <summary>Mean over the rates of the partition's predicted throughput with the bits it gets at each (0 where it breaks T_max).</summary>
    private double MeanThroughput(bool[] onEdge, BitChooser[] choosers)
    {
        double sum = 0;
        foreach (var chooser in choosers)
        {
            var plan = chooser.Choose(Method, onEdge, out _);
            sum += plan is null ? 0 : plan.Cost.ThroughputPerSecond;
        }

        return sum / choosers.Length;
    }
}
