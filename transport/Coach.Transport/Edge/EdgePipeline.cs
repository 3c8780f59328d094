using System.Collections.Concurrent;
using System.Threading.Channels;
using Coach.Transport.Protocol;

namespace Coach.Transport.Edge;

/// <summary>
/// The edge's three overlapped stages (docs/architecture.md §2) with bounded queues between them:
/// head on ONNX Runtime → online scheduler (early exit / bits) → pack and send; answers come back
/// asynchronously on the client's receive loop and complete the frame's record (request id =
/// frame id + 1; the record array is the pending table). Per-stage busy and waiting time is
/// measured. Edge-only and cloud-only plans run through the same stages.
/// </summary>
public sealed partial class EdgePipeline
{
    private readonly EdgeRunOptions _options;
    private readonly EdgeHead _head;
    private readonly IFrameSource _source;
    private readonly IFrameScheduler _scheduler;
    private readonly FallbackModel? _fallback;
    private readonly Func<CancellationToken, Task<EdgeClient>>? _reconnect;
    private readonly Lock _linkGate = new();
    // Held while a frame is written to a connection's Output, so a Goodbye from a handover never interleaves with one.
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    // A connection whose cloud said Goodbye (ShuttingDown): its requests are still being answered there,
    // while new frames wait for the next connection (docs/protocol.md §1.7).
    private EdgeClient? _retiring;
    private int _retiringEpoch;
    private TaskCompletionSource? _handover;
    private readonly List<Task> _background = [];
    private readonly CancellationTokenSource _lifetime = new();
    private readonly int[] _sentEpoch;
    private int _inFlightCapacity;
    private EdgeClient? _client;
    private int _epoch = 1;
    private bool _connected;
    private readonly PlanDirectory _plan;
    private readonly FrameRecord[] _records;
    private readonly int[] _finished;
    private readonly Channel<HeadSlot> _freeSlots;
    private readonly Channel<HeadSlot> _toSchedule;
    private readonly Channel<HeadSlot> _toSend;
    private readonly SemaphoreSlim _inFlight;
    private readonly ConcurrentQueue<Feedback> _feedback = new();
    private readonly TaskCompletionSource _allDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly int[][] _frameShapes;
    private readonly SchedulingDecision[] _slotDecisions;
    private int _completed;

    /// <summary>Frames the run answers: the source's count, lowered to the frames taken when <see cref="EdgeRunOptions.Duration"/> ends the run early.</summary>
    private int _target;
    // Process CPU time (ticks) when the head took frame WarmupFrames: the steady-state CPU per frame counts from there,
    // so session warm-up (first runs, arenas, the connection) does not inflate the per-frame figure of a short run.
    private long _cpuTicksAtWarm = -1;
    private const int WarmupFrames = 20;
    private int _requestsSent;
    private int _requestsAnswered;
    private int _duplicates;
    private int _fallbackAnswers;
    private int _reconnects;
    private int _staleAnswers;
    private string? _connectionError;

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
        _head = head;
        _source = source;
        _scheduler = scheduler;
        _client = client;
        _connected = client is not null;
        _fallback = fallback;
        _reconnect = reconnect;
        _options = options;
        _sentEpoch = new int[source.Count];
        _records = new FrameRecord[source.Count];
        _finished = new int[source.Count];
        _target = source.Count;
        for (int i = 0; i < _records.Length; i++)
        {
            _records[i].FrameId = i;
        }
        _freeSlots = Channel.CreateBounded<HeadSlot>(new BoundedChannelOptions(head.Slots.Count) { SingleReader = true, SingleWriter = false });
        foreach (HeadSlot slot in head.Slots)
        {
            _freeSlots.Writer.TryWrite(slot);
        }

