using System.Diagnostics;
using Coach.Engine.Data;
using Coach.Engine.DataPlane;

namespace Coach.Engine.Online;

/// <summary>Settings of <see cref="OnlineEvaluation"/>.</summary>
public sealed record OnlineEvaluationOptions : CalibrationBudget
{
    /// <summary>Decay window W of the semantic centres on the stream; null: chosen by the stream calibration from
    /// <see cref="CentreWindowCandidates"/> (the exact running mean of eq. 7 when stream calibration is off).</summary>
    public int? CentreWindow { get; init; }

    /// <summary>Windows the stream calibration chooses W from (null: the exact running mean of eq. 7).</summary>
    public IReadOnlyList<int?> CentreWindowCandidates { get; init; } = [4, 8, 16, 32, null];

    /// <summary>Frames between sending a frame and learning its label from the cloud (pipeline depth).</summary>
    public int FeedbackDelayFrames { get; init; } = 4;

    /// <summary>Fit S_ext, S_adj and W on simulated low/medium/high streams over the calibration split (<see cref="StreamCalibrator"/>).</summary>
    public bool StreamCalibration { get; init; } = true;

    /// <summary>Frames per simulated calibration stream (one per correlation level).</summary>
    public int StreamCalibrationFrames { get; init; } = 3000;

    /// <summary>Frames per run of one class (medium) or one sample (high) in the simulated streams: 1 s of 30 fps video.</summary>
    public int StreamRunLength { get; init; } = 30;

    /// <summary>Seed of the simulated calibration streams.</summary>
    public int StreamSeed { get; init; } = 1009;

    /// <summary>Uplink bandwidth B̂ in bytes per second (fed to the estimator as the prior and as every sample).</summary>
    public double BandwidthBytesPerSecond { get; init; } = 10e6 / 8;

    /// <summary>T_e and T_c; measured from the head and tail runs of the calibration when null.</summary>
    public double? EdgeSeconds { get; init; }

    public double? CloudSeconds { get; init; }

    /// <summary>Bands each cut tensor's channels are pooled over (<see cref="TaskFeature.BandPool(ReadOnlySpan{float}, int, int, Span{float})"/>); 1 is the paper's GAP.</summary>
    public int FeatureBands { get; init; } = 4;

    /// <summary>Compare standardised task features (<see cref="FeatureStandardisation"/>, fitted on the calibration features) instead of raw GAP vectors.</summary>
    public bool StandardiseFeatures { get; init; } = true;

    /// <summary>Fit the temporal-reuse threshold (<see cref="SchedulerCalibration.ReuseThreshold"/>) on the simulated streams.</summary>
    public bool TemporalReuse { get; init; } = true;
}

/// <summary>One stream's outcome.</summary>
/// <param name="EarlyExitRatio">EER: share of frames answered on the edge.</param>
/// <param name="Accuracy">Share of frames whose answer (edge or cloud) equals the ground-truth label.</param>
/// <param name="FullModelAccuracy">The same for the full model, unsplit and unquantized, on the same frames.</param>
/// <param name="AgreementWithFullModel">Share of frames answered exactly as the full model answers them.</param>
/// <param name="MeanBytesPerFrame">Bytes sent per frame (0 for an early exit), header included.</param>
/// <param name="MeanBitsSent">Mean Q_c over the frames that were sent.</param>
/// <param name="LossFromExits">Accuracy lost against the full model on the frames that exited early (share of all frames).</param>
/// <param name="LossFromBits">Accuracy lost against the full model on the frames sent at Q_c bits (share of all frames).</param>
/// <param name="LossStandardError">Standard error of <see cref="AccuracyLoss"/>, paired with the full model and clustered by
/// the stream's runs: the frames of one run show one sample, so a run, not a frame, is the independent unit.</param>
public sealed record StreamEvaluation(StreamCorrelation Correlation, int Frames, double EarlyExitRatio, double Accuracy,
    double FullModelAccuracy, double AgreementWithFullModel, double MeanBytesPerFrame, double MeanBitsSent,
    double LossFromExits = 0, double LossFromBits = 0, double LossStandardError = 0)
{
    /// <summary>Accuracy lost against the full model (negative: gained).</summary>
    public double AccuracyLoss => FullModelAccuracy - Accuracy;
}

