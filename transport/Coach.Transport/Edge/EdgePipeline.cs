using System.Collections.Concurrent;
using System.Threading.Channels;
using Coach.Transport.Protocol;

namespace Coach.Transport.Edge;

/// <summary>
/// The edge's three overlapped stages (ARCHITECTURE §5) with bounded queues between them:
/// head on ONNX Runtime → online scheduler (early exit / bits) → pack and send; answers come back
/// asynchronously on the client's receive loop and complete the frame's record (request id =
/// frame id + 1; the record array is the pending table). Per-stage busy and waiting time is
/// measured. Edge-only and cloud-only plans run through the same stages.
/// </summary>
public sealed partial class EdgePipeline : IEdgeResultSink
{
    private readonly EdgeRunOptions _options;
    private readonly EdgeHead _head;
    private readonly IFrameSource _source;
    private readonly IFrameScheduler _scheduler;
    private readonly EdgeClient? _client;
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
    private int _requestsSent;
    private int _requestsAnswered;
    private int _duplicates;
    private volatile bool _connectionLost;
    private string? _connectionError;

    /// <param name="client">Connected client; null only for an edge-only plan.</param>
    public EdgePipeline(PlanDirectory plan, EdgeHead head, IFrameSource source, IFrameScheduler scheduler, EdgeClient? client, EdgeRunOptions options)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(head);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentNullException.ThrowIfNull(options);
        if (client is null && !plan.IsEdgeOnly)
        {
            throw new ArgumentException($"{plan} sends cut tensors to the cloud; connect an EdgeClient first", nameof(client));
        }

        _plan = plan;
        _head = head;
        _source = source;
        _scheduler = scheduler;
        _client = client;
        _options = options;
        _records = new FrameRecord[source.Count];
        _finished = new int[source.Count];
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
        _inFlight = new SemaphoreSlim(Math.Max(1, client?.Ack.MaxInFlight ?? 1));
        _frameShapes = head.OutputSpecs.Select(s => s.FrameShape()).ToArray();
        _slotDecisions = new SchedulingDecision[head.Slots.Count];
        HeadClock = new StageClock("head");
        ScheduleClock = new StageClock("schedule");
        SendClock = new StageClock("send");
    }

    public StageClock HeadClock { get; }

    public StageClock ScheduleClock { get; }

    public StageClock SendClock { get; }

    /// <summary>Per-frame records (valid after <see cref="RunAsync"/>).</summary>
    public ReadOnlySpan<FrameRecord> Records => _records;

    /// <summary>Runs every frame of the source through the stages and waits for every answer.</summary>
    public async Task<EdgeRunSummary> RunAsync(CancellationToken cancellationToken = default)
    {
        long start = MonotonicClock.NowMicros;
        if (_records.Length == 0)
        {
            _allDone.TrySetResult();
        }

        _client?.StartReceiving(this);
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
        }

        long end = MonotonicClock.NowMicros;
        progress?.Finish();
        if (_client is not null && !_connectionLost)
        {
            try
            {
                await _client.SendGoodbyeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is InvalidOperationException or IOException)
            {
            }
        }

        return EdgeRunSummary.Create(this, _plan, _scheduler.Name, end - start, _requestsSent, _requestsAnswered, _duplicates, _connectionError);
    }

    /// <summary>Writes the per-frame CSV (header + one row per frame).</summary>
    public void WriteCsv(TextWriter writer) => EdgeRunSummary.WriteCsv(writer, _records);

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
        if (Interlocked.Increment(ref _completed) == _records.Length)
        {
            _allDone.TrySetResult();
        }

        return true;
    }

    private enum FeedbackKind : byte
    {
        CloudLabel,
        Transfer,
    }

    private readonly record struct Feedback(FeedbackKind Kind, int FrameId, int Label, long Bytes, double Seconds);
}
