namespace Coach.Engine.Coded;

/// <summary>
/// A worker's time per unit of work on a subtask (seconds per multiply–accumulate of the slice's convolution), a random
/// variable U: a subtask of w MACs takes w·U, plus its transfer. CoCoI models each worker's time as a shifted exponential
/// whose shift and mean scale with the subtask's workload (docs/coded.md §3).
/// </summary>
public abstract class WorkerLatency
{
    /// <summary>E[U_(k:m)], the k-th smallest of m independent draws of U.</summary>
    public abstract double ExpectedOrderStatistic(int k, int m);

    /// <summary>E[U_(k:m)] as CoCoI's approximation writes it (a closed form in continuous k); exact where there is no simpler form.</summary>
    public abstract double ApproximateOrderStatistic(double k, int m);

    /// <summary>One draw of U.</summary>
    public abstract double Sample(Random random);
}

/// <summary>U = a + Exp with mean b: E[U_(k:m)] = a + b·(H_m − H_(m−k)) (the order statistics of exponentials).</summary>
public sealed class ShiftedExponentialLatency(double shiftSecondsPerMac, double meanExcessSecondsPerMac) : WorkerLatency
{
    public double Shift { get; } = shiftSecondsPerMac > 0 ? shiftSecondsPerMac : throw new ArgumentOutOfRangeException(nameof(shiftSecondsPerMac), "the shift must be positive");

    public double MeanExcess { get; } = meanExcessSecondsPerMac >= 0 ? meanExcessSecondsPerMac : throw new ArgumentOutOfRangeException(nameof(meanExcessSecondsPerMac), "the mean excess must not be negative");

    /// <summary>Maximum-likelihood fit to measured seconds per MAC: the shift is the least sample, the excess the mean above it.</summary>
    public static ShiftedExponentialLatency Fit(IReadOnlyList<double> secondsPerMac)
    {
        if (secondsPerMac is null || secondsPerMac.Count < 2)
        {
            throw new ArgumentException("fitting a shifted exponential needs at least two measured subtask times", nameof(secondsPerMac));
        }

        double min = secondsPerMac.Min();
        return new ShiftedExponentialLatency(min, secondsPerMac.Average() - min);
    }

    public override double ExpectedOrderStatistic(int k, int m) => Shift + (MeanExcess * (Harmonic(m) - Harmonic(m - k)));

    /// <summary>H_m − H_(m−k) ≈ ln((m + ½)/(m − k + ½)), CoCoI's logarithmic form made finite at k = m.</summary>
    public override double ApproximateOrderStatistic(double k, int m) => Shift + (MeanExcess * Math.Log((m + 0.5) / (m - k + 0.5)));

    public override double Sample(Random random) => Shift - (MeanExcess * Math.Log(1 - random.NextDouble()));

    internal static double Harmonic(int m)
    {
        double h = 0;
        for (int i = 1; i <= m; i++)
        {
            h += 1.0 / i;
        }

        return h;
    }
}

/// <summary>
/// The measured distribution itself: U takes each sample with equal probability. E[U_(k:m)] is exact:
/// P(U_(k:m) ≤ u) = Σ_(j≥k) C(m, j) F(u)^j (1 − F(u))^(m−j) over the sorted samples.
/// </summary>
public sealed class EmpiricalLatency : WorkerLatency
{
    private readonly double[] _sorted;

    public EmpiricalLatency(IReadOnlyList<double> secondsPerMac)
    {
        if (secondsPerMac is null || secondsPerMac.Count == 0 || secondsPerMac.Any(s => !(s > 0) || !double.IsFinite(s)))
        {
            throw new ArgumentException("an empirical latency needs at least one finite, positive measured time per MAC", nameof(secondsPerMac));
        }

        _sorted = [.. secondsPerMac.Order()];
    }

    public override double ExpectedOrderStatistic(int k, int m)
    {
        double expected = 0, previous = 0;
        int count = _sorted.Length;
        for (int i = 0; i < count; i++)
        {
            double f = (i + 1.0) / count;
            double cdf = AtLeast(k, m, f);
            expected += _sorted[i] * (cdf - previous);
            previous = cdf;
        }

        return expected;
    }

    public override double ApproximateOrderStatistic(double k, int m)
    {
        // The k/(m+1) quantile, the classical approximation of an order statistic's mean.
        double q = Math.Clamp(k / (m + 1), 0, 1);
        double position = q * (_sorted.Length - 1);
        int low = (int)Math.Floor(position);
        int high = Math.Min(low + 1, _sorted.Length - 1);
        return _sorted[low] + ((position - low) * (_sorted[high] - _sorted[low]));
    }

    public override double Sample(Random random) => _sorted[random.Next(_sorted.Length)];

