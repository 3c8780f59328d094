using Coach.Engine.Online;
using Coach.Engine.Planning;
using Coach.Native.OnnxRuntime;

namespace Coach.Transport.Edge;

/// <summary>
/// The COACH online component on the edge (paper §III-C, docs/online.md) as the pipeline's scheduling stage: per frame the
/// task feature (GAP of each cut tensor), its similarities to the label semantic centres and the separability S; S above
/// S_ext answers the frame on the edge with the nearest centre's label (eq. 10), otherwise the frame is sent with the bits of
/// eq. 11 from the live bandwidth estimate and the stage times. The centre of the label the cloud returns for a frame is
/// updated with that frame's feature (eq. 7), whenever the answer arrives.
/// </summary>
/// <remarks>
/// Starts from <c>scheduler.json</c> (<see cref="SchedulerState"/>, written by <c>coach calibrate-online</c>): thresholds and
/// warm centres. T_c and the prior bandwidth come from plan.json; T_e is the running mean of the head times this edge
/// measures (the plan's T_e until the first frame). Single-threaded like the pipeline's schedule stage, which also delivers
/// <see cref="OnCloudLabel"/> and <see cref="OnTransferSample"/>; allocates nothing per frame. A state in
/// <see cref="SchedulerState.AdaptiveBitsMode"/> (a model whose output is not class scores) runs eq. 11 alone: every frame
/// is sent, at Q_c between the plan's safe floor and 8 bits; there is no cache to learn and nothing exits early.
/// </remarks>
public sealed class OnlineFrameScheduler : IFrameScheduler
{
    /// <summary>Weight of a new head time in the running mean of T_e.</summary>
    private const double EdgeTimeWeight = 1.0 / 16;

    private readonly OnlineScheduler? _scheduler;
    private readonly SchedulerCalibration _calibration;
    private readonly TransferCostModel _cost;
    private readonly PendingFeatures? _pending;
    private readonly int[] _channels;
    private readonly float[] _feature;
    private readonly int _bands;
    private double _edgeSeconds;
    private double _cloudQueueSeconds;
    private long _bitSum;
    private bool _saturated = true;

    /// <param name="plan">The plan directory the pipeline runs.</param>
    /// <param name="state">Its <c>scheduler.json</c>.</param>
    /// <param name="pendingCapacity">Frames that can await the cloud's answer at once (pipeline slots + requests in flight), with room to spare.</param>
    /// <param name="bandwidthWindow">Transfer samples the bandwidth estimate B̂ averages over.</param>
    public OnlineFrameScheduler(PlanDirectory plan, SchedulerState state, int pendingCapacity = 1024, int bandwidthWindow = 16)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(state);
        state.Validate();
        if (plan.IsEdgeOnly || plan.IsCloudOnly)
        {
            throw new InvalidDataException($"{plan} is {(plan.IsEdgeOnly ? "edge-only" : "cloud-only")}: the online scheduler needs a cut inside the model; use --scheduler fixed");
        }

        if (state.TailSha256.Length > 0 && !string.Equals(state.TailSha256, plan.PlanHashHex, StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidDataException($"{SchedulerState.FileName} of {plan} was calibrated for tail {state.TailSha256[..12]}…, but the plan's tail.onnx is {plan.PlanHashHex[..12]}…; rerun `coach calibrate-online --plan {plan.DirectoryPath}`");
        }

        if (state.CutTensors.Count != plan.CutTensors.Count)
        {
            throw new InvalidDataException($"{SchedulerState.FileName} pools {state.CutTensors.Count} cut tensors but {plan} has {plan.CutTensors.Count}; rerun `coach calibrate-online`");
        }

        _channels = new int[plan.CutTensors.Count];
        var lengths = new int[plan.CutTensors.Count];
        var ranks = new int[plan.CutTensors.Count];
        for (int k = 0; k < _channels.Length; k++)
        {
            CutTensorSpec cut = plan.CutTensors[k];
            SchedulerCutTensor pooled = state.CutTensors[k];
            if (cut.Name != pooled.Name || (cut.Shape.Length >= 2 && cut.Shape[1] > 0 && cut.Shape[1] != pooled.Channels))
            {
                throw new InvalidDataException($"cut tensor {k} of {plan} is {cut.Name} {Shape(cut.Shape)}, but {SchedulerState.FileName} pools {pooled.Name} with {pooled.Channels} channels; rerun `coach calibrate-online`");
            }

            _channels[k] = pooled.Channels;
            lengths[k] = checked((int)cut.ElementsPerFrame);
            ranks[k] = cut.FrameShape().Length;
        }

        PlanDocument document = plan.Document;
        // A plan without stage times (written by hand) takes those the online calibration measured.
        double edgeMs = document.TEdgeMs > 0 ? document.TEdgeMs : state.CalibrationEdgeMs;
        double cloudMs = document.TCloudMs > 0 ? document.TCloudMs : state.CalibrationCloudMs;
        double overheadMs = document.FrameOverheadMs;
        double bandwidthBps = document.BandwidthBps;
        if (!(bandwidthBps > 0))
        {
            throw new InvalidDataException($"plan.json of {plan} gives no bandwidth (bandwidth_bps); the online scheduler needs it as the prior of B̂");
        }

        // A coded plan's byte model is the planner's: each cut tensor at its measured coded share, plus the coding time.
        var coded = plan.WireCoding == Protocol.TensorCompression.Zstd ? document.CutTensors.Select(c => c.CodedRatios).ToArray() : null;
        var cost = new TransferCostModel(edgeMs / 1e3, cloudMs / 1e3, lengths, ranks, overheadMs / 1e3, coded, document.EncodeNsPerPackedByte * 1e-9);
        Bandwidth = new BandwidthEstimator(bandwidthWindow, bandwidthBps / 8);
        _cost = cost;
        _calibration = state.Calibration;
        AdaptiveBitsOnly = state.AdaptiveBitsOnly;
        ModeReason = state.ModeReason;
        if (!AdaptiveBitsOnly)
        {
            _scheduler = new OnlineScheduler(state.CreateCache(), state.Calibration, cost, Bandwidth);
            _pending = new PendingFeatures(pendingCapacity, state.FeatureLength);
        }

        _feature = new float[state.FeatureLength];
        _bands = state.FeatureBands;
        _edgeSeconds = cost.EdgeSeconds;
    }