        var queue = new BoundedChannelOptions(Math.Max(1, options.QueueCapacity)) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait };
        _toSchedule = Channel.CreateBounded<HeadSlot>(queue);
        _toSend = Channel.CreateBounded<HeadSlot>(queue);
        // Started disconnected, the cap is the edge's own until a HelloAck lowers it (AdoptInFlightLimit).
        _inFlightCapacity = Math.Max(1, Math.Min(client?.Ack.MaxInFlight ?? options.MaxInFlight, options.MaxInFlight));
        _inFlight = new SemaphoreSlim(_inFlightCapacity);
        _frameShapes = head.OutputSpecs.Select(s => s.FrameShape()).ToArray();
        _slotDecisions = new SchedulingDecision[head.Slots.Count];
        HeadClock = new StageClock("head");
        ScheduleClock = new StageClock("schedule");
        SendClock = new StageClock("send");
    }

    public StageClock HeadClock { get; }

    public StageClock ScheduleClock { get; }

    public StageClock SendClock { get; }

    /// <summary>The connection in use now (replaced on reconnect); null for an edge-only plan.</summary>
    public EdgeClient? CurrentClient
    {
        get
        {
            lock (_linkGate)
            {
                return _client;
            }
        }
    }

    /// <summary>Per-frame records of the frames taken (valid after <see cref="RunAsync"/>).</summary>
    public ReadOnlySpan<FrameRecord> Records => _records.AsSpan(0, Volatile.Read(ref _target));

    /// <summary>Runs every frame of the source through the stages and waits for every answer.</summary>
    public async Task<EdgeRunSummary> RunAsync(CancellationToken cancellationToken = default)
    {
        TimeSpan cpuAtStart = Environment.CpuUsage.TotalTime;
        long start = MonotonicClock.NowMicros;
        EndIfAllAnswered(Volatile.Read(ref _completed)); // a source without frames

        _client?.StartReceiving(new ConnectionSink(this, _epoch));
        Task watchdog = _plan.IsEdgeOnly ? Task.CompletedTask : Task.Run(() => WatchdogAsync(_lifetime.Token), CancellationToken.None);
        if (_client is null && !_plan.IsEdgeOnly && _reconnect is not null)
        {
            // The cloud was unreachable at start: frames are answered on the edge until the first connection.
            _connectionError = "the cloud was unreachable at start";
            Task firstConnection = Task.Run(() => ReconnectAsync(_lifetime.Token), CancellationToken.None);
            lock (_background)
            {
                _background.Add(firstConnection);
            }
        }

        using var progress = _options.ShowProgress ? new ProgressBar(_records.Length, () => Volatile.Read(ref _completed), start) : null;

        Task head = Task.Run(() => HeadStageAsync(cancellationToken), CancellationToken.None);
        Task schedule = Task.Run(() => ScheduleStageAsync(cancellationToken), CancellationToken.None);
        Task send = Task.Run(() => SendStageAsync(cancellationToken), CancellationToken.None);
        try
        {
            await Task.WhenAll(head, schedule, send).ConfigureAwait(false);
            await _allDone.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _toSchedule.Writer.TryComplete();
            _toSend.Writer.TryComplete();
            await _lifetime.CancelAsync().ConfigureAwait(false);
            Task[] background;
            lock (_background)
            {
                background = [.. _background, watchdog];
            }

            try
            {
                await Task.WhenAll(background).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                _options.Log($"edge: a recovery task failed: {e.Message}");
            }
        }

        long end = MonotonicClock.NowMicros;
        progress?.Finish();
        EdgeClient? client;
        bool connected;
        lock (_linkGate)
        {
            client = _client;
            connected = _connected;
        }

        if (client is not null && connected)
        {
            try
            {
                await client.SendGoodbyeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is InvalidOperationException or IOException)
            {
            }
        }

        return EdgeRunSummary.Create(this, _plan, _scheduler.Name, end - start, _requestsSent, _requestsAnswered, _duplicates, _connectionError) with
        {
            CpuMsPerFrame = SteadyCpuMsPerFrame(cpuAtStart),
            FallbackAnswers = _fallbackAnswers,
            Reconnects = _reconnects,
            StaleAnswers = _staleAnswers,
        };
    }

    /// <summary>Writes the per-frame CSV (header + one row per frame).</summary>
    public void WriteCsv(TextWriter writer) => EdgeRunSummary.WriteCsv(writer, Records);

    /// <summary>Ends a frame exactly once; false when it had already ended (a duplicate answer).</summary>
    private bool Complete(ref FrameRecord record, FrameDecision decision, int label, long endMicros)
    {
        if (Interlocked.CompareExchange(ref _finished[record.FrameId], 1, 0) != 0)
        {
            return false;
        }

        record.Decision = decision;
        record.PredictedLabel = label;
        record.EndMicros = endMicros;
        EndIfAllAnswered(Interlocked.Increment(ref _completed));
        return true;
    }

    /// <summary>Process CPU per frame from the head's <see cref="WarmupFrames"/>-th frame to now (the whole run when it is shorter).</summary>
    private double SteadyCpuMsPerFrame(TimeSpan cpuAtStart)
    {
        int target = Volatile.Read(ref _target);
        long atWarm = Volatile.Read(ref _cpuTicksAtWarm);
        TimeSpan now = Environment.CpuUsage.TotalTime;
        if (atWarm >= 0 && target > WarmupFrames * 2)
        {
            return (now.Ticks - atWarm) / (double)TimeSpan.TicksPerMillisecond / (target - WarmupFrames);
        }

        return target == 0 ? 0 : (now - cpuAtStart).TotalMilliseconds / target;
    }

    /// <summary>Ends the run once <paramref name="completed"/> frames cover every frame it answers (<c>_target</c>).</summary>
    private void EndIfAllAnswered(int completed)
    {
        if (completed >= Volatile.Read(ref _target))
        {
            _allDone.TrySetResult();
        }
    }

    private enum FeedbackKind : byte
    {
        CloudLabel,
        Transfer,
    }

    private readonly record struct Feedback(FeedbackKind Kind, int FrameId, int Label, long Bytes, double Seconds);
}
