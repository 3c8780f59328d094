namespace Coach.Engine.Online;

/// <summary>What the edge does with one frame.</summary>
/// <param name="EarlyExit">True: answer <see cref="Label"/> on the edge and send nothing (eq. 10).</param>
/// <param name="Label">argmax_j t_j, the label of the nearest semantic centre (the answer when <see cref="EarlyExit"/>).</param>
/// <param name="Bits">Q_c, the bit width to send the cut tensors with (eq. 11); 0 when the frame exits early.</param>
/// <param name="Separability">S of eq. 9.</param>
/// <param name="MinimumBits">Q_r, the minimum safe bits that S allowed.</param>
/// <param name="Resemblance">Cosine of the standardised feature with the last cloud-answered frame's (−1 before any answer).</param>
/// <param name="Reused">The frame exited by temporal reuse (<see cref="SchedulerCalibration.ReuseThreshold"/>), not by S_ext.</param>
public readonly record struct SchedulerDecision(bool EarlyExit, int Label, int Bits, float Separability, int MinimumBits, float Resemblance = -1f, bool Reused = false);

/// <summary>
/// The online component of COACH (paper §III-C, docs/online.md): per frame, the task feature's similarities to the label
/// semantic centres give the separability S; S above S_ext exits early, otherwise S picks the minimum safe bits Q_r and eq. 11
/// the bits Q_c for the live bandwidth. Allocation-free per frame; one instance per edge pipeline (not thread-safe, except the
/// <see cref="BandwidthEstimator"/> it reads).
/// </summary>
public sealed class OnlineScheduler
{
    private readonly float[] _feature;
    private readonly float[] _similarities;
    private readonly float[] _reference;
    private readonly float[] _standardised;
    private float _referenceNorm;
    private int _lastCloudLabel = -1;
    private int _lastCloudLabelRepeats;
    private int _consecutiveExits;

