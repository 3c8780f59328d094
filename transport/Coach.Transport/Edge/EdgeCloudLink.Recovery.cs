namespace Coach.Transport.Edge;

internal sealed partial class EdgeCloudLink
{
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
                Track(Task.Run(() => RecoverAsync(epoch, client, reconnect: false)));
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
        Track(Task.Run(() => RecoverAsync(epoch, client, reconnect: true)));
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

        for (int frame = 0; frame < _ledger.Capacity; frame++)
        {
            if (_ledger.WasSentOn(frame, epoch) && !_ledger.IsFinished(frame))
            {
                if (_fallback is not null)
                {
                    AnswerLocally(frame);
                }
                else
                {
                    CompleteSent(frame, FrameDecision.Failed, -1, MonotonicClock.NowMicros);
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
        for (int attempt = 1; !cancellationToken.IsCancellationRequested && !_ledger.AllAnswered; attempt++)
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
                if (HandshakeRejectedException.IsRefusedForGood(e))
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
        Track(Task.Run(async () =>
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
        }, CancellationToken.None));
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
}
