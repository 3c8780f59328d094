using Coach.Engine.Data;

namespace Coach.Engine.Online;

/// <summary>
/// One simulated correlated stream over calibration frames, recorded once through the real head and tail: per frame the task
/// feature, the ground truth, the full model's label and the label the tail gives at every bit width the scheduler may send.
/// </summary>
/// <param name="Features">Row-major [frames, featureLength].</param>
/// <param name="LabelAtBits">bits → tail label per frame after UAQ at that width.</param>
public sealed record StreamTrace(StreamCorrelation Correlation, float[] Features, int[] Truth, int[] FullLabels, IReadOnlyDictionary<int, int[]> LabelAtBits)
{
    public int Count => Truth.Length;
}

/// <summary>What the online loop did on one calibration stream with the chosen thresholds and window.</summary>
/// <param name="EarlyExitRatio">Share of frames that exited early.</param>
/// <param name="AccuracyLoss">Accuracy lost against the full model (share of frames; negative: gained).</param>
/// <param name="MeanMinimumBits">Mean Q_r of the frames sent.</param>
public sealed record StreamLevelCalibration(string Correlation, int Frames, double EarlyExitRatio, double AccuracyLoss, double MeanMinimumBits);

/// <summary>Settings of <see cref="StreamCalibrator.Fit"/>.</summary>
public sealed record StreamCalibrationOptions : CalibrationBudget
{
    /// <summary>Frames between sending a frame and learning the cloud's label for it (the edge pipeline's depth).</summary>
    public int FeedbackDelayFrames { get; init; } = 4;

    /// <summary>Decay windows W to choose from (null: the exact running mean of eq. 7).</summary>
    public IReadOnlyList<int?> WindowCandidates { get; init; } = [4, 8, 16, 32, null];

    /// <summary>Stream guards to choose from (<see cref="SchedulerCalibration.CloudAgreementFrames"/>, <see cref="SchedulerCalibration.MaxConsecutiveExits"/>).</summary>
    /// <remarks>
    /// No candidate allows more than 6 exits in a row: at a cut to another scene whose first frame resembles the old one,
    /// every exit until the next frame sent answers the old label, and the cloud's answer to that frame comes back
    /// <see cref="FeedbackDelayFrames"/> later. The cap bounds what one such mistake costs (cap + delay frames); a cap of 20
    /// let single scene cuts cost 21 frames each, which calibration streams of a few hundred runs rarely show.
    /// </remarks>
    public IReadOnlyList<(int CloudAgreement, int? MaxConsecutiveExits)> GuardCandidates { get; init; } = [(1, 3), (2, 3), (1, 4), (2, 4), (1, 6), (2, 6)];

    /// <summary>Fit <see cref="SchedulerCalibration.ReuseThreshold"/> (temporal reuse) before S_ext; false leaves reuse off.</summary>
    public bool FitReuse { get; init; } = true;

    /// <summary>Threshold candidates tried per search (evenly spaced ranks of the observed separabilities).</summary>
    public int ThresholdCandidates { get; init; } = 160;

    /// <summary>
    /// The stage times and cut tensors eq. 11 weighs on the edge, with <see cref="BandwidthBytesPerSecond"/>: the simulated
    /// streams send each frame at the Q_c the edge would pick (the label learned and the answer given are those of that
    /// width, capped at the plan's bits, the widest the traces hold). Null: frames are sent at Q_r.
    /// </summary>
    public TransferCostModel? CostModel { get; init; }

    /// <summary>The uplink bandwidth B̂ eq. 11 assumes in the simulated streams (with <see cref="CostModel"/>).</summary>
    public double BandwidthBytesPerSecond { get; init; } = 10e6 / 8;
}

/// <summary>The fitted online policy: window, delay, thresholds, and what they did on each calibration stream.</summary>
public sealed record StreamCalibrationResult(int? Window, int FeedbackDelayFrames, double? ExitThreshold, IReadOnlyList<BitThreshold> BitThresholds,
    IReadOnlyList<StreamLevelCalibration> Levels, int CloudAgreementFrames = 0, int? MaxConsecutiveExits = null, double? ReuseThreshold = null);

