namespace Coach.Engine.Statistics;

/// <summary>Percentiles of a measured sample (latencies, per-frame times) as the run summaries and the selftest report them.</summary>
public static class Percentile
{
    /// <summary>
    /// Nearest-rank percentile of <paramref name="sorted"/> (ascending): the value at rank ceil(p·n), so p50 of an even count
    /// is the lower middle value and every reported figure is one that was measured; 0 for an empty sample.
    /// </summary>
    public static double NearestRank(IReadOnlyList<double> sorted, double fraction)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        if (sorted.Count == 0)
        {
            return 0;
        }

        int rank = (int)Math.Ceiling(fraction * sorted.Count) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Count - 1)];
    }
}