    /// <summary>P(at least k of m succeed) with success probability p each.</summary>
    internal static double AtLeast(int k, int m, double p)
    {
        double sum = 0;
        for (int j = k; j <= m; j++)
        {
            sum += Binomial(m, j) * Math.Pow(p, j) * Math.Pow(1 - p, m - j);
        }

        return Math.Min(1, sum);
    }

    internal static double Binomial(int n, int k)
    {
        double r = 1;
        for (int i = 1; i <= k; i++)
        {
            r = r * (n - k + i) / i;
        }

        return r;
    }
}

/// <summary>
/// What a convolution costs when split into k slices: the work and bytes of one slice as functions of k (halo
/// included), from the layer's geometry.
/// </summary>
public sealed record CodedLayerShape(string Name, int OutputRows, int OutputChannels, int OutputRowLength, int Channels, int InputRowLength, WindowGeometry Geometry, long MacsPerOutputValue)
{
    public static CodedLayerShape Of(LayerRun layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        var conv = layer.Layers.Single();
        long kernelMacs = (layer.InputShape[1] / Math.Max(1, GroupCount(conv))) * conv.Kernel.Aggregate(1L, (a, b) => a * b);
        return new CodedLayerShape(conv.Node.Name, (int)layer.OutputShape[2], (int)layer.OutputShape[1], SplitRunExecutor.RowLength(layer.OutputShape),
            (int)layer.InputShape[1], SplitRunExecutor.RowLength(layer.InputShape), conv.Geometry, kernelMacs);
    }

    public int SliceOutputRows(int k) => (OutputRows + k - 1) / k;

    public int SliceInputRows(int k) => ((SliceOutputRows(k) - 1) * Geometry.Stride) + Geometry.Extent;

    public long SliceMacs(int k) => (long)OutputChannels * SliceOutputRows(k) * OutputRowLength * MacsPerOutputValue;

    public long SliceInputValues(int k) => (long)Channels * SliceInputRows(k) * InputRowLength;

    public long SliceOutputValues(int k) => (long)OutputChannels * SliceOutputRows(k) * OutputRowLength;

    public long LayerMacs => (long)OutputChannels * OutputRows * OutputRowLength * MacsPerOutputValue;

    private static int GroupCount(RunLayer conv) =>
        conv.Node.Attribute.FirstOrDefault(a => a.Name == "group") is { } g ? (int)g.I : 1;
}

/// <summary>The setting a layer's split is chosen in.</summary>
/// <param name="Workers">Workers available, n.</param>
/// <param name="Latency">Each worker's time per MAC (independent, identically distributed).</param>
/// <param name="FailureProbability">Each worker fails (never answers) independently with this probability.</param>
/// <param name="BytesPerSecond">Each worker's link, both ways (float32 slices: 4 bytes a value).</param>
/// <param name="MessageSeconds">Fixed time per subtask on the link (request and answer).</param>
/// <param name="CodingSecondsPerValue">The master's time per coefficient × value when encoding and decoding.</param>
/// <param name="MasterSecondsPerMac">The master's own time per MAC: running the layer itself, and the fallback when fewer than k answer.</param>
public sealed record CodedSplitSettings(int Workers, WorkerLatency Latency, double FailureProbability, double BytesPerSecond, double MessageSeconds, double CodingSecondsPerValue, double MasterSecondsPerMac);

/// <summary>A layer's choice: k of n, its expected latency, and what uncoded splitting and the master alone would take.</summary>
public sealed record CodedLayerChoice(string Layer, int N, int K, double ExpectedSeconds, double UncodedSeconds, double LocalSeconds, double ApproximateK)
{
    /// <summary>Coding pays: the coded layer is expected faster than the master alone.</summary>
    public bool Distribute => ExpectedSeconds < LocalSeconds;
}

/// <summary>
/// Chooses k for each convolution given n workers, the way CoCoI poses it (Liu, Huang and Tang, "CoCoI: Distributed
/// Coded Inference System for Straggler Mitigation", arXiv:2501.06856, 2025): the layer's expected latency is
/// encoding + transfer + the k-th fastest of the n workers' subtask times + decoding, where a smaller k means bigger
/// subtasks and a larger k less redundancy (docs/coded.md §3). The objective is not convex in integer k; CoCoI minimises
/// a continuous approximation and rounds. Here the approximation's k° is reported beside the choice, and the choice is
/// the exact expectation's minimum over every k (<see cref="ExactOptimum"/>): n is a handful of devices, and the
/// approximation misses the failure cliff (docs/coded.md §3.3).
/// </summary>
public static class CodedSplitPlanner
{
    /// <summary>Expected latency of the layer split into k of n (exact expectation, failures included).</summary>
    public static double ExpectedSeconds(CodedLayerShape layer, CodedSplitSettings s, int n, int k)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(s);
        double fixedPart = Overheads(layer, s, n, k, k);
        double w = layer.SliceMacs(k);
        double q = 1 - s.FailureProbability;
        double expected = 0, decodable = 0;
        for (int m = k; m <= n; m++)
        {
            double pm = EmpiricalLatency.Binomial(n, m) * Math.Pow(q, m) * Math.Pow(s.FailureProbability, n - m);
            expected += pm * w * s.Latency.ExpectedOrderStatistic(k, m);
            decodable += pm;
        }

