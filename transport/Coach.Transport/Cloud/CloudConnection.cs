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
/// </summary>
internal sealed class CloudConnection
{
    private readonly CloudServer _server;
    private readonly SocketConnection _transport;
    private readonly WireLimits _limits;
    private readonly Channel<Outgoing> _outgoing = Channel.CreateUnbounded<Outgoing>(new UnboundedChannelOptions { SingleReader = true });
    private readonly WireTensor[] _tensors;
    private byte[] _scratch = [];
    private const int MaxPendingPongs = 16;
    private readonly HashSet<ulong> _requestsInFlight = [];
    private int _inFlight;
    private int _pendingPongs;
    private TailModel? _tail;

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

    private string Describe => $"connection #{Id} ({_transport.RemoteEndPoint}, client {ClientId})";

    public async Task RunAsync(CancellationToken stopping)
    {
        Task writer = WriterLoopAsync();
        bool violation = false;
        try
        {
            if (await HandshakeAsync(stopping).ConfigureAwait(false))
            {
                await RequestLoopAsync(stopping).ConfigureAwait(false);
                await WaitForInFlightAsync(stopping).ConfigureAwait(false);
            }
        }
        catch (ProtocolViolationException e)
        {
            violation = true;
            _server.Log($"cloud: {Describe} closed: {e.Reason}: {e.Message}");
            Enqueue(new Outgoing(FrameType.Error, default, null, new ErrorMessage(0, e.Reason, e.Message)));
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            Enqueue(new Outgoing(FrameType.Goodbye, default, null, new ErrorMessage(0, ReasonCode.ShuttingDown, "the server is shutting down")));
        }
        catch (Exception e)
        {
            violation = true;
            _server.CountInternalError();
            _server.Log($"cloud: {Describe} failed: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
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

    private void Enqueue(in Outgoing outgoing)
    {
        if (!_outgoing.Writer.TryWrite(outgoing) && outgoing.Logits is not null)
        {
            ArrayPool<float>.Shared.Return(outgoing.Logits);
        }
    }

    private async Task<bool> HandshakeAsync(CancellationToken stopping)
    {
        // One deadline for the whole handshake (Hello, and Proof when authenticating): a client that
        // drips a byte at a time cannot hold the connection past it.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(_server.Options.HandshakeTimeout);
        Frame? first = await ReadHandshakeFrameAsync(timeout.Token, stopping).ConfigureAwait(false);
        if (first is not { } frame)
        {
            return false;
        }

        if (frame.Type != FrameType.Hello)
        {
            Reject(ReasonCode.HandshakeRequired, $"the first frame must be a Hello, got {frame.Type}");
            return false;
        }

        HelloMessage hello = HelloMessage.Read(frame, _limits, Scratch(frame.PayloadLength));
        ClientId = hello.ClientId;
        byte[]? serverProof = null;
        if (_transport.Tls?.PeerCertificate is { } certificate)
        {
            // Mutual TLS verified the certificate against the client CA; it names the edge (docs/security.md §4).
            string commonName = certificate.GetNameInfo(System.Security.Cryptography.X509Certificates.X509NameType.SimpleName, forIssuer: false);
            if (!string.Equals(commonName, hello.ClientId, StringComparison.Ordinal))
            {
                AuthenticationFailed(ReasonCode.AuthenticationFailed, $"the client certificate is issued to '{commonName}', not to client id '{hello.ClientId}'; the Hello's client id must be the certificate's subject CN");
                return false;
            }

            if (hello.Authentication.Length == 0)
            {
                return Accept(hello, serverProof: null); // the certificate is the alternative to the key
            }
        }

        if (_server.Options.Keys is { } keys)
        {
            if (hello.Authentication.Length == 0)
            {
                AuthenticationFailed(ReasonCode.AuthenticationRequired, "this server requires authentication: start the edge with --key FILE (its pre-shared key)");
                return false;
            }

            if (!HandshakeAuthentication.TryReadClientField(hello.Authentication, out ReadOnlySpan<byte> nonce))
            {
                AuthenticationFailed(ReasonCode.AuthenticationFailed, $"the Hello's authentication field ({hello.Authentication.Length} bytes) is not scheme {HandshakeAuthentication.SchemeHmacSha256} with a {HandshakeAuthentication.NonceLength}-byte nonce");
                return false;
            }

            byte[] clientNonce = nonce.ToArray();
            if (!keys.TryGet(hello.ClientId, out var key))
            {
                AuthenticationFailed(ReasonCode.AuthenticationFailed, "unknown client id or wrong key");
                return false;
            }

            // Fresh per connection: a proof recorded on another connection does not answer this nonce.
            byte[] serverNonce = System.Security.Cryptography.RandomNumberGenerator.GetBytes(HandshakeAuthentication.NonceLength);
            Enqueue(new Outgoing(FrameType.Challenge, default, null, null, Nonce: serverNonce));
            Frame? second = await ReadHandshakeFrameAsync(timeout.Token, stopping).ConfigureAwait(false);
            if (second is not { } proofFrame)
            {
                return false;
            }

            if (proofFrame.Type != FrameType.Proof)
            {
                AuthenticationFailed(ReasonCode.AuthenticationRequired, $"expected the authentication Proof, got {proofFrame.Type}: nothing but the handshake is accepted before it succeeds");
                return false;
            }

            byte[] proof = HandshakeAuthentication.ReadProof(proofFrame, Scratch(proofFrame.PayloadLength));
            if (!HandshakeAuthentication.ProofMatches(proof, HandshakeAuthentication.ClientProof(key, hello, clientNonce, serverNonce)))
            {
                AuthenticationFailed(ReasonCode.AuthenticationFailed, "unknown client id or wrong key");
                return false;
            }

            serverProof = HandshakeAuthentication.ServerProof(key, hello, clientNonce, serverNonce);
        }

        return Accept(hello, serverProof);
    }

    /// <summary>Reads one handshake frame (copied out of the pipe); null when the peer closed first.</summary>
    private async Task<Frame?> ReadHandshakeFrameAsync(CancellationToken timeout, CancellationToken stopping)
    {
        PipeReader input = _transport.Input;
        while (true)
        {
            ReadResult read;
            try
            {
                read = await input.ReadAsync(timeout).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
            {
                throw new ProtocolViolationException(ReasonCode.HandshakeTimeout, $"the handshake did not complete within {_server.Options.HandshakeTimeout.TotalSeconds:0.#} s");
            }

            ReadOnlySequence<byte> buffer = read.Buffer;
            if (FrameReader.TryReadFrame(ref buffer, _limits, out Frame frame))
            {
                var copy = new Frame(frame.Type, frame.Flags, new ReadOnlySequence<byte>(frame.Payload.ToArray()));
                input.AdvanceTo(buffer.Start);
                return copy;
            }

            input.AdvanceTo(buffer.Start, buffer.End);
            if (read.IsCompleted)
            {
                FrameReader.ThrowIfIncompleteAtEnd(buffer);
                _server.Log($"cloud: {Describe} closed before its handshake");
                return null;
            }
        }
    }

    private void AuthenticationFailed(ReasonCode reason, string message)
    {
        _server.CountAuthenticationFailure();
        Reject(reason, message);
    }

    private bool Accept(HelloMessage hello, byte[]? serverProof)
    {
        if (hello.ProtocolVersion != FrameHeader.Version)
        {
            Reject(ReasonCode.UnsupportedVersion, $"protocol version {hello.ProtocolVersion} is not supported; this server speaks {FrameHeader.Version}");
            return false;
        }

        PlanDirectory? plan = _server.FindPlan(hello.PlanHash, hello.PlanId, hello.TailName);
        if (plan is null)
        {
            Reject(ReasonCode.UnknownPlan, $"no plan with tail hash {Convert.ToHexStringLower(hello.PlanHash)[..12]}… or id '{hello.PlanId}' under the server's --plans directory; copy the plan directory there");
            return false;
        }

        if (!IsZero(hello.ModelSha256) && !IsZero(plan.ModelSha256) && !hello.ModelSha256.AsSpan().SequenceEqual(plan.ModelSha256))
        {
            Reject(ReasonCode.ModelMismatch, $"plan {plan.Id} was cut from a different model than the edge's (model SHA-256 differs)");
            return false;
        }

        try
        {
            _tail = _server.GetTail(plan);
        }
        catch (Exception e)
        {
            _server.Log($"cloud: {Describe}: the tail of {plan} could not be loaded: {e.Message}");
            Reject(ReasonCode.UnknownPlan, $"the tail of plan {plan.Id} could not be loaded: {e.Message}");
            return false;
        }

        var ack = new HelloAckMessage
        {
            ConnectionId = Id,
            ServerId = _server.Options.ServerId,
            MaxBatch = (ushort)_tail.MaxBatch,
            MaxInFlight = _limits.MaxInFlightPerConnection,
            MaxFrameBytes = _limits.MaxFrameBytes,
            Authentication = serverProof ?? [],
        };
        Enqueue(new Outgoing(FrameType.HelloAck, default, null, null, ack));
        _server.Log($"cloud: {Describe} serves plan {plan.Id} (tail {plan.PlanHashHex[..12]}, batch ≤ {_tail.MaxBatch})");
        return true;
    }

    private void Reject(ReasonCode reason, string message)
    {
        _server.Log($"cloud: {Describe} handshake rejected: {reason}: {message}");
        Enqueue(new Outgoing(FrameType.Reject, default, null, new ErrorMessage(0, reason, message)));
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
                    Enqueue(new Outgoing(FrameType.Goodbye, default, null, new ErrorMessage(0, ReasonCode.IdleTimeout, $"no traffic for {idleTimeout.TotalSeconds:0.#} s")));
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
                // Bounded: a peer that pings without reading its answers gets no more Pongs queued.
                if (Interlocked.Increment(ref _pendingPongs) > MaxPendingPongs)
                {
                    Interlocked.Decrement(ref _pendingPongs);
                    return false;
                }

                Enqueue(new Outgoing(FrameType.Pong, default, null, null, null, PingMessage.Read(frame.GetPayloadSpan(Scratch(frame.PayloadLength)))));
                return false;
            case FrameType.Pong:
                return false;
            case FrameType.Goodbye:
                return true;
            default:
                throw new ProtocolViolationException(ReasonCode.UnexpectedFrame, $"an edge may not send a {frame.Type} frame after the handshake");
        }
    }

    private void HandleRequest(in Frame frame, long firstByteMicros, long lastByteMicros)
    {
        TailModel tail = _tail!;
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

        ReadOnlySpan<WireTensor> tensors = _tensors.AsSpan(0, header.TensorCount);
        ReasonCode reason = tail.Validate(tensors, out string message);
        // Every request counts as in flight until its Result or Error is written (see Settle).
        if (Interlocked.Increment(ref _inFlight) > _limits.MaxInFlightPerConnection && reason == ReasonCode.None)
        {
            reason = ReasonCode.TooManyInFlight;
            message = $"more than {_limits.MaxInFlightPerConnection} requests in flight on one connection; wait for answers";
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
            Connection = this,
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

    private async Task WriterLoopAsync()
    {
        PipeWriter output = _transport.Output;
        ChannelReader<Outgoing> reader = _outgoing.Reader;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                TimeSpan delay = _server.ResponseDelay;
                if (delay > TimeSpan.Zero)
                {
                    await Task.Delay(delay).ConfigureAwait(false); // fault injection: a slow cloud
                }

                while (reader.TryRead(out Outgoing item))
                {
                    Write(output, item);
                }

                FlushResult flush = await output.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or OperationCanceledException)
        {
            // The transport closed under us; nothing more can be told to this edge.
        }
        finally
        {
            while (reader.TryRead(out Outgoing left))
            {
                Settle(left);
            }
        }
    }

    private void Write(PipeWriter output, in Outgoing item)
    {
        try
        {
            switch (item.Type)
            {
                case FrameType.Result:
                    ResultMessage.Write(output, item.Result, item.Logits is null ? [] : item.Logits.AsSpan(0, item.Result.LogitCount));
                    break;
                case FrameType.Error:
                    item.Error!.Write(output);
                    break;
                case FrameType.Reject or FrameType.Goodbye:
                    new RejectMessage(item.Error!.Reason, item.Error.Message).Write(output, item.Type);
                    break;
                case FrameType.HelloAck:
                    item.Ack!.Write(output);
                    break;
                case FrameType.Pong:
                    Interlocked.Decrement(ref _pendingPongs);
                    item.Ping.Write(output, FrameType.Pong);
                    break;
                case FrameType.Challenge:
                    HandshakeAuthentication.WriteChallenge(output, item.Nonce);
                    break;
            }
        }
        finally
        {
            Settle(item);
        }
    }

    private void Settle(in Outgoing item)
    {
        if (item.Logits is not null)
        {
            ArrayPool<float>.Shared.Return(item.Logits);
        }

        if (item.Type == FrameType.Result || (item.Type == FrameType.Error && item.Error!.RequestId != 0))
        {
            if (!item.DuplicateCopy)
            {
                lock (_requestsInFlight)
                {
                    _requestsInFlight.Remove(item.Type == FrameType.Result ? item.Result.RequestId : item.Error!.RequestId);
                }
            }

            Interlocked.Decrement(ref _inFlight);
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

    private static bool IsZero(byte[] digest) => digest.AsSpan().IndexOfAnyExcept((byte)0) < 0;

    private readonly record struct Outgoing(FrameType Type, ResultMessage Result, float[]? Logits, ErrorMessage? Error, HelloAckMessage? Ack = null, PingMessage Ping = default, byte[]? Nonce = null, bool DuplicateCopy = false);
}
