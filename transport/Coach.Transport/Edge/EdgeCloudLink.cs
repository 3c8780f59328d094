using System.IO.Pipelines;

namespace Coach.Transport.Edge;

/// <summary>
/// The edge's side of its connection to the cloud, across connections: the client in use, the
/// in-flight permits its HelloAck grants, sending a frame on it, the answers that come back, and
/// what happens when it goes — frames sent on it answered on the edge (<see cref="FallbackModel"/>)
/// or failed, reconnection with backoff, the handover after a cloud's Goodbye (docs/protocol.md §1.7)
/// and the watchdog that finds a silent link. Each connection has an epoch, so an answer is matched
/// to the connection its frame was sent on. Answers are in EdgeCloudLink.Answers.cs, reconnection and
/// the watchdog in EdgeCloudLink.Recovery.cs, the handover in EdgeCloudLink.Handover.cs.
/// </summary>
internal sealed partial class EdgeCloudLink
{
    private readonly FrameLedger _ledger;
    private readonly IFrameSource _source;
    private readonly SchedulerFeedback _feedback;
    private readonly RequestPacker _packer;
    private readonly EmulatedDeviceClock _deviceClock;
    private readonly EdgeRunOptions _options;
    private readonly bool _sendsToCloud;
    private readonly FallbackModel? _fallback;
    private readonly Func<CancellationToken, Task<EdgeClient>>? _reconnect;
    private readonly Lock _linkGate = new();
    // Held while a frame is written to a connection's Output, so a Goodbye from a handover never interleaves with one.
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly List<Task> _background = [];
    private readonly CancellationTokenSource _lifetime = new();
    private readonly SemaphoreSlim _inFlight;
    private int _inFlightCapacity;
    private EdgeClient? _client;
    private int _epoch = 1;
    private bool _connected;
    private int _requestsSent;
    private int _requestsAnswered;
    private int _fallbackAnswers;
    private int _loadFallbackAnswers;
    private int _reconnects;
    private string? _connectionError;

    /// <param name="sendsToCloud">False for an edge-only plan: nothing is sent and no watchdog runs.</param>
    /// <param name="client">Connected client; null when the cloud could not be reached at start, or for an edge-only plan.</param>
    /// <param name="fallback">The full model, answering on the edge while the cloud is away; null = such frames fail explicitly.</param>
    /// <param name="reconnect">Makes a new connected client after the connection is lost; null = no reconnect.</param>
    public EdgeCloudLink(FrameLedger ledger, IFrameSource source, SchedulerFeedback feedback, RequestPacker packer, EmulatedDeviceClock deviceClock,
        EdgeRunOptions options, bool sendsToCloud, EdgeClient? client, FallbackModel? fallback, Func<CancellationToken, Task<EdgeClient>>? reconnect)
    {
        _ledger = ledger;
        _source = source;
        _feedback = feedback;
        _packer = packer;
        _deviceClock = deviceClock;
        _options = options;
        _sendsToCloud = sendsToCloud;
        _client = client;
        _connected = client is not null;
        _fallback = fallback;
        _reconnect = reconnect;
        // Started disconnected, the cap is the edge's own until a HelloAck lowers it (AdoptInFlightLimit).
        _inFlightCapacity = Math.Max(1, Math.Min(client?.Ack.MaxInFlight ?? options.MaxInFlight, options.MaxInFlight));
        _inFlight = new SemaphoreSlim(_inFlightCapacity);
    }

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

    public int RequestsSent => Volatile.Read(ref _requestsSent);

    public int RequestsAnswered => Volatile.Read(ref _requestsAnswered);

    public int FallbackAnswers => Volatile.Read(ref _fallbackAnswers);

    public int Reconnects => Volatile.Read(ref _reconnects);

    /// <summary>Why the last connection was lost, while no new one has replaced it; null when connected.</summary>
    public string? ConnectionError
    {
        get
        {
            lock (_linkGate)
            {
                return _connectionError;
            }
        }
    }

    /// <summary>Starts receiving on the first connection, the watchdog, and connecting in the background when the cloud was unreachable at start.</summary>
    public void Start()
    {
        _client?.StartReceiving(new ConnectionSink(this, _epoch));
        if (!_sendsToCloud)
        {
            return;
        }

        Track(Task.Run(() => WatchdogAsync(_lifetime.Token), CancellationToken.None));
        if (_client is null && _reconnect is not null)
        {
            // The cloud was unreachable at start: frames are answered on the edge until the first connection.
            lock (_linkGate)
            {
                _connectionError = "the cloud was unreachable at start";
            }

            Track(Task.Run(() => ReconnectAsync(_lifetime.Token), CancellationToken.None));
        }
    }

    /// <summary>Room at the cloud: waits for one of the in-flight requests its HelloAck allows.</summary>
    public ValueTask WaitForPermitAsync(CancellationToken cancellationToken) =>
        _inFlight.Wait(0) ? ValueTask.CompletedTask : new ValueTask(_inFlight.WaitAsync(cancellationToken));