/// <summary>
/// Fits S_ext, S_adj and the centre window W on simulated correlated streams over the calibration split (paper §III-C: the
/// thresholds are "initially established using the calibration dataset D"), running exactly the edge's loop: centres warmed
/// on the calibration means, decayed with window W, updated with the cloud's label D frames after a frame was sent; frames
/// that exit early do not update the centres (nothing comes back for them).
/// </summary>
/// <remarks>
/// Fitting against exact class means (<see cref="SchedulerCalibrator"/>) leaves S_ext far above the separabilities that a
/// centre tracking the current video run produces, so few frames exit; fitting on the loop itself lets the threshold and the
/// window be chosen together. Budget per stream: share·(ε·n − what the plan's bits lose on that stream) frames for what the
/// online policy adds, so plan bits and policy together stay within ε. S_ext is lowered over candidate thresholds while what the early exits lose against sending at the
/// plan's bits stay within the exit share of the budget on every correlation level (the worst level
/// binds); then S_adj(b) for b = PlanBits − 1 … MinBits the same way with those exits plus what the reduced bits lose against
/// the plan's bits, each width adding an equal slice of the rest. A search stops at the first candidate that breaks the budget, so the thresholds stay
/// conservative. W is the candidate with the highest early-exit ratio on the high-correlation stream.
/// </remarks>
public static class StreamCalibrator
{
    public static StreamCalibrationResult Fit(IReadOnlyList<StreamTrace> traces, SemanticCache warmCentres, StreamCalibrationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(traces);
        ArgumentNullException.ThrowIfNull(warmCentres);
        options ??= new StreamCalibrationOptions();
        if (traces.Count == 0 || traces.Any(t => t.Count == 0 || t.Features.Length != t.Count * warmCentres.FeatureLength))
        {
            throw new ArgumentException($"Stream calibration needs at least one non-empty stream whose features have {warmCentres.FeatureLength} values per frame.", nameof(traces));
        }

        for (int b = options.MinBits; b <= options.PlanBits; b++)
        {
            if (traces.Any(t => !t.LabelAtBits.TryGetValue(b, out var row) || row.Length != t.Count))
            {
                throw new ArgumentException($"Every stream needs the tail's label at {b} bits for every frame.", nameof(traces));
            }
        }

        var warm = Snapshot(warmCentres);
        // ε bounds the whole loss against the full model: what the plan's bits already lose on a stream comes off that
        // stream's budget before the online policy (exits, bits below the plan's) gets its share of the rest.
        double[] budget = [.. traces.Select(t => options.BudgetShare * Math.Max(0, (options.Epsilon * t.Count) - Math.Max(0, PlanLoss(t, options.PlanBits))))];
        StreamCalibrationResult? best = null;
        double bestHighExits = -1;
        foreach (int? window in options.WindowCandidates)
        foreach (var guard in options.GuardCandidates)
        {
            var result = FitWindow(traces, warm, window, guard, budget, options);
            int high = IndexOfHighest(traces);
            double highExits = result.Levels[high].EarlyExitRatio;
            if (highExits > bestHighExits)
            {
                best = result;
                bestHighExits = highExits;
            }
        }

        return best!;
    }

    /// <summary>
    /// Runs the edge's loop over one recorded stream. Returns the exits; <c>Loss</c>, the net accuracy loss against the full
    /// model in frames; <c>ExitLoss</c>, the exits answered wrong where the full model is right (no credit for lucky exits);
    /// <c>BitsLoss</c>, what sending below the plan's bits lost against the plan's bits (net); frames sent and the sum of Q_r.
    /// When <paramref name="sentSeparabilities"/> is given, the S of every frame sent (not answered on the edge) is added to it;
    /// <paramref name="sentResemblances"/> likewise collects their resemblance to the last answered frame (when there was one).
    /// </summary>
    /// <param name="link">Eq. 11's cost model and bandwidth: frames are sent at the Q_c it picks (capped at the plan's bits); null: at Q_r.</param>
    public static (int Exits, int Loss, int ExitLoss, int BitsLoss, int Sent, long BitSum) Simulate(StreamTrace trace, (float[] Centres, long[] Counts, int Labels, int FeatureLength, FeatureStandardisation? Standardisation) warm,
        int? window, int delay, SchedulerCalibration calibration, List<double>? sentSeparabilities = null, List<double>? sentResemblances = null,
        (TransferCostModel CostModel, double BytesPerSecond)? link = null)
    {
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(calibration);
        int d = warm.FeatureLength;
        var cache = new SemanticCache(warm.Labels, d, window, warm.Standardisation);
        cache.Restore(warm.Centres, warm.Counts);
        // Without a link, no stage time: eq. 11 has no bubble to fill and Q_c is Q_r.
        var (costModel, bytesPerSecond) = link ?? (new TransferCostModel(0, 0, [d], [1]), 1e6);
        var scheduler = new OnlineScheduler(cache, calibration, costModel, new BandwidthEstimator(4, bytesPerSecond));
        delay = Math.Max(0, delay);
        var pendingFrame = new int[delay + 1];
        var pendingLabel = new int[delay + 1];
        Array.Fill(pendingFrame, -1);
        int exits = 0, loss = 0, exitLoss = 0, bitsLoss = 0, sent = 0;
        var atPlan = trace.LabelAtBits[calibration.PlanBits];
        long bitSum = 0;
        for (int i = 0; i < trace.Count; i++)
        {
            // The cloud's answer for the frame sent `delay` frames ago arrives now (eq. 7 with the returned label).
            int slot = i % (delay + 1);
            if (pendingFrame[slot] >= 0)
            {
                scheduler.Learn(pendingLabel[slot], trace.Features.AsSpan(pendingFrame[slot] * d, d));
                pendingFrame[slot] = -1;
            }

            var decision = scheduler.Decide(trace.Features.AsSpan(i * d, d));
            int truth = trace.Truth[i];
            int answer;
            if (decision.EarlyExit)
            {
                answer = decision.Label;
                exits++;
            }
            else
            {
                int sentBits = link is null ? decision.MinimumBits : Math.Min(decision.Bits, calibration.PlanBits);
                answer = trace.LabelAtBits[sentBits][i];
                bitsLoss += (atPlan[i] == truth ? 1 : 0) - (answer == truth ? 1 : 0);
                sentSeparabilities?.Add(decision.Separability);
                if (decision.Resemblance > -1f)
                {
                    sentResemblances?.Add(decision.Resemblance);
                }

                sent++;
                bitSum += sentBits;
                pendingFrame[slot] = i;
                pendingLabel[slot] = answer;
            }

            int lost = (trace.FullLabels[i] == truth ? 1 : 0) - (answer == truth ? 1 : 0);
            loss += lost;
            // Exits answer with labels learned from the cloud's plan-bit answers, so they are judged against those answers.
            exitLoss += decision.EarlyExit ? (atPlan[i] == truth ? 1 : 0) - (answer == truth ? 1 : 0) : 0;
        }

        return (exits, loss, exitLoss, bitsLoss, sent, bitSum);
    }