/// <summary>
/// Runs the online component end to end on a split model: calibration on the calibration set (features, full-model and
/// per-bit-width correctness → S_ext, S_adj), then each correlated stream frame by frame: head → task feature → decision →
/// (early exit) or (UAQ pack at Q_c → unpack → tail), with the semantic centres learning the cloud's labels.
/// </summary>
public sealed partial class OnlineEvaluation
{
    private readonly ISplitInference _model;
    private readonly OnlineEvaluationOptions _options;
    private readonly int[] _channels;
    private readonly int[] _lengths;
    private readonly int[] _ranks;
    private readonly int _cutLength;
    private readonly int _featureLength;
    private FeatureStandardisation? _standardisation;

    public OnlineEvaluation(ISplitInference model, OnlineEvaluationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        _options = options ?? new OnlineEvaluationOptions();
        _channels = [.. model.CutTensors.Select(t => t.Channels)];
        _lengths = [.. model.CutTensors.Select(t => t.Length)];
        _ranks = [.. model.CutTensors.Select(t => t.Rank)];
        _cutLength = _lengths.Sum();
        if (_options.FeatureBands < 1 || model.CutTensors.Any(t => t.Length / Math.Max(1, t.Channels) < _options.FeatureBands))
        {
            throw new ArgumentException($"FeatureBands must be between 1 and the H×W values of every cut tensor; got {_options.FeatureBands}.", nameof(options));
        }

        _featureLength = _channels.Sum() * _options.FeatureBands;
    }

    public SchedulerCalibration? Calibration { get; private set; }

    /// <summary>Calibration features (row-major) and ground-truth labels, kept to warm the centres of every stream.</summary>
    public float[] CalibrationFeatures { get; private set; } = [];

    public int[] CalibrationLabels { get; private set; } = [];

    public int LabelCount { get; private set; }

    public double EdgeSeconds { get; private set; }

    public double CloudSeconds { get; private set; }

    /// <summary>Step 1: per calibration sample, the task feature, the full model's correctness and correctness at every bit width.</summary>
    /// <remarks>
    /// The number of labels is the tail's class dimension (<see cref="ModelOutputKind.Classes"/>: 10 for the bundled models,
    /// 1000 for an ImageNet model), else the frames' class names. Any frames will do: the bundled set, or the user's images or
    /// video labelled by the full model's top-1 (label-free, docs/data.md).
    /// </remarks>
    public SchedulerCalibration Calibrate(ILabelledFrames calibrationFrames, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(calibrationFrames);
        int n = calibrationFrames.Count;
        LabelCount = ModelOutputKind.Classes(_model.OutputShape) ?? calibrationFrames.ClassNames.Count;
        if (LabelCount < 2)
        {
            throw new ArgumentException($"the semantic cache needs at least 2 labels; the tail's output is [{string.Join(", ", _model.OutputShape ?? [])}] and the frames name {calibrationFrames.ClassNames.Count} classes", nameof(calibrationFrames));
        }

        var frame = new float[_model.FrameLength];
        var cut = new float[_cutLength];
        var restored = new float[_cutLength];
        var features = new float[n * _featureLength];
        var labels = new int[n];
        var full = new bool[n];
        var fullLabels = new int[n];
        var correct = new Dictionary<int, bool[]>();
        var labelAtBits = new Dictionary<int, int[]>();
        for (int b = _options.MinBits; b <= _options.PlanBits; b++)
        {
            correct[b] = new bool[n];
            labelAtBits[b] = new int[n];
        }

        long headTicks = 0;
        long tailTicks = 0;
        for (int i = 0; i < n; i++)
        {
            calibrationFrames.RenderFrame(i, frame);
            labels[i] = calibrationFrames.Label(i);
            if ((uint)labels[i] >= (uint)LabelCount)
            {
                throw new ArgumentException($"calibration frame {i} of {calibrationFrames.Source} has label {labels[i]}, outside the model's {LabelCount} classes; unlabelled frames need labels first (label-free: the full model's top-1, docs/data.md)", nameof(calibrationFrames));
            }

            long t0 = Stopwatch.GetTimestamp();
            _model.RunHead(frame, cut);
            long t1 = Stopwatch.GetTimestamp();
            TaskFeature.BandPool(cut, _lengths, _channels, _options.FeatureBands, features.AsSpan(i * _featureLength, _featureLength));
            fullLabels[i] = _model.RunTail(cut);
            full[i] = fullLabels[i] == labels[i];
            tailTicks += Stopwatch.GetTimestamp() - t1;
            headTicks += t1 - t0;
            for (int b = _options.MinBits; b <= _options.PlanBits; b++)
            {
                RoundTripCut(cut, b, restored);
                labelAtBits[b][i] = _model.RunTail(restored);
                correct[b][i] = labelAtBits[b][i] == labels[i];
            }

            progress?.Invoke(i + 1, n);
        }

        EdgeSeconds = _options.EdgeSeconds ?? (double)headTicks / Stopwatch.Frequency / Math.Max(1, n);
        CloudSeconds = _options.CloudSeconds ?? (double)tailTicks / Stopwatch.Frequency / Math.Max(1, n);
        CalibrationFeatures = features;
        CalibrationLabels = labels;
        _standardisation = _options.StandardiseFeatures ? FeatureStandardisation.Fit(features, _featureLength) : null;
        Calibration = SchedulerCalibrator.Calibrate(
            new CalibrationSamples(Standardised(features), labels, LabelCount, full, correct) { Standardised = _standardisation is not null },
            new SchedulerCalibrationOptions
            {
                Epsilon = _options.Epsilon,
                BudgetShare = _options.BudgetShare,
                PlanBits = _options.PlanBits,
                MinBits = _options.MinBits,
                MaxBits = _options.MaxBits,
            });
        CentreWindow = _options.CentreWindow;
        if (_options.StreamCalibration)
        {
            FitOnStreams(calibrationFrames, Calibration, fullLabels, labelAtBits);
        }

        return Calibration;
    }

