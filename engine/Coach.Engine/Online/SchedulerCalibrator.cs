namespace Coach.Engine.Online;

/// <summary>What the calibrator learns from: one row per calibration sample.</summary>
/// <param name="Features">Task features, row-major [samples, featureLength].</param>
/// <param name="Labels">Ground-truth labels; the semantic centres are warmed with them.</param>
/// <param name="FullModelCorrect">Whether the full (unsplit, unquantized) model is right on each sample.</param>
/// <param name="CorrectAtBits">bits → whether head → UAQ(bits) → tail is right on each sample; must contain the plan's bits
/// and every lower width the scheduler may use.</param>
public sealed record CalibrationSamples(float[] Features, int[] Labels, int LabelCount, bool[] FullModelCorrect, IReadOnlyDictionary<int, bool[]> CorrectAtBits)
{
    public int Count => Labels.Length;

    public int FeatureLength => Labels.Length == 0 ? 0 : Features.Length / Labels.Length;

    /// <summary>The features are standardised (<see cref="FeatureStandardisation"/>): similarities are <c>(1 + cos) / 2</c>, as the cache computes them.</summary>
    public bool Standardised { get; init; }
}

/// <summary>Options of <see cref="SchedulerCalibrator.Calibrate"/>.</summary>
public sealed record SchedulerCalibrationOptions : CalibrationBudget
{
}

/// <summary>
/// Chooses S_ext and S_adj on the calibration set D (paper §III-C: "initially established using the calibration dataset D to
/// ensure an accuracy loss below 0.5 %").
/// </summary>
/// <remarks>
/// Each sample's separability is computed leave-one-out (its own feature removed from its label's centre), so the thresholds
/// are not fitted to in-sample similarities. The loss is counted against the full model: budget = ε·share·n − (errors the plan's
/// bits already add). S_ext is lowered over the samples in order of decreasing S while the cumulative loss of answering them with
/// argmax_j t_j stays within the exit share; then, for b = PlanBits − 1 down to MinBits, S_adj(b) is lowered the same way
/// over the samples that did not exit and already have b + 1 bits, with the remaining budget spread over the remaining widths.
/// Stopping at the first sample that breaks the budget keeps the thresholds monotone and conservative.
/// </remarks>
public static class SchedulerCalibrator
{
    public static SchedulerCalibration Calibrate(CalibrationSamples samples, SchedulerCalibrationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(samples);
        options ??= new SchedulerCalibrationOptions();
        int n = samples.Count;
        int d = samples.FeatureLength;
        if (n < 2 || samples.Features.Length != n * d || samples.FullModelCorrect.Length != n)
        {
            throw new ArgumentException($"Calibration needs ≥ 2 samples with one feature row and one full-model result each (got {n} labels, {samples.Features.Length} feature values, {samples.FullModelCorrect.Length} results).", nameof(samples));
        }

        if (options.MinBits < 1 || options.PlanBits > options.MaxBits || options.MinBits > options.PlanBits || options.MaxBits > 8)
        {
            throw new ArgumentException($"Need 1 ≤ MinBits ({options.MinBits}) ≤ PlanBits ({options.PlanBits}) ≤ MaxBits ({options.MaxBits}) ≤ 8.", nameof(options));
        }

        for (int b = options.MinBits; b <= options.PlanBits; b++)
        {
            if (!samples.CorrectAtBits.TryGetValue(b, out var row) || row.Length != n)
            {
                throw new ArgumentException($"CorrectAtBits must hold one result per sample for every width from {options.MinBits} to {options.PlanBits}; {b} bits is missing.", nameof(samples));
            }
        }

        var (separability, nearest) = LeaveOneOutSeparability(samples);
        int[] bySeparability = Enumerable.Range(0, n).OrderByDescending(i => separability[i]).ToArray();
        bool[] planCorrect = samples.CorrectAtBits[options.PlanBits];
        int fullCorrect = samples.FullModelCorrect.Count(c => c);
        double budget = Math.Max(0, (options.Epsilon * options.BudgetShare * n) - (fullCorrect - planCorrect.Count(c => c)));

        // S_ext (eq. 10 applies above it).
        double exitBudget = budget * options.ExitShare;
        double used = 0;
        int exits = 0;
        for (; exits < n; exits++)
        {
            int i = bySeparability[exits];
            double delta = (planCorrect[i] ? 1 : 0) - (nearest[i] == samples.Labels[i] ? 1 : 0);
            if (used + delta > exitBudget)
            {
                break;
            }

            used += delta;
        }

        // Ties: S must exceed the threshold, so the threshold is the first rejected sample's S.
        double? exitThreshold = exits == 0 ? null : exits < n ? separability[bySeparability[exits]] : 0.0;
        bool[] exited = new bool[n];
        if (exitThreshold is double ext)
        {
            for (int i = 0; i < n; i++)
            {
                exited[i] = separability[i] > ext;
            }

            used = 0;
            for (int i = 0; i < n; i++)
            {
                if (exited[i])
                {
                    used += (planCorrect[i] ? 1 : 0) - (nearest[i] == samples.Labels[i] ? 1 : 0);
                }
            }
        }

        // S_adj, from PlanBits − 1 down to MinBits.
        int[] bits = Enumerable.Repeat(options.PlanBits, n).ToArray();
        var thresholds = new List<BitThreshold>();
        double remaining = budget - used;
        double floor = double.NegativeInfinity; // S_adj(b + 1)
        for (int b = options.PlanBits - 1; b >= options.MinBits; b--)
        {
            double levelBudget = Math.Max(0, remaining) / (b - options.MinBits + 1);
            bool[] correctHere = samples.CorrectAtBits[b];
            double levelUsed = 0;
            int accepted = 0;
            double threshold = double.PositiveInfinity;
            foreach (int i in bySeparability)
            {
                if (exited[i])
                {
                    continue;
                }

                if (separability[i] <= floor)
                {
                    threshold = floor;
                    break;
                }

                double delta = (samples.CorrectAtBits[bits[i]][i] ? 1 : 0) - (correctHere[i] ? 1 : 0);
                if (levelUsed + delta > levelBudget)
                {
                    threshold = separability[i];
                    break;
                }

                levelUsed += delta;
                accepted++;
                threshold = Math.BitDecrement((double)separability[i]);
            }

            if (accepted == 0)
            {
                break;
            }

            // Apply exactly the rule the scheduler will use (S > threshold) and recount.
            for (int i = 0; i < n; i++)
            {
                if (!exited[i] && separability[i] > threshold)
                {
                    remaining -= (samples.CorrectAtBits[bits[i]][i] ? 1 : 0) - (correctHere[i] ? 1 : 0);
                    bits[i] = b;
                }
            }

            thresholds.Add(new BitThreshold(b, threshold));
            floor = threshold;
        }

        int policyCorrect = 0;
        int sent = 0;
        long bitSum = 0;
        for (int i = 0; i < n; i++)
        {
            if (exited[i])
            {
                policyCorrect += nearest[i] == samples.Labels[i] ? 1 : 0;
            }
            else
            {
                policyCorrect += samples.CorrectAtBits[bits[i]][i] ? 1 : 0;
                sent++;
                bitSum += bits[i];
            }
        }

        return new SchedulerCalibration
        {
            ExitThreshold = exitThreshold,
            BitThresholds = thresholds,
            PlanBits = options.PlanBits,
            MaxBits = options.MaxBits,
            Epsilon = options.Epsilon,
            SampleCount = n,
            FullAccuracy = (double)fullCorrect / n,
            PolicyAccuracy = (double)policyCorrect / n,
            ExitRatio = (double)exited.Count(e => e) / n,
            MeanBits = sent == 0 ? 0 : (double)bitSum / sent,
        };
    }

