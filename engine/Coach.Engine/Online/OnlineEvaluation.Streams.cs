using Coach.Engine.Data;

namespace Coach.Engine.Online;

/// <summary>The stream half of <see cref="OnlineEvaluation"/>'s calibration: simulated correlated streams, the fit on them, warm centres.</summary>
public sealed partial class OnlineEvaluation
{
    /// <summary>The decay window W the streams run with (fitted by the stream calibration unless given).</summary>
    public int? CentreWindow { get; private set; }

    /// <summary>What the stream calibration chose (null when it is off).</summary>
    public StreamCalibrationResult? StreamFit { get; private set; }

    /// <summary>
    /// Records low/medium/high streams built from the calibration frames through head and tail (full model and every bit
    /// width), then fits S_ext, S_adj and W on the edge's loop over them; the per-sample fit stays as the reference statistics.
    /// </summary>
    private void FitOnStreams(ILabelledFrames calibrationFrames, SchedulerCalibration calibration, int[] fullLabels, Dictionary<int, int[]> labelAtBits)
    {
        // Cross-fitted: the centres are warmed from the first half of the calibration frames and the streams are built
        // from the second half, so an exit is judged on samples the centres never saw — as on the edge, where every
        // frame is new.
        bool crossFit = calibrationFrames.Count >= 2;
        int warmCount = crossFit ? calibrationFrames.Count / 2 : calibrationFrames.Count;
        var traces = new List<StreamTrace>();
        SemanticCache warm;
        if (calibrationFrames is FrameSet set)
        {
            FrameSet streamFrames = crossFit ? set.Range(warmCount, set.Count - warmCount, set.Split, set.Source + " (second half)") : set;
            foreach (var level in new[] { StreamCorrelation.Low, StreamCorrelation.Medium, StreamCorrelation.High })
            {
                traces.Add(Record(TaskStream.Create(streamFrames, level, _options.StreamCalibrationFrames, _options.StreamRunLength, _options.StreamSeed)));
            }

            warm = WarmCentres(warmCount);
        }
        else
        {
            // Decoded frames (images, video) come in folder or time order, class by class: the centres are warmed from the
            // even frames and the streams drawn from the odd ones, so both halves hold every class and the odd frames keep
            // the order's correlation. The streams reuse what Calibrate recorded per frame (SampleStreams).
            int[] even = [.. Enumerable.Range(0, calibrationFrames.Count).Where(i => !crossFit || i % 2 == 0)];
            int[] odd = crossFit ? [.. Enumerable.Range(0, calibrationFrames.Count).Where(i => i % 2 == 1)] : even;
            foreach (var level in new[] { StreamCorrelation.Low, StreamCorrelation.Medium, StreamCorrelation.High })
            {
                traces.Add(SampleStreams.Build(level, CalibrationFeatures, _featureLength, CalibrationLabels, fullLabels, labelAtBits,
                    odd, _options.StreamCalibrationFrames, _options.StreamRunLength, _options.StreamSeed));
            }

            warm = WarmCentres(even);
        }

        var fit = StreamCalibrator.Fit(traces, warm, new StreamCalibrationOptions
        {
            Epsilon = _options.Epsilon,
            BudgetShare = _options.BudgetShare,
            ExitShare = _options.ExitShare,
            PlanBits = _options.PlanBits,
            MinBits = _options.MinBits,
            MaxBits = _options.MaxBits,
            FeedbackDelayFrames = Math.Max(0, _options.FeedbackDelayFrames),
            WindowCandidates = _options.CentreWindow is int fixedWindow ? [fixedWindow] : _options.CentreWindowCandidates,
            FitReuse = _options.TemporalReuse,
            CostModel = new TransferCostModel(EdgeSeconds, CloudSeconds, _lengths, _ranks),
            BandwidthBytesPerSecond = _options.BandwidthBytesPerSecond,
        });
        calibration.ExitThreshold = fit.ExitThreshold;
        calibration.ReuseThreshold = fit.ReuseThreshold;
        calibration.BitThresholds = fit.BitThresholds;
        calibration.StreamLevels = fit.Levels;
        calibration.CloudAgreementFrames = fit.CloudAgreementFrames;
        calibration.MaxConsecutiveExits = fit.MaxConsecutiveExits;
        CentreWindow = fit.Window;
        StreamFit = fit;
    }

    /// <summary>One stream through the head (task feature) and the tail (full model and every bit width).</summary>
    public StreamTrace Record(TaskStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        int n = stream.Count;
        var frame = new float[_model.FrameLength];
        var cut = new float[_cutLength];
        var restored = new float[_cutLength];
        var features = new float[n * _featureLength];
        var truth = new int[n];
        var full = new int[n];
        var atBits = new Dictionary<int, int[]>();
        for (int b = _options.MinBits; b <= _options.PlanBits; b++)
        {
            atBits[b] = new int[n];
        }

        for (int i = 0; i < n; i++)
        {
            stream.RenderFrame(i, frame);
            truth[i] = stream.Label(i);
            _model.RunHead(frame, cut);
            TaskFeature.BandPool(cut, _lengths, _channels, _options.FeatureBands, features.AsSpan(i * _featureLength, _featureLength));
            full[i] = _model.RunTail(cut);
            for (int b = _options.MinBits; b <= _options.PlanBits; b++)
            {
                RoundTripCut(cut, b, restored);
                atBits[b][i] = _model.RunTail(restored);
            }
        }

        return new StreamTrace(stream.Correlation, features, truth, full, atBits);
    }

    /// <summary>The label semantic centres warmed on the calibration features: the exact mean per label (eq. 7 without decay).</summary>
    public SemanticCache WarmCentres() => WarmCentres(CalibrationLabels.Length);

    /// <summary>Centres warmed from the first <paramref name="samples"/> calibration samples only.</summary>
    private SemanticCache WarmCentres(int samples)
    {
        if (Calibration is null)
        {
            throw new InvalidOperationException("Calibrate before warming the centres.");
        }

        var cache = new SemanticCache(LabelCount, _featureLength, null, _standardisation);
        cache.Warm(CalibrationFeatures.AsSpan(0, samples * _featureLength), CalibrationLabels.AsSpan(0, samples));
        return cache;
    }

    /// <summary>Centres warmed from the calibration samples <paramref name="samples"/> only.</summary>
    private SemanticCache WarmCentres(int[] samples)
    {
        var features = new float[samples.Length * _featureLength];
        var labels = new int[samples.Length];
        for (int k = 0; k < samples.Length; k++)
        {
            CalibrationFeatures.AsSpan(samples[k] * _featureLength, _featureLength).CopyTo(features.AsSpan(k * _featureLength));
            labels[k] = CalibrationLabels[samples[k]];
        }

        var cache = new SemanticCache(LabelCount, _featureLength, null, _standardisation);
        cache.Warm(features, labels);
        return cache;
    }
}
