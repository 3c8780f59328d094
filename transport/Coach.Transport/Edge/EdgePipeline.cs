using System.Threading.Channels;
using Coach.Engine.Online;

namespace Coach.Transport.Edge;

/// <summary>
/// The edge's three overlapped stages (docs/architecture.md §2) with bounded queues between them:
/// head on ONNX Runtime → online scheduler (early exit / bits) → pack and send; answers come back
/// asynchronously through the <see cref="EdgeCloudLink"/> and complete the frame's record in the
/// <see cref="FrameLedger"/>. Per-stage busy and waiting time is measured. Edge-only and cloud-only
/// plans run through the same stages. The stages are in EdgePipeline.Stages.cs.
/// </summary>
public sealed partial class EdgePipeline
{
    private const int WarmupFrames = 20;
    private readonly EdgeRunOptions _options;
    private readonly PlanDirectory _plan;
    private readonly IFrameSource _source;
    private readonly IFrameScheduler _scheduler;
    private readonly FrameLedger _ledger;
    private readonly EdgeCloudLink _link;
    private readonly RequestPacker _packer;
    private readonly SchedulerFeedback _feedback = new();
    private readonly EmulatedDeviceClock _deviceClock;
    private readonly Channel<HeadSlot> _freeSlots;
    private readonly Channel<HeadSlot> _toSchedule;
    private readonly Channel<HeadSlot> _toSend;

    /// <summary>The scheduler's bits for the frame each slot holds (0 = as planned), by slot index.</summary>
    private readonly int[] _slotBits;

    // Process CPU time (ticks) when the head took frame WarmupFrames: the steady-state CPU per frame counts from there,
    // so session warm-up (first runs, arenas, the connection) does not inflate the per-frame figure of a short run.
    private long _cpuTicksAtWarm = -1;

    /// <summary>The cloud's reported queueing and whether the edge is on its load fallback (docs/fleet.md §7); null when off.</summary>
    public CloudLoadFeedback? LoadFeedback { get; }

    /// <summary>Frames answered on the edge's full model while the cloud reported too much queueing.</summary>
    public int LoadFallbackAnswers => _link.LoadFallbackAnswers;