    /// <summary>"coach-online", or "coach-online-adaptive-bits" without the semantic cache (<see cref="AdaptiveBitsOnly"/>); the edge summary's <c>scheduler</c>.</summary>
    public string Name => AdaptiveBitsOnly ? "coach-online-adaptive-bits" : "coach-online";

    /// <summary>True when the model's output is not class scores: eq. 11's adaptive bits only, no semantic cache, no early exit.</summary>
    public bool AdaptiveBitsOnly { get; }

    /// <summary>Why <see cref="AdaptiveBitsOnly"/> (from scheduler.json); null for a classifier.</summary>
    public string? ModeReason { get; }

    /// <summary>The semantic-cache scheduler (eqs. 7–11); null in <see cref="AdaptiveBitsOnly"/> mode.</summary>
    public OnlineScheduler? Scheduler => _scheduler;

    public BandwidthEstimator Bandwidth { get; }

    /// <summary>Frames answered on the edge (eq. 10).</summary>
    public long EarlyExits { get; private set; }

    /// <summary>Frames sent to the cloud.</summary>
    public long FramesSent { get; private set; }

    /// <summary>Cloud labels folded into the centres (eq. 7).</summary>
    public long CentreUpdates { get; private set; }

    /// <summary>Mean Q_c of the frames sent.</summary>
    public double MeanBitsSent => FramesSent == 0 ? 0 : (double)_bitSum / FramesSent;

    /// <summary>The running T_e used by eq. 11.</summary>
    public double EdgeSeconds => _edgeSeconds;

    public SchedulingDecision Decide(int frameId, IReadOnlyList<PinnedTensor> cutTensors, double headSeconds)
    {
        ArgumentNullException.ThrowIfNull(cutTensors);
        if (cutTensors.Count != _channels.Length)
        {
            throw new ArgumentException($"the plan has {_channels.Length} cut tensors; got {cutTensors.Count}", nameof(cutTensors));
        }

        if (headSeconds > 0 && double.IsFinite(headSeconds))
        {
            _edgeSeconds += (headSeconds - _edgeSeconds) * EdgeTimeWeight;
        }

        if (_scheduler is null)
        {
            // Eq. 11 alone: Q_r is the plan's calibrated safe floor; raised only while frames queue (OnlineScheduler.Saturated).
            int bits = _saturated ? OnlineScheduler.ChooseBits(_calibration.PlanBits, _calibration.MaxBits, _cost, Bandwidth.BytesPerSecond, Math.Max(_edgeSeconds, _cost.CloudSeconds + _cloudQueueSeconds)) : _calibration.PlanBits;
            FramesSent++;
            _bitSum += bits;
            return SchedulingDecision.Send(bits);
        }

        int offset = 0;
        for (int k = 0; k < _channels.Length; k++)
        {
            TaskFeature.BandPool(cutTensors[k].AsSpan<float>(), _channels[k], _bands, _feature.AsSpan(offset)); // F: GAP (or band pooling) per cut tensor, concatenated
            offset += _channels[k] * _bands;
        }

        _scheduler.LiveEdgeSeconds = _edgeSeconds;
        SchedulerDecision decision = _scheduler.Decide(_feature); // eqs. 8–11
        if (decision.EarlyExit)
        {
            EarlyExits++;
            return SchedulingDecision.Exit(decision.Label);
        }

        _pending!.Store(frameId, _feature);
        FramesSent++;
        _bitSum += decision.Bits;
        return SchedulingDecision.Send(decision.Bits);
    }

    public void OnCloudLabel(int frameId, int label)
    {
        if (_scheduler is null || (uint)label >= (uint)_scheduler.Cache.LabelCount || !_pending!.TryTake(frameId, out ReadOnlySpan<float> feature))
        {
            return;
        }

        _scheduler.Learn(label, feature); // eq. 7
        CentreUpdates++;
    }

    public void OnTransferSample(long bytes, double seconds) => Bandwidth.AddSample(bytes, seconds);

    /// <summary>The cloud's smoothed queueing (docs/fleet.md §7), part of T_c in eq. 11.</summary>
    public void OnCloudQueue(double seconds)
    {
        _cloudQueueSeconds = seconds;
        if (_scheduler is not null)
        {
            _scheduler.CloudQueueSeconds = seconds;
        }
    }

    /// <summary>Eq. 11 raises the bits above Q_r only while frames queue (<see cref="OnlineScheduler.Saturated"/>).</summary>
    public void OnLoad(bool saturated)
    {
        _saturated = saturated;
        if (_scheduler is not null)
        {
            _scheduler.Saturated = saturated;
        }
    }

    private static string Shape(long[] shape) => $"[{string.Join(", ", shape)}]";
}