    /// <summary>S and argmax_j t_j of every sample against centres that exclude the sample itself.</summary>
    internal static (float[] Separability, int[] Nearest) LeaveOneOutSeparability(CalibrationSamples samples)
    {
        int n = samples.Count;
        int d = samples.FeatureLength;
        int labels = samples.LabelCount;
        var sums = new double[labels * d];
        var counts = new int[labels];
        for (int i = 0; i < n; i++)
        {
            int y = samples.Labels[i];
            if ((uint)y >= (uint)labels)
            {
                throw new ArgumentException($"Calibration label {y} of sample {i} is outside 0…{labels - 1}.", nameof(samples));
            }

            counts[y]++;
            for (int k = 0; k < d; k++)
            {
                sums[(y * d) + k] += samples.Features[(i * d) + k];
            }
        }

        var separability = new float[n];
        var nearest = new int[n];
        var similarities = new float[labels];
        var norms = new double[labels];
        for (int j = 0; j < labels; j++)
        {
            double s = 0;
            for (int k = 0; k < d; k++)
            {
                double c = counts[j] == 0 ? 0 : sums[(j * d) + k] / counts[j];
                s += c * c;
            }

            norms[j] = Math.Sqrt(s);
        }

        for (int i = 0; i < n; i++)
        {
            var f = samples.Features.AsSpan(i * d, d);
            double fNorm = Math.Sqrt(TaskFeature.Dot(f, f));
            int y = samples.Labels[i];
            for (int j = 0; j < labels; j++)
            {
                int m = counts[j] - (j == y ? 1 : 0);
                if (m <= 0 || fNorm == 0)
                {
                    similarities[j] = 0;
                    continue;
                }

                double dot = 0;
                double centreNormSquared = 0;
                for (int k = 0; k < d; k++)
                {
                    double c = (sums[(j * d) + k] - (j == y ? f[k] : 0)) / m;
                    dot += c * f[k];
                    centreNormSquared += c * c;
                }

                double norm = j == y ? Math.Sqrt(centreNormSquared) : norms[j];
                double cosine = norm == 0 ? double.NaN : dot / (norm * fNorm);
                similarities[j] = SemanticCache.Similarity(cosine, samples.Standardised); // eq. 8
            }

            separability[i] = Separability.Compute(similarities, out nearest[i]);
        }

        return (separability, nearest);
    }
}
