using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Channels;
using Coach.Transport.Connections;
using Coach.Transport.Protocol;

namespace Coach.Transport.Cloud;

/// <summary>
/// One edge connection at the cloud: the handshake (nothing but a Hello is parsed before it
/// succeeds), then Requests → validated, copied out of the pipe and queued at the plan's tail.
/// Answers from the tail loops go through an outgoing queue drained by one writer, so a slow edge
/// never stalls a tail. A protocol violation closes this connection only, with a logged reason.
/// The handshake is in CloudConnection.Handshake.cs, the writer in CloudConnection.Writer.cs.
/// </summary>
internal sealed partial class CloudConnection : ITailRequester
{
    private readonly CloudServer _server;
    private readonly SocketConnection _transport;
    private readonly WireLimits _limits;
    private readonly Channel<Outgoing> _outgoing = Channel.CreateUnbounded<Outgoing>(new UnboundedChannelOptions { SingleReader = true });
    private readonly WireTensor[] _tensors;
    // Cancelled to end this connection's reads early: a shutdown during the handshake, or a
    // violation found after the request was queued (undecodable tensor data, found by the tail).
    private readonly CancellationTokenSource _closing = new();
    private readonly Lock _stateGate = new();
    private byte[] _scratch = [];
    private const int MaxPendingPongs = 16;
    private readonly HashSet<ulong> _requestsInFlight = [];
    private int _inFlight;
    private int _pendingPongs;
    private int _goodbyeSent;
    private int _violated;
    private int _closed;
    private bool _shutdownRequested;
    private IRequestStage? _tail;

    public CloudConnection(CloudServer server, SocketConnection transport, uint id)
    {
        _server = server;
        _transport = transport;
        _limits = server.Options.Limits;
        _tensors = new WireTensor[_limits.MaxTensorsPerFrame];
        Id = id;
    }

    public uint Id { get; }

    public string ClientId { get; private set; } = "?";

    /// <summary>The connection has ended, or is closing for a violation: its requests stop here.</summary>
    public bool IsClosed => Volatile.Read(ref _closed) != 0 || Volatile.Read(ref _violated) != 0;

    private string Describe => $"connection #{Id} ({_transport.RemoteEndPoint}, client {ClientId})";