        return fixedPart + expected + ((1 - decodable) * Fallback(layer, s));
    }

    /// <summary>CoCoI's approximation in continuous k: ⌈H/k⌉ → H/k, the order statistic in closed form, failures in the mean survivors.</summary>
    public static double ApproximateSeconds(CodedLayerShape layer, CodedSplitSettings s, int n, double k)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(s);
        double rows = layer.OutputRows / k;
        double w = layer.OutputChannels * rows * layer.OutputRowLength * (double)layer.MacsPerOutputValue;
        double inputRows = ((rows - 1) * layer.Geometry.Stride) + layer.Geometry.Extent;
        double inValues = layer.Channels * inputRows * layer.InputRowLength;
        double outValues = layer.OutputChannels * rows * layer.OutputRowLength;
        double survivors = Math.Max(k, n * (1 - s.FailureProbability));
        int m = (int)Math.Round(survivors);
        double order = s.Latency.ApproximateOrderStatistic(Math.Min(k, m), Math.Max(m, 1));
        double coding = s.CodingSecondsPerValue * (((n - k) * k * inValues) + (k * k * outValues));
        double transfer = s.MessageSeconds + ((inValues + outValues) * 4 / s.BytesPerSecond);
        return coding + transfer + (w * order);
    }

    /// <summary>The choice for one layer: k° from the approximation, then the exact expectation around it.</summary>
    public static CodedLayerChoice Choose(CodedLayerShape layer, CodedSplitSettings s)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(s);
        int n = Math.Min(s.Workers, layer.OutputRows);
        if (n < 1)
        {
            throw new ArgumentException("coding a layer needs at least one worker", nameof(s));
        }

        double bestK = 1, best = double.PositiveInfinity;
        for (int step = 0; step <= 1000; step++)
        {
            double k = 1 + ((n - 1) * step / 1000.0);
            double v = ApproximateSeconds(layer, s, n, k);
            if (v < best)
            {
                best = v;
                bestK = k;
            }
        }

        // The approximation spreads failures over the mean number of survivors and so misses the cliff where fewer than k
        // survive; with n this small the exact expectation of every k is cheap, and it decides.
        var (chosen, chosenSeconds) = ExactOptimum(layer, s);
        return new CodedLayerChoice(layer.Name, n, chosen, chosenSeconds, ExpectedSeconds(layer, s, n, n), layer.LayerMacs * s.MasterSecondsPerMac, bestK);
    }

    /// <summary>The exact optimum over every k (the reference the approximation is checked against).</summary>
    public static (int K, double Seconds) ExactOptimum(CodedLayerShape layer, CodedSplitSettings s)
    {
        ArgumentNullException.ThrowIfNull(s);
        int n = Math.Min(s.Workers, layer.OutputRows);
        int bestK = 1;
        double best = double.PositiveInfinity;
        for (int k = 1; k <= n; k++)
        {
            double v = ExpectedSeconds(layer, s, n, k);
            if (v < best)
            {
                best = v;
                bestK = k;
            }
        }

        return (bestK, best);
    }

    /// <summary>The layers to code: each layer's choice; <see cref="CodedLayerChoice.Distribute"/> says whether it pays.</summary>
    public static IReadOnlyList<CodedLayerChoice> Plan(IEnumerable<CodedLayerShape> layers, CodedSplitSettings s) =>
        [.. layers.Select(l => Choose(l, s))];

    private static double Overheads(CodedLayerShape layer, CodedSplitSettings s, int n, int k, int decodeRows)
    {
        double coding = s.CodingSecondsPerValue * (((double)(n - k) * k * layer.SliceInputValues(k)) + ((double)decodeRows * k * layer.SliceOutputValues(k)));
        double transfer = s.MessageSeconds + ((layer.SliceInputValues(k) + layer.SliceOutputValues(k)) * 4.0 / s.BytesPerSecond);
        return coding + transfer;
    }

    private static double Fallback(CodedLayerShape layer, CodedSplitSettings s) => layer.LayerMacs * s.MasterSecondsPerMac;
}