    public OnlineScheduler(SemanticCache cache, SchedulerCalibration calibration, TransferCostModel costModel, BandwidthEstimator bandwidth)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(calibration);
        ArgumentNullException.ThrowIfNull(costModel);
        ArgumentNullException.ThrowIfNull(bandwidth);
        calibration.Validate();
        Cache = cache;
        Calibration = calibration;
        CostModel = costModel;
        Bandwidth = bandwidth;
        _feature = new float[cache.FeatureLength];
        _similarities = new float[cache.LabelCount];
        _reference = new float[cache.FeatureLength];
        _standardised = new float[cache.FeatureLength];
    }

    public SemanticCache Cache { get; }

    public SchedulerCalibration Calibration { get; }

    public TransferCostModel CostModel { get; }

    public BandwidthEstimator Bandwidth { get; }

    /// <summary>
    /// T_e as measured on this edge (e.g. a running mean of the head's times); when set, eq. 11 uses it instead of the plan's
    /// <see cref="TransferCostModel.EdgeSeconds"/>, so the bits follow the device the head really runs on.
    /// </summary>
    public double? LiveEdgeSeconds { get; set; }

    /// <summary>
    /// The queueing the cloud reports in its Results (smoothed, <see cref="CloudLoadFeedback"/>): eq. 11 takes
    /// <c>T_c + CloudQueueSeconds</c> as the cloud stage's time, so a loaded cloud widens the bubble the bits may fill
    /// rather than the edge sending faster than the cloud answers. 0 (the default) is the plan's T_c alone.
    /// </summary>
    public double CloudQueueSeconds { get; set; }

    /// <summary>T_c as eq. 11 takes it now: the plan's tail time plus the cloud's reported queueing.</summary>
    public double LiveCloudSeconds => CostModel.CloudSeconds + Math.Max(0, CloudQueueSeconds);

    /// <summary>
    /// Whether frames are queueing for the edge (true, the default, when frames are offered as fast as the pipeline takes
    /// them). Eq. 11 raises the bits above Q_r to fill the bubble of a saturated pipeline, where they cost no throughput;
    /// when frames arrive slower than the pipeline's period there is no bubble to fill, and every bit above Q_r only adds
    /// transmission time to the frame's latency, so Q_c is Q_r.
    /// </summary>
    public bool Saturated { get; set; } = true;

    /// <summary>The task feature of the last <see cref="DecideFromCutTensor"/> call (valid until the next call).</summary>
    public ReadOnlySpan<float> LastFeature => _feature;

    /// <summary>The similarities t_j of the last decision.</summary>
    public ReadOnlySpan<float> LastSimilarities => _similarities;

    /// <summary>GAP of a single [C, H, W] cut tensor, then <see cref="Decide"/>.</summary>
    public SchedulerDecision DecideFromCutTensor(ReadOnlySpan<float> cutTensor, int channels)
    {
        TaskFeature.GlobalAveragePool(cutTensor, channels, _feature);
        return Decide(_feature);
    }

    /// <summary>Decision for a task feature F (eqs. 8–11).</summary>
    public SchedulerDecision Decide(ReadOnlySpan<float> feature)
    {
        Cache.Similarities(feature, _similarities); // eq. 8
        float s = Separability.Compute(_similarities, out int label); // eqs. 9, 10
        float resemblance = Resemblance(feature);
        bool exitAllowed = Calibration.MaxConsecutiveExits is not int most || _consecutiveExits < most;
        // Both exits answer with what the cloud has been saying: the last CloudAgreementFrames answers must agree, so one
        // answer that quantization flipped on a borderline frame is not copied over the rest of the run.
        bool cloudSettled = Calibration.CloudAgreementFrames == 0 || _lastCloudLabelRepeats >= Calibration.CloudAgreementFrames;
        if (exitAllowed && cloudSettled && Calibration.ExitThreshold is double exit && s > exit
            && (Calibration.CloudAgreementFrames == 0 || label == _lastCloudLabel))
        {
            _consecutiveExits++;
            return new SchedulerDecision(true, label, 0, s, 0, resemblance);
        }

        if (exitAllowed && cloudSettled && Calibration.ReuseThreshold is double reuse && resemblance > reuse)
        {
            _consecutiveExits++;
            return new SchedulerDecision(true, _lastCloudLabel, 0, s, 0, resemblance, Reused: true);
        }

        _consecutiveExits = 0;

        int minimum = Calibration.MinimumBits(s);
        double computeBottleneck = Math.Max(LiveEdgeSeconds ?? CostModel.EdgeSeconds, LiveCloudSeconds);
        int bits = Saturated ? ChooseBits(minimum, Calibration.MaxBits, CostModel, Bandwidth.BytesPerSecond, computeBottleneck) : minimum;
        return new SchedulerDecision(false, label, bits, s, minimum, resemblance);
    }

    /// <summary>Cosine of <paramref name="feature"/> (standardised as the centres see it) with the last cloud-answered frame's; −1 before any answer.</summary>
    public float Resemblance(ReadOnlySpan<float> feature)
    {
        if (_lastCloudLabel < 0 || _referenceNorm <= 0f)
        {
            return -1f;
        }

        Cache.Standardise(feature, _standardised);
        float norm = MathF.Sqrt(TaskFeature.Dot(_standardised, _standardised));
        return norm <= 0f ? -1f : Math.Clamp(TaskFeature.Dot(_standardised, _reference) / (norm * _referenceNorm), -1f, 1f);
    }

    /// <summary>Eq. 7 with the label the cloud returned for a frame whose feature the caller kept.</summary>
    public void Learn(int label, ReadOnlySpan<float> feature)
    {
        Cache.Update(label, feature);
        Cache.Standardise(feature, _reference);
        _referenceNorm = MathF.Sqrt(TaskFeature.Dot(_reference, _reference));
        _lastCloudLabelRepeats = label == _lastCloudLabel ? _lastCloudLabelRepeats + 1 : 1;
        _lastCloudLabel = label;
    }

    /// <summary>The label the cloud returned last (−1 before the first answer); the exit guard of <see cref="SchedulerCalibration.CloudAgreementFrames"/> compares with it.</summary>
    public int LastCloudLabel => _lastCloudLabel;

    /// <summary>Eq. 11 online (<see cref="BubbleFillingBits"/>): Q_c from Q_r up to <paramref name="maximumBits"/> for bandwidth B̂.</summary>
    public static int ChooseBits(int minimumBits, int maximumBits, TransferCostModel costModel, double bytesPerSecond)
    {
        ArgumentNullException.ThrowIfNull(costModel);
        return ChooseBits(minimumBits, maximumBits, costModel, bytesPerSecond, Math.Max(costModel.EdgeSeconds, costModel.CloudSeconds));
    }

    /// <summary>Eq. 11 with the compute bottleneck <c>max{T_e, T_c}</c> given explicitly (e.g. a live T_e).</summary>
    public static int ChooseBits(int minimumBits, int maximumBits, TransferCostModel costModel, double bytesPerSecond, double computeBottleneck)
    {
        ArgumentNullException.ThrowIfNull(costModel);
        var link = new LinkAtBandwidth(costModel, bytesPerSecond);
        return BubbleFillingBits.Choose(minimumBits, BubbleFillingBits.UaqWidthsUpTo(maximumBits), computeBottleneck, ref link);
    }

    /// <summary>T'_t(Q, B̂) of the plan's cut at the live bandwidth estimate; no T_max online.</summary>
    private readonly struct LinkAtBandwidth(TransferCostModel costModel, double bytesPerSecond) : ITransmissionAtBits
    {
        public double TransmissionSeconds(int bits) => costModel.TransmissionSeconds(bits, bytesPerSecond);

        public bool Admits(int bits) => true;
    }
}