    /// <param name="client">
    /// Connected client; null for an edge-only plan, or when the cloud could not be reached at start
    /// (then <paramref name="reconnect"/> is required: the edge answers locally and connects in the background).
    /// </param>
    /// <param name="fallback">The full model, answering on the edge while the cloud is away; null = such frames fail explicitly.</param>
    /// <param name="reconnect">Makes a new connected client after the connection is lost; null = no reconnect.</param>
    public EdgePipeline(PlanDirectory plan, EdgeHead head, IFrameSource source, IFrameScheduler scheduler, EdgeClient? client, EdgeRunOptions options,
        FallbackModel? fallback = null, Func<CancellationToken, Task<EdgeClient>>? reconnect = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(head);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentNullException.ThrowIfNull(options);
        if (client is null && !plan.IsEdgeOnly && reconnect is null)
        {
            throw new ArgumentException($"{plan} sends cut tensors to the cloud; connect an EdgeClient first, or give a reconnect function to start disconnected", nameof(client));
        }

        if (options.Duration is { } duration && duration <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), duration, "a run's duration must be positive (EdgeRunOptions.Duration)");
        }

        _plan = plan;
        _source = source;
        _scheduler = scheduler;
        _options = options;
        _ledger = new FrameLedger(source.Count);
        _deviceClock = new EmulatedDeviceClock(options.EmulatedSlowdown);
        _packer = new RequestPacker(head, plan.IsCloudOnly, options.WantLogits, plan.WireCoding, plan.JpegQuality, plan.H264RateFactor);
        _link = new EdgeCloudLink(_ledger, source, _feedback, _packer, _deviceClock, options, !plan.IsEdgeOnly, client, fallback, reconnect);
        if (options.CloudQueueFallback > TimeSpan.Zero && !plan.IsEdgeOnly && _link.HasFallback)
        {
            TimeSpan resume = options.CloudQueueResume > TimeSpan.Zero ? options.CloudQueueResume : options.CloudQueueFallback / 2;
            LoadFeedback = new CloudLoadFeedback(options.CloudQueueFallback.TotalSeconds, resume.TotalSeconds, probeEvery: options.CloudQueueProbeEvery);
        }

        _freeSlots = Channel.CreateBounded<HeadSlot>(new BoundedChannelOptions(head.Slots.Count) { SingleReader = true, SingleWriter = false });
        foreach (HeadSlot slot in head.Slots)
        {
            _freeSlots.Writer.TryWrite(slot);
        }

        var queue = new BoundedChannelOptions(Math.Max(1, options.QueueCapacity)) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait };
        _toSchedule = Channel.CreateBounded<HeadSlot>(queue);
        _toSend = Channel.CreateBounded<HeadSlot>(queue);
        _slotBits = new int[head.Slots.Count];
        HeadClock = new StageClock("head");
        ScheduleClock = new StageClock("schedule");
        SendClock = new StageClock("send");
    }

    public StageClock HeadClock { get; }

    public StageClock ScheduleClock { get; }

    public StageClock SendClock { get; }

    /// <summary>The connection in use now (replaced on reconnect); null for an edge-only plan.</summary>
    public EdgeClient? CurrentClient => _link.CurrentClient;

    /// <summary>Per-frame records of the frames taken (valid after <see cref="RunAsync"/>).</summary>
    public ReadOnlySpan<FrameRecord> Records => _ledger.Taken;

    /// <summary>Runs every frame of the source through the stages and waits for every answer.</summary>
    public async Task<EdgeRunSummary> RunAsync(CancellationToken cancellationToken = default)
    {
        TimeSpan cpuAtStart = Environment.CpuUsage.TotalTime;
        long start = MonotonicClock.NowMicros;
        _link.Start();
        using var progress = _options.ShowProgress ? new ProgressBar(_ledger.Capacity, () => _ledger.Completed, start) : null;

        Task head = Task.Run(() => HeadStageAsync(cancellationToken), CancellationToken.None);
        Task schedule = Task.Run(() => ScheduleStageAsync(cancellationToken), CancellationToken.None);
        Task send = Task.Run(() => SendStageAsync(cancellationToken), CancellationToken.None);
        try
        {
            await Task.WhenAll(head, schedule, send).ConfigureAwait(false);
            await _ledger.AllAnsweredTask.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _toSchedule.Writer.TryComplete();
            _toSend.Writer.TryComplete();
            await _link.StopAsync().ConfigureAwait(false);
            _packer.Dispose();
        }

        long end = MonotonicClock.NowMicros;
        progress?.Finish();
        await _link.SayGoodbyeAtEndAsync().ConfigureAwait(false);
        return EdgeRunSummary.Create(this, _plan, _scheduler.Name, end - start, _link.RequestsSent, _link.RequestsAnswered, _ledger.Duplicates, _link.ConnectionError) with
        {
            CpuMsPerFrame = SteadyCpuMsPerFrame(cpuAtStart),
            FallbackAnswers = _link.FallbackAnswers,
            Reconnects = _link.Reconnects,
            StaleAnswers = _ledger.StaleAnswers,
        };
    }

    /// <summary>Writes the per-frame CSV (header + one row per frame).</summary>
    public void WriteCsv(TextWriter writer) => EdgeRunSummary.WriteCsv(writer, Records);

    /// <summary>Process CPU per frame from the head's <see cref="WarmupFrames"/>-th frame to now (the whole run when it is shorter).</summary>
    private double SteadyCpuMsPerFrame(TimeSpan cpuAtStart)
    {
        int target = _ledger.Target;
        long atWarm = Volatile.Read(ref _cpuTicksAtWarm);
        TimeSpan now = Environment.CpuUsage.TotalTime;
        if (atWarm >= 0 && target > WarmupFrames * 2)
        {
            return (now.Ticks - atWarm) / (double)TimeSpan.TicksPerMillisecond / (target - WarmupFrames);
        }

        return target == 0 ? 0 : (now - cpuAtStart).TotalMilliseconds / target;
    }
}