    /// <param name="stopping">Cancelled when the server stops for good (after the drain, or at once on an abort).</param>
    public async Task RunAsync(CancellationToken stopping)
    {
        Task writer = WriterLoopAsync();
        bool violation = false;
        using var reads = CancellationTokenSource.CreateLinkedTokenSource(stopping, _closing.Token);
        CancellationToken token = reads.Token;
        try
        {
            if (await HandshakeAsync(token).ConfigureAwait(false))
            {
                await RequestLoopAsync(token).ConfigureAwait(false);
                await WaitForInFlightAsync(token).ConfigureAwait(false);
            }
        }
        catch (ProtocolViolationException e)
        {
            violation = true;
            _server.Log($"cloud: {Describe} closed: {e.Reason}: {e.Message}");
            if (IsHandshakeReason(e.Reason))
            {
                // 2xx codes are refusals of the handshake: a Reject (docs/protocol.md §6), e.g. HandshakeTimeout.
                Enqueue(new Outgoing(FrameType.Reject, default, null, new ErrorMessage(0, e.Reason, e.Message)));
            }
            else
            {
                Enqueue(new Outgoing(FrameType.Error, default, null, new ErrorMessage(0, e.Reason, e.Message)));
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            if (Volatile.Read(ref _violated) != 0)
            {
                violation = true; // logged and told by Violate
            }
            else
            {
                SayGoodbye(ReasonCode.ShuttingDown, "the server is shutting down");
            }
        }
        catch (Exception e)
        {
            violation = true;
            _server.CountInternalError();
            _server.Log($"cloud: {Describe} failed: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            Volatile.Write(ref _closed, 1);
            _outgoing.Writer.TryComplete();
            try
            {
                await writer.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            }
            catch (Exception)
            {
            }

            await _transport.CloseAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            await _transport.DisposeAsync().ConfigureAwait(false);
            _server.Metrics.ConnectionClosed(violation);
        }
    }

    /// <summary>
    /// The server is shutting down (docs/protocol.md §1.7): a served edge is told Goodbye
    /// (ShuttingDown) at once and every request it sends until its own Goodbye is still answered;
    /// a connection still in its handshake is told Goodbye and closed. Thread-safe, idempotent.
    /// </summary>
    public void BeginShutdown()
    {
        bool served;
        lock (_stateGate)
        {
            if (_shutdownRequested)
            {
                return;
            }

            _shutdownRequested = true;
            served = _tail is not null;
        }

        if (served)
        {
            SayGoodbye(ReasonCode.ShuttingDown, "the server is shutting down: requests already sent are answered; reconnect to another server");
        }
        else
        {
            _ = _closing.CancelAsync();
        }
    }

    /// <summary>Queues a Result (thread-safe; called by tail loops).</summary>
    public void Answer(in ResultMessage result, ReadOnlySpan<float> logits)
    {
        float[]? copy = null;
        if (!logits.IsEmpty)
        {
            copy = ArrayPool<float>.Shared.Rent(logits.Length);
            logits.CopyTo(copy);
        }

        Enqueue(new Outgoing(FrameType.Result, result, copy, null));
    }

    /// <summary>Queues an Error for one request (thread-safe).</summary>
    public void Fail(ulong requestId, ReasonCode reason, string message) =>
        Enqueue(new Outgoing(FrameType.Error, default, null, new ErrorMessage(requestId, reason, message)));

    /// <summary>
    /// A framing fault found after the request was queued (its tensor data does not decode): like
    /// any 1xx fault it closes the connection with Error(0, reason) (docs/protocol.md §6); requests
    /// still in flight on it are not answered (§1). Thread-safe; called by tail loops.
    /// </summary>
    public void Violate(ReasonCode reason, string message)
    {
        if (Interlocked.Exchange(ref _violated, 1) != 0)
        {
            return;
        }

        _server.Log($"cloud: {Describe} closed: {reason}: {message}");
        Enqueue(new Outgoing(FrameType.Error, default, null, new ErrorMessage(0, reason, message)));
        _ = _closing.CancelAsync();
    }

    private void SayGoodbye(ReasonCode reason, string message)
    {
        if (Interlocked.Exchange(ref _goodbyeSent, 1) == 0)
        {
            Enqueue(new Outgoing(FrameType.Goodbye, default, null, new ErrorMessage(0, reason, message)));
        }
    }

    private static bool IsHandshakeReason(ReasonCode reason) => (ushort)reason is >= 200 and < 300;

    private void Enqueue(in Outgoing outgoing)
    {
        if (outgoing.Type is FrameType.Error or FrameType.Reject)
        {
            _server.Metrics.ErrorSent(outgoing.Error!.Reason);
        }

        if (!_outgoing.Writer.TryWrite(outgoing) && outgoing.Logits is not null)
        {
            ArrayPool<float>.Shared.Return(outgoing.Logits);
        }
    }

    private async Task RequestLoopAsync(CancellationToken stopping)
    {
        PipeReader input = _transport.Input;
        long pendingFirstByte = 0;
        TimeSpan idleTimeout = _server.Options.IdleTimeout;
        CancellationTokenSource idle = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        try
        {
            while (true)
            {
                if (idleTimeout > TimeSpan.Zero)
                {
                    idle.CancelAfter(idleTimeout);
                }

                ReadResult read;
                try
                {
                    read = await input.ReadAsync(idle.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
                {
                    idle.Dispose();
                    idle = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                    if (Volatile.Read(ref _inFlight) > 0)
                    {
                        continue; // the edge is waiting for answers, not idle
                    }

                    _server.Log($"cloud: {Describe} closed: idle for {idleTimeout.TotalSeconds:0.#} s");
                    SayGoodbye(ReasonCode.IdleTimeout, $"no traffic for {idleTimeout.TotalSeconds:0.#} s");
                    return;
                }

                long now = MonotonicClock.NowMicros;
                ReadOnlySequence<byte> buffer = read.Buffer;
                if (pendingFirstByte == 0 && !buffer.IsEmpty)
                {
                    pendingFirstByte = now;
                }

                bool goodbye = false;
                try
                {
                    while (!goodbye && FrameReader.TryReadFrame(ref buffer, _limits, out Frame frame))
                    {
                        goodbye = Handle(frame, pendingFirstByte, now);
                        pendingFirstByte = buffer.IsEmpty ? 0 : now;
                    }
                }
                finally
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                }

                if (goodbye)
                {
                    return;
                }

                if (read.IsCompleted || read.IsCanceled)
                {
                    FrameReader.ThrowIfIncompleteAtEnd(buffer);
                    return;
                }
            }
        }
        finally
        {
            idle.Dispose();
        }
    }

    /// <returns>true when the peer said Goodbye.</returns>
    private bool Handle(in Frame frame, long firstByteMicros, long lastByteMicros)
    {
        switch (frame.Type)
        {
            case FrameType.Request:
                HandleRequest(frame, firstByteMicros, lastByteMicros);
                return false;
            case FrameType.Ping:
                PingMessage ping = PingMessage.Read(frame.GetPayloadSpan(Scratch(frame.PayloadLength)), FrameType.Ping);
                // Bounded (docs/protocol.md §1.5): a peer that pings without reading its answers gets no more Pongs queued.
                if (Interlocked.Increment(ref _pendingPongs) > MaxPendingPongs)
                {
                    Interlocked.Decrement(ref _pendingPongs);
                    return false;
                }

                Enqueue(new Outgoing(FrameType.Pong, default, null, null, null, ping));
                return false;
            case FrameType.Pong:
                // Checked like a Ping (§3: the Ping's 16-byte payload, echoed), then dropped: the cloud sends no Pings of its own.
                _ = PingMessage.Read(frame.GetPayloadSpan(Scratch(frame.PayloadLength)), FrameType.Pong);
                return false;
            case FrameType.Error:
                // §3: Error frames go both ways. The edge's report is logged; it closes when it wants to.
                ErrorMessage error = ErrorMessage.Read(frame, _limits, Scratch(frame.PayloadLength));
                _server.Log($"cloud: {Describe} reports {error.Reason} for {(error.RequestId == 0 ? "the connection" : $"request {error.RequestId}")}: {Printable(error.Message)}");
                return false;
            case FrameType.Goodbye:
                _ = RejectMessage.Read(frame, _limits, Scratch(frame.PayloadLength));
                return true;
            default:
                throw new ProtocolViolationException(ReasonCode.UnexpectedFrame, $"an edge may not send a {frame.Type} frame after the handshake");
        }
    }

    private void HandleRequest(in Frame frame, long firstByteMicros, long lastByteMicros)
    {
        IRequestStage tail = _tail!;
        int length = frame.PayloadLength;
        byte[] data = ArrayPool<byte>.Shared.Rent(Math.Max(1, length));
        frame.Payload.CopyTo(data);
        RequestHeader header;
        try
        {
            header = RequestReader.Read(data.AsSpan(0, length), _limits, _tensors);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(data);
            throw;
        }

        _server.Metrics.RequestReceived(tail.Plan.Id);
        ReadOnlySpan<WireTensor> tensors = _tensors.AsSpan(0, header.TensorCount);
        ReasonCode reason = tail.Validate(tensors, out string message);
        // Every request counts as in flight until its Result or Error is written (see Settle).
        if (Interlocked.Increment(ref _inFlight) > _limits.MaxInFlightPerConnection && reason == ReasonCode.None)
        {
            reason = ReasonCode.TooManyInFlight;
            message = $"more than {_limits.MaxInFlightPerConnection} requests in flight on one connection; wait for answers";
        }

        int shedAt = _server.Options.ShedQueueDepth;
        if (reason == ReasonCode.None && shedAt > 0 && tail.Waiting >= shedAt)
        {
            // Shed rather than queue past the limit: an answer that waits longer than the edge's own model is worth less.
            reason = ReasonCode.Overloaded;
            message = $"the cloud is overloaded: {tail.Waiting} requests of plan {tail.Plan.Id} already wait for its tail (limit {shedAt}); answer the frame on the edge, or move to a plan that does more on the edge";
        }

        bool duplicate;
        lock (_requestsInFlight)
        {
            duplicate = !_requestsInFlight.Add(header.RequestId);
        }

        if (duplicate)
        {
            // Answered once already (or still being answered): the id is not reused, this copy gets an Error
            // that does not settle the original. Counted in flight so Settle balances.
            ArrayPool<byte>.Shared.Return(data);
            _server.Metrics.Failed();
            _server.Log($"cloud: {Describe}: duplicate request id {header.RequestId} ignored");
            Enqueue(new Outgoing(FrameType.Error, default, null, new ErrorMessage(header.RequestId, ReasonCode.DuplicateRequestId, $"request {header.RequestId} is already in flight on this connection"), DuplicateCopy: true));
            return;
        }

        if (reason != ReasonCode.None)
        {
            ArrayPool<byte>.Shared.Return(data);
            _server.Metrics.Failed();
            Fail(header.RequestId, reason, $"request {header.RequestId}: {message}");
            return;
        }

        tail.Enqueue(new TailJob
        {
            Requester = this,
            RequestId = header.RequestId,
            Data = data,
            DataLength = length,
            Tensors = tensors.ToArray(),
            TensorCount = header.TensorCount,
            WantLogits = (frame.Flags & FrameFlags.WantLogits) != 0,
            FirstByteMicros = firstByteMicros,
            LastByteMicros = lastByteMicros,
            EnqueuedMicros = MonotonicClock.NowMicros,
        });
    }

    private async Task WaitForInFlightAsync(CancellationToken stopping)
    {
        // The edge closed its side (or said Goodbye): answer what it already sent, then close.
        while (Volatile.Read(ref _inFlight) > 0 && !stopping.IsCancellationRequested)
        {
            await Task.Delay(1, stopping).ConfigureAwait(false);
        }
    }

    private Span<byte> Scratch(int length)
    {
        if (_scratch.Length < length)
        {
            _scratch = new byte[Math.Max(length, 4096)];
        }

        return _scratch;
    }

    /// <summary>A peer's text made safe for one log line (control characters replaced, length capped).</summary>
    private static string Printable(string text)
    {
        string capped = text.Length > 200 ? text[..200] + "…" : text;
        return string.Create(capped.Length, capped, static (span, source) =>
        {
            for (int i = 0; i < source.Length; i++)
            {
                span[i] = char.IsControl(source[i]) ? '?' : source[i];
            }
        });
    }
}