    /// <summary>Sends one frame (holding a permit) on the current connection, or answers it on the edge when there is none.</summary>
    /// <param name="bits">The scheduler's bits for the frame's quantized tensors; 0 = as planned.</param>
    /// <param name="start">When the send stage took the frame: packing is device compute, stretched by the emulated slowdown.</param>
    public async Task SendAsync(HeadSlot slot, int bits, long start, CancellationToken cancellationToken)
    {
        int frame = slot.FrameId;
        while (true)
        {
            EdgeClient? client;
            int epoch;
            Task? handover;
            lock (_linkGate)
            {
                client = _connected ? _client : null;
                epoch = _epoch;
                handover = client is null ? _handover?.Task : null;
            }

            if (handover is not null)
            {
                // The cloud is shutting down and the next connection is being made: the frame waits for it
                // (bounded), so a rolling restart loses nothing (docs/protocol.md §1.7).
                try
                {
                    await handover.WaitAsync(_options.HandshakeTimeout, cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    EndHandover();
                }

                continue;
            }

            if (client is null)
            {
                AnswerUnsent(slot);
                return;
            }

            if (!_sendLock.Wait(0))
            {
                await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            try
            {
                lock (_linkGate)
                {
                    if (!_connected || !ReferenceEquals(_client, client) || _epoch != epoch)
                    {
                        continue; // handed over or lost meanwhile: choose again
                    }

                    // Marked under the gate: a connection loss after this point finds the frame and answers it.
                    _ledger.MarkSent(frame, epoch);
                }

                _ledger[frame].Bits = _packer.RecordedBits(bits);
                try
                {
                    _ledger[frame].WireBytes = _packer.Write(client.Output, slot, bits, _ledger[frame].StartMicros);
                    _deviceClock.Dilate(start, MonotonicClock.NowMicros);
                    Interlocked.Increment(ref _requestsSent);
                    FlushResult flush = await client.Output.FlushAsync(cancellationToken).ConfigureAwait(false);
                    if (flush.IsCompleted || flush.IsCanceled)
                    {
                        LinkDown(epoch, "the connection's send side closed");
                    }
                }
                catch (Exception e) when (e is InvalidOperationException or IOException or ObjectDisposedException)
                {
                    LinkDown(epoch, $"sending failed: {e.Message}");
                }

                return;
            }
            finally
            {
                _sendLock.Release();
            }
        }
    }

    /// <summary>Ends the background work (reconnection, handover, watchdog) and waits for it.</summary>
    public async Task StopAsync()
    {
        await _lifetime.CancelAsync().ConfigureAwait(false);
        Task[] background;
        lock (_background)
        {
            background = [.. _background];
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

    /// <summary>Says Goodbye on the connection in use after the run's last frame (the cloud answers what it has, then closes).</summary>
    public async Task SayGoodbyeAtEndAsync()
    {
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
    }

    /// <summary>A frame that cannot be sent (no connection now): the full model answers it from the slot's input, else it fails.</summary>
    private void AnswerUnsent(HeadSlot slot)
    {
        int frame = slot.FrameId;
        if (_fallback is not null)
        {
            int label = _fallback.Answer(slot.Input.AsSpan<float>());
            if (CompleteSent(frame, FrameDecision.Fallback, label, MonotonicClock.NowMicros))
            {
                Interlocked.Increment(ref _fallbackAnswers);
            }
        }
        else
        {
            CompleteSent(frame, FrameDecision.Failed, -1, MonotonicClock.NowMicros);
        }
    }

    /// <summary>
    /// A frame the load feedback keeps off a loaded cloud (docs/fleet.md §7): the full model answers it from the slot's
    /// input. It holds no in-flight permit. Returns false when there is no full model (the frame is then sent).
    /// </summary>
    public bool AnswerUnderLoad(HeadSlot slot)
    {
        if (_fallback is null)
        {
            return false;
        }

        int label = _fallback.Answer(slot.Input.AsSpan<float>());
        if (_ledger.Complete(slot.FrameId, FrameDecision.Fallback, label, MonotonicClock.NowMicros))
        {
            Interlocked.Increment(ref _fallbackAnswers);
            Interlocked.Increment(ref _loadFallbackAnswers);
        }

        return true;
    }

    /// <summary>Frames answered on the edge because the cloud reported too much queueing (part of <see cref="FallbackAnswers"/>).</summary>
    public int LoadFallbackAnswers => Volatile.Read(ref _loadFallbackAnswers);

    /// <summary>Whether a full model can answer frames on the edge.</summary>
    public bool HasFallback => _fallback is not null;

    /// <summary>Answers a sent frame with the full model on the edge (re-rendered from the source).</summary>
    private void AnswerLocally(int frame)
    {
        if (_ledger.IsFinished(frame))
        {
            return;
        }

        int label = _fallback!.Answer(_source, frame);
        if (CompleteSent(frame, FrameDecision.Fallback, label, MonotonicClock.NowMicros))
        {
            Interlocked.Increment(ref _fallbackAnswers);
        }
    }

    /// <summary>Completes a frame whose request holds an in-flight permit, releasing the permit once.</summary>
    private bool CompleteSent(int frame, FrameDecision decision, int label, long endMicros)
    {
        if (!_ledger.Complete(frame, decision, label, endMicros))
        {
            return false;
        }

        _inFlight.Release();
        return true;
    }

    /// <summary>Keeps a background task so the end of the run waits for it.</summary>
    private void Track(Task task)
    {
        lock (_background)
        {
            _background.Add(task);
        }
    }
}