    /// <summary>The warm centres as plain arrays, restored into a fresh cache for every simulated stream.</summary>
    public static (float[] Centres, long[] Counts, int Labels, int FeatureLength, FeatureStandardisation? Standardisation) Snapshot(SemanticCache cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        var centres = new float[cache.LabelCount * cache.FeatureLength];
        var counts = new long[cache.LabelCount];
        cache.CopyTo(centres, counts);
        return (centres, counts, cache.LabelCount, cache.FeatureLength, cache.Standardisation);
    }

    private static StreamCalibrationResult FitWindow(IReadOnlyList<StreamTrace> traces, (float[] Centres, long[] Counts, int Labels, int FeatureLength, FeatureStandardisation? Standardisation) warm,
        int? window, (int CloudAgreement, int? MaxConsecutiveExits) guard, double[] budget, StreamCalibrationOptions options)
    {
        int delay = options.FeedbackDelayFrames;
        var link = Link(options); // eq. 11's bits in the simulated streams (null: Q_r)
        var calibration = new SchedulerCalibration
        {
            PlanBits = options.PlanBits,
            MaxBits = options.MaxBits,
            Epsilon = options.Epsilon,
            CloudAgreementFrames = guard.CloudAgreement,
            MaxConsecutiveExits = guard.MaxConsecutiveExits,
        };

        // Temporal reuse first: the resemblances the loop produces with nothing exiting give the candidates, highest first.
        double? reuse = null;
        if (options.FitReuse)
        {
            foreach (double t in Candidates(traces, warm, window, delay, calibration, double.NegativeInfinity, options.ThresholdCandidates / 2, resemblances: true, link: link))
            {
                calibration.ReuseThreshold = t;
                if (!WithinExitShare(traces, warm, window, delay, calibration, budget, options))
                {
                    break;
                }

                reuse = t;
            }
        }

        calibration.ReuseThreshold = reuse;

        // Separabilities the loop produces with only reuse exiting: where the S_ext candidates come from.
        var candidates = Candidates(traces, warm, window, delay, calibration, double.NegativeInfinity, options.ThresholdCandidates, link: link);
        double? exit = null;
        foreach (double t in candidates)
        {
            calibration.ExitThreshold = t;
            if (!WithinExitShare(traces, warm, window, delay, calibration, budget, options))
            {
                break;
            }

            exit = t;
        }

        calibration.ExitThreshold = exit;

        var thresholds = new List<BitThreshold>();
        double floor = double.NegativeInfinity;
        int widths = options.PlanBits - options.MinBits;
        for (int b = options.PlanBits - 1; b >= options.MinBits; b--)
        {
            double share = options.ExitShare + ((1 - options.ExitShare) * (options.PlanBits - b) / widths);
            double? accepted = null;
            foreach (double t in Candidates(traces, warm, window, delay, calibration, floor, options.ThresholdCandidates / 2))
            {
                calibration.BitThresholds = [.. thresholds, new BitThreshold(b, t)];
                bool within = true;
                for (int k = 0; k < traces.Count && within; k++)
                {
                    // At Q_r, not eq. 11's Q_c: on the planned link Q_c may never go below the plan's bits, but on a slower
                    // one it falls to Q_r, and S_adj must be safe there.
                    var outcome = Simulate(traces[k], warm, window, delay, calibration);
                    within = outcome.ExitLoss + outcome.BitsLoss <= share * budget[k];
                }

                if (!within)
                {
                    break;
                }

                accepted = t;
            }

            if (accepted is not double threshold)
            {
                calibration.BitThresholds = thresholds;
                break;
            }

            thresholds.Add(new BitThreshold(b, threshold));
            calibration.BitThresholds = thresholds;
            floor = threshold;
        }

        calibration.BitThresholds = thresholds;
        var levels = new List<StreamLevelCalibration>();
        foreach (var trace in traces)
        {
            var outcome = Simulate(trace, warm, window, delay, calibration, link: link);
            levels.Add(new StreamLevelCalibration(trace.Correlation.ToString().ToLowerInvariant(), trace.Count, (double)outcome.Exits / trace.Count,
                (double)outcome.Loss / trace.Count, outcome.Sent == 0 ? 0 : (double)outcome.BitSum / outcome.Sent));
        }
        return new StreamCalibrationResult(window, delay, exit, thresholds, levels, guard.CloudAgreement, guard.MaxConsecutiveExits, reuse);
    }

