using Coach.Transport.Protocol;

namespace Coach.Transport.Edge;

public sealed partial class EdgePipeline
{
    /// <summary>Smallest arrival spread taken as a bandwidth sample: shorter ones are one socket read, not a rate.</summary>
    private const long MinimumSampleMicros = 200;

    private void OnResult(int epoch, in ResultMessage result)
    {
        long now = MonotonicClock.NowMicros;
        long index = (long)result.RequestId - 1;
        if ((ulong)index >= (ulong)_records.Length)
        {
            return; // not a request of this run
        }

        ref FrameRecord record = ref _records[index];
        if (Volatile.Read(ref _sentEpoch[index]) != epoch)
        {
            Interlocked.Increment(ref _staleAnswers); // from a connection this frame no longer waits on
            return;
        }

        if (Volatile.Read(ref _finished[index]) != 0)
        {
            CountLateOrDuplicate(ref record);
            return;
        }

        record.CloudComputeMicros = result.CloudComputeMicros;
        record.CloudQueueMicros = result.QueueMicros;
        record.CloudBatchSize = result.BatchSize;
        long spread = result.LastByteMicros - result.FirstByteMicros;
        record.ArrivalSpreadMicros = (int)Math.Clamp(spread, 0, int.MaxValue);
        if (!CompleteSent(ref record, FrameDecision.Cloud, result.Label, now))
        {
            CountLateOrDuplicate(ref record);
            return;
        }

        Interlocked.Increment(ref _requestsAnswered);
        _feedback.Enqueue(new Feedback(FeedbackKind.CloudLabel, (int)index, result.Label, 0, 0));
        if (spread >= MinimumSampleMicros)
        {
            _feedback.Enqueue(new Feedback(FeedbackKind.Transfer, (int)index, 0, record.WireBytes, spread / 1e6));
        }
    }

    private void OnError(int epoch, ErrorMessage error)
    {
        long index = (long)error.RequestId - 1;
        if (error.RequestId == 0 && error.Reason == ReasonCode.ShuttingDown)
        {
            BeginHandover(epoch, error.Message);
            return;
        }

        if (error.RequestId == 0 || (ulong)index >= (ulong)_records.Length)
        {
            _options.Log($"edge: the cloud reports {error.Reason}: {error.Message}");
            return;
        }

        if (error.Reason == ReasonCode.DuplicateRequestId || Volatile.Read(ref _sentEpoch[index]) != epoch)
        {
            return; // the original request is still answered once
        }

        ref FrameRecord record = ref _records[index];
        _options.Log($"edge: frame {index} failed at the cloud: {error.Reason}: {error.Message}");
        if (_fallback is not null && Volatile.Read(ref _finished[index]) == 0)
        {
            // The cloud could not answer it: the full model on the edge does.
            AnswerLocally((int)index);
            return;
        }

        if (!CompleteSent(ref record, FrameDecision.Failed, -1, MonotonicClock.NowMicros))
        {
            CountLateOrDuplicate(ref record);
        }
    }

    private void OnClosed(int epoch, Exception? error)
    {
        if (Volatile.Read(ref _completed) >= Volatile.Read(ref _target))
        {
            return;
        }

        LinkDown(epoch, error is null ? "the cloud closed the connection" : $"the connection failed: {error.Message}");
    }

    private void CountLateOrDuplicate(ref FrameRecord record)
    {
        if (record.Decision == FrameDecision.Fallback)
        {
            Interlocked.Increment(ref _staleAnswers); // answered locally first; the late cloud answer is dropped
        }
        else
        {
            Interlocked.Increment(ref _duplicates);
            record.Duplicates++;
        }
    }

    /// <summary>Completes a frame whose request holds an in-flight permit, releasing the permit once.</summary>
    private bool CompleteSent(ref FrameRecord record, FrameDecision decision, int label, long endMicros)
    {
        if (!Complete(ref record, decision, label, endMicros))
        {
            return false;
        }

        _inFlight.Release();
        return true;
    }