    /// <summary>Step 2: one stream, frame by frame, with centres warmed from the calibration features.</summary>
    public StreamEvaluation Run(TaskStream stream, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var calibration = Calibration ?? throw new InvalidOperationException("Calibrate before running a stream.");
        // Warm centres are the exact calibration means (what scheduler.json stores); the window applies from the first stream update.
        var cache = new SemanticCache(LabelCount, _featureLength, CentreWindow, _standardisation);
        var warm = WarmCentres();
        var centres = new float[LabelCount * _featureLength];
        var counts = new long[LabelCount];
        warm.CopyTo(centres, counts);
        cache.Restore(centres, counts);
        var bandwidth = new BandwidthEstimator(16, _options.BandwidthBytesPerSecond);
        var cost = new TransferCostModel(EdgeSeconds, CloudSeconds, _lengths, _ranks);
        var scheduler = new OnlineScheduler(cache, calibration, cost, bandwidth);

        var frame = new float[_model.FrameLength];
        var cut = new float[_cutLength];
        var restored = new float[_cutLength];
        var feature = new float[_featureLength];
        var packed = new byte[Uaq.PackedByteCount(_cutLength, 8) + _lengths.Length];
        var parameters = new QuantizationParameters[_lengths.Length];
        int delay = Math.Max(0, _options.FeedbackDelayFrames);
        var pendingFeatures = new float[delay + 1][];
        var pendingLabels = new int[delay + 1];
        var pendingFrame = new int[delay + 1];
        for (int k = 0; k <= delay; k++)
        {
            pendingFeatures[k] = new float[_featureLength];
            pendingFrame[k] = -1;
        }

        int exits = 0, correct = 0, fullCorrect = 0, agree = 0, sent = 0, exitLoss = 0, bitsLoss = 0;
        long bytes = 0, bitSum = 0;
        int runLength = Math.Max(1, stream.RunLength);
        var lostPerRun = new int[(stream.Count + runLength - 1) / runLength];
        for (int i = 0; i < stream.Count; i++)
        {
            // Cloud answers arrive `delay` frames after they were sent (eq. 7 update with the returned label).
            int slot = i % (delay + 1);
            if (pendingFrame[slot] >= 0)
            {
                scheduler.Learn(pendingLabels[slot], pendingFeatures[slot]);
                pendingFrame[slot] = -1;
            }

            stream.RenderFrame(i, frame);
            int truth = stream.Label(i);
            _model.RunHead(frame, cut);
            TaskFeature.BandPool(cut, _lengths, _channels, _options.FeatureBands, feature);
            var decision = scheduler.Decide(feature);
            int fullLabel = _model.RunTail(cut);
            int answer;
            if (decision.EarlyExit)
            {
                answer = decision.Label; // eq. 10
                exits++;
            }
            else
            {
                int frameBytes = PackUnpack(cut, decision.Bits, packed, parameters, restored);
                answer = _model.RunTail(restored);
                bytes += frameBytes + cost.HeaderBytesPerFrame;
                bitSum += decision.Bits;
                sent++;
                bandwidth.AddSample(frameBytes + cost.HeaderBytesPerFrame, (frameBytes + cost.HeaderBytesPerFrame) / _options.BandwidthBytesPerSecond);
                feature.CopyTo(pendingFeatures[slot]);
                pendingLabels[slot] = answer;
                pendingFrame[slot] = i;
            }

            correct += answer == truth ? 1 : 0;
            int lost = (fullLabel == truth ? 1 : 0) - (answer == truth ? 1 : 0);
            exitLoss += decision.EarlyExit ? lost : 0;
            bitsLoss += decision.EarlyExit ? 0 : lost;
            lostPerRun[i / runLength] += lost;
            fullCorrect += fullLabel == truth ? 1 : 0;
            agree += answer == fullLabel ? 1 : 0;
            progress?.Invoke(i + 1, stream.Count);
        }

        double frames = Math.Max(1, stream.Count);
        return new StreamEvaluation(stream.Correlation, stream.Count, exits / frames, correct / frames, fullCorrect / frames,
            agree / frames, bytes / frames, sent == 0 ? 0 : (double)bitSum / sent, exitLoss / frames, bitsLoss / frames,
            ClusteredStandardError(lostPerRun, runLength, stream.Count));
    }