    /// <summary>Whether what the exits lose against the plan's bits stays within the exit share of every stream's budget.</summary>
    private static bool WithinExitShare(IReadOnlyList<StreamTrace> traces, (float[] Centres, long[] Counts, int Labels, int FeatureLength, FeatureStandardisation? Standardisation) warm,
        int? window, int delay, SchedulerCalibration calibration, double[] budget, StreamCalibrationOptions options)
    {
        var link = Link(options);
        for (int k = 0; k < traces.Count; k++)
        {
            if (Simulate(traces[k], warm, window, delay, calibration, link: link).ExitLoss > options.ExitShare * budget[k])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Evenly spaced ranks of the separabilities (or resemblances) of the frames the loop sends, above <paramref name="floor"/>, highest first.</summary>
    private static List<double> Candidates(IReadOnlyList<StreamTrace> traces, (float[] Centres, long[] Counts, int Labels, int FeatureLength, FeatureStandardisation? Standardisation) warm,
        int? window, int delay, SchedulerCalibration calibration, double floor, int count, bool resemblances = false, (TransferCostModel, double)? link = null)
    {
        var values = new List<double>();
        foreach (var trace in traces)
        {
            Simulate(trace, warm, window, delay, calibration, resemblances ? null : values, resemblances ? values : null, link);
        }

        values.RemoveAll(v => !(v > floor));
        values.Sort((a, b) => b.CompareTo(a));
        var picked = new List<double>();
        for (int k = 1; k <= count && values.Count > 0; k++)
        {
            // Threshold at a frame's own S: that frame and every lower one stay below (eq. 10 needs S > S_ext).
            // Fewer values than candidates: the first ranks round down to index −1, so clamp at the highest S.
            double t = values[Math.Clamp((int)((long)k * values.Count / count) - 1, 0, values.Count - 1)];
            if (picked.Count == 0 || t < picked[^1])
            {
                picked.Add(t);
            }
        }

        return picked;
    }

    private static (TransferCostModel, double)? Link(StreamCalibrationOptions options) =>
        options.CostModel is { } cost ? (cost, options.BandwidthBytesPerSecond) : null;

    /// <summary>Frames the plan's bits lose against the full model on a recorded stream (net; negative: gained).</summary>
    public static int PlanLoss(StreamTrace trace, int planBits)
    {
        ArgumentNullException.ThrowIfNull(trace);
        var atPlan = trace.LabelAtBits[planBits];
        int loss = 0;
        for (int i = 0; i < trace.Count; i++)
        {
            loss += (trace.FullLabels[i] == trace.Truth[i] ? 1 : 0) - (atPlan[i] == trace.Truth[i] ? 1 : 0);
        }

        return loss;
    }

    private static int IndexOfHighest(IReadOnlyList<StreamTrace> traces)
    {
        int index = 0;
        for (int k = 0; k < traces.Count; k++)
        {
            if (traces[k].Correlation > traces[index].Correlation)
            {
                index = k;
            }
        }

        return index;
    }
}