    /// <summary>Answers a sent frame with the full model on the edge (re-rendered from the source).</summary>
    private void AnswerLocally(int frame)
    {
        ref FrameRecord record = ref _records[frame];
        if (Volatile.Read(ref _finished[frame]) != 0)
        {
            return;
        }

        int label = _fallback!.Answer(_source, frame);
        if (CompleteSent(ref record, FrameDecision.Fallback, label, MonotonicClock.NowMicros))
        {
            Interlocked.Increment(ref _fallbackAnswers);
        }
    }

    /// <summary>
    /// The connection of <paramref name="epoch"/> is gone (closed, failed, or silent past the
    /// response timeout): every request sent on it is answered locally (or fails explicitly without a
    /// full model), then the edge reconnects in the background with capped exponential backoff.
    /// </summary>
    private void LinkDown(int epoch, string reason)
    {
        EdgeClient? client;
        lock (_linkGate)
        {
            if (_retiring is not null && epoch == _retiringEpoch)
            {
                // The connection handed over after the cloud's Goodbye has closed: whatever it did not
                // answer is answered on the edge (or fails); the next connection is already being made.
                client = _retiring;
                _retiring = null;
                Task retired = Task.Run(() => RecoverAsync(epoch, client, reconnect: false));
                lock (_background)
                {
                    _background.Add(retired);
                }

                return;
            }

            if (epoch != _epoch || !_connected)
            {
                return;
            }

            _connected = false;
            client = _client;
            _connectionError = reason;
        }

        _options.Log($"edge: {reason}; {(_fallback is null ? "frames waiting for this connection end as failed" : "answering on the edge with the full model")}{(_reconnect is null ? string.Empty : " while reconnecting")}");
        Task recovery = Task.Run(() => RecoverAsync(epoch, client, reconnect: true));
        lock (_background)
        {
            _background.Add(recovery);
        }
    }

    private async Task RecoverAsync(int epoch, EdgeClient? client, bool reconnect)
    {
        if (client is not null)
        {
            // Aborts the socket and waits for its receive loop: nothing more arrives from this connection.
            client.Connection.Abort();
            try
            {
                await client.Completion.ConfigureAwait(false);
            }
            catch (Exception)
            {
            }
        }

        for (int i = 0; i < _records.Length; i++)
        {
            if (Volatile.Read(ref _sentEpoch[i]) == epoch && Volatile.Read(ref _finished[i]) == 0)
            {
                if (_fallback is not null)
                {
                    AnswerLocally(i);
                }
                else
                {
                    CompleteSent(ref _records[i], FrameDecision.Failed, -1, MonotonicClock.NowMicros);
                }
            }
        }

        if (client is not null)
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }

        if (reconnect && _reconnect is not null)
        {
            await ReconnectAsync(_lifetime.Token).ConfigureAwait(false);
        }
    }

    /// <param name="immediate">Connect at once the first time (a handover: the cloud asked us to go, nothing is broken).</param>
    private async Task ReconnectAsync(CancellationToken cancellationToken, bool immediate = false)
    {
        TimeSpan delay = _options.ReconnectInitialDelay;
        try
        {
            await ReconnectLoopAsync(delay, immediate, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            EndHandover(); // connected, refused for good, or the run ended: frames stop waiting
        }
    }

    private async Task ReconnectLoopAsync(TimeSpan delay, bool immediate, CancellationToken cancellationToken)
    {
        for (int attempt = 1; !cancellationToken.IsCancellationRequested && Volatile.Read(ref _completed) < Volatile.Read(ref _target); attempt++)
        {
            // Full jitter on a capped exponential schedule, so many edges do not reconnect in lockstep.
            TimeSpan wait = immediate && attempt == 1 ? TimeSpan.Zero : TimeSpan.FromTicks((long)(delay.Ticks * (0.5 + (Random.Shared.NextDouble() * 0.5))));
            try
            {
                await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                EdgeClient next = await _reconnect!(cancellationToken).ConfigureAwait(false);
                int epoch;
                lock (_linkGate)
                {
                    epoch = ++_epoch;
                    _client = next;
                    _connected = true;
                    _connectionError = null;
                }

                AdoptInFlightLimit(next.Ack.MaxInFlight);
                Interlocked.Increment(ref _reconnects);
                next.StartReceiving(new ConnectionSink(this, epoch));
                _options.Log($"edge: reconnected to the cloud (attempt {attempt}, connection #{next.Ack.ConnectionId})");
                return;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                if (IsRefusedForGood(e))
                {
                    _options.Log($"edge: reconnect refused for good: {e.Message}; staying on the edge");
                    return;
                }

                _options.Log($"edge: reconnect attempt {attempt} failed: {e.Message}; next in ≤ {Math.Min(delay.TotalSeconds * 2, _options.ReconnectMaxDelay.TotalSeconds):0.0} s");
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.ReconnectMaxDelay.Ticks));
            }
        }
    }

    /// <summary>
    /// True for a handshake the cloud will refuse on every attempt (wrong or missing key, unknown
    /// plan, another model, another protocol version): a configuration error, not a fault, so
    /// retrying cannot help. Refused connections, timeouts, resets and a busy cloud are faults.
    /// </summary>
    public static bool IsRefusedForGood(Exception error) =>
        error is HandshakeRejectedException
        {
            Reason: ReasonCode.AuthenticationFailed or ReasonCode.AuthenticationRequired or ReasonCode.UnknownPlan
                or ReasonCode.ModelMismatch or ReasonCode.UnsupportedVersion or ReasonCode.BadMagic,
        };

    /// <summary>
    /// A cloud that grants fewer in-flight requests than the edge's current cap lowers it: the
    /// difference in permits is taken and kept for the rest of the run (never raised again).
    /// </summary>
    private void AdoptInFlightLimit(int granted)
    {
        int current = Volatile.Read(ref _inFlightCapacity);
        int target = Math.Max(1, Math.Min(granted, _options.MaxInFlight));
        if (target >= current || Interlocked.CompareExchange(ref _inFlightCapacity, target, current) != current)
        {
            return;
        }

        int surplus = current - target;
        CancellationToken lifetime = _lifetime.Token;
        Task hold = Task.Run(async () =>
        {
            try
            {
                for (int i = 0; i < surplus; i++)
                {
                    await _inFlight.WaitAsync(lifetime).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                // The run ended first; nothing is sent any more.
            }
        }, CancellationToken.None);
        lock (_background)
        {
            _background.Add(hold);
        }
    }

    /// <summary>
    /// Declares the connection dead when requests are outstanding and no byte moved either way for
    /// the response timeout (a cut link black-holes traffic without closing the socket).
    /// </summary>
    private async Task WatchdogAsync(CancellationToken cancellationToken)
    {
        if (_options.ResponseTimeout <= TimeSpan.Zero)
        {
            return;
        }

        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Clamp(_options.ResponseTimeout.TotalMilliseconds / 8, 10, 500)));
        long lastBytes = -1;
        int lastEpoch = -1;
        long quietSince = MonotonicClock.NowMicros;
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                EdgeClient? client;
                int epoch;
                bool connected;
                lock (_linkGate)
                {
                    client = _client;
                    epoch = _epoch;
                    connected = _connected;
                }

                long now = MonotonicClock.NowMicros;
                if (!connected || client is null)
                {
                    quietSince = now;
                    continue;
                }

                long bytes = client.Connection.BytesReceived + client.Connection.BytesSent;
                bool outstanding = _inFlight.CurrentCount < Volatile.Read(ref _inFlightCapacity);
                if (epoch != lastEpoch || bytes != lastBytes || !outstanding)
                {
                    lastEpoch = epoch;
                    lastBytes = bytes;
                    quietSince = now;
                    continue;
                }

                if (now - quietSince > _options.ResponseTimeout.TotalMicroseconds)
                {
                    LinkDown(epoch, $"no traffic from the cloud for {_options.ResponseTimeout.TotalSeconds:0.#} s with requests outstanding");
                    quietSince = now;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Feeds one connection's answers to the pipeline, tagged with that connection's epoch.</summary>
    private sealed class ConnectionSink(EdgePipeline pipeline, int epoch) : IEdgeResultSink
    {
        public void OnResult(in ResultMessage result, ReadOnlySpan<float> logits) => pipeline.OnResult(epoch, result);

        public void OnError(ErrorMessage error) => pipeline.OnError(epoch, error);

        public void OnClosed(Exception? error) => pipeline.OnClosed(epoch, error);
    }
}