    // The cluster-robust standard error of a mean of per-frame differences, with runs as clusters:
    // sqrt(R/(R−1) · Σ_r (D_r − n_r·d̄)²) / N, where D_r is run r's summed difference and d̄ the overall mean.
    private static double ClusteredStandardError(int[] lostPerRun, int runLength, int frames)
    {
        int runs = lostPerRun.Length;
        if (runs < 2 || frames == 0)
        {
            return 0;
        }
        double mean = lostPerRun.Sum() / (double)frames;
        double sum = 0;
        for (int r = 0; r < runs; r++)
        {
            int n = Math.Min(runLength, frames - r * runLength);
            double deviation = lostPerRun[r] - n * mean;
            sum += deviation * deviation;
        }
        return Math.Sqrt(runs / (runs - 1.0) * sum) / frames;
    }

    /// <summary>The feature standardisation fitted on the calibration features (null when off or before calibration).</summary>
    public FeatureStandardisation? Standardisation => _standardisation;

    private float[] Standardised(float[] features)
    {
        if (_standardisation is null)
        {
            return features;
        }

        var result = new float[features.Length];
        for (int offset = 0; offset < features.Length; offset += _featureLength)
        {
            _standardisation.Apply(features.AsSpan(offset, _featureLength), result.AsSpan(offset, _featureLength));
        }

        return result;
    }

    /// <summary>The calibration and warm centres as the edge loads them (<c>scheduler.json</c>).</summary>
    public SchedulerState CreateState(string calibrationSource)
    {
        var calibration = Calibration ?? throw new InvalidOperationException("Calibrate before creating the scheduler state.");
        var state = SchedulerState.Create(calibration, WarmCentres(), [.. _model.CutTensors.Select(t => new SchedulerCutTensor(t.Name, t.Channels))], CentreWindow, _options.FeatureBands);
        if (StreamFit is not null)
        {
            state.FeedbackDelayFrames = StreamFit.FeedbackDelayFrames;
            state.StreamRunLength = _options.StreamRunLength;
        }

        state.CalibrationEdgeMs = EdgeSeconds * 1e3;
        state.CalibrationCloudMs = CloudSeconds * 1e3;
        state.CalibrationSource = calibrationSource;
        return state;
    }

    /// <summary>Per cut tensor: fit, quantize and pack at <paramref name="bits"/>, then unpack and dequantize, as edge and cloud do.</summary>
    private int PackUnpack(ReadOnlySpan<float> cut, int bits, Span<byte> packed, Span<QuantizationParameters> parameters, Span<float> restored)
    {
        int offset = 0;
        int written = 0;
        for (int k = 0; k < _lengths.Length; k++)
        {
            var tensor = cut.Slice(offset, _lengths[k]);
            int size = Uaq.PackedByteCount(tensor.Length, bits);
            parameters[k] = Uaq.QuantizePack(tensor, bits, packed.Slice(written, size));
            Uaq.UnpackDequantize(packed.Slice(written, size), parameters[k], restored.Slice(offset, _lengths[k]));
            written += size;
            offset += _lengths[k];
        }

        return written;
    }

    private void RoundTripCut(ReadOnlySpan<float> cut, int bits, Span<float> restored)
    {
        int offset = 0;
        foreach (int length in _lengths)
        {
            Uaq.RoundTrip(cut.Slice(offset, length), bits, restored.Slice(offset, length));
            offset += length;
        }
    }
}
