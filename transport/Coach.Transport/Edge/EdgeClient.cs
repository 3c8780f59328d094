using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Security.Authentication;
using Coach.Transport.Connections;
using Coach.Transport.Protocol;
using Coach.Transport.Security;
using ProtocolViolationException = Coach.Transport.Protocol.ProtocolViolationException;

namespace Coach.Transport.Edge;

/// <summary>Receives what the cloud answers on an <see cref="EdgeClient"/> (called on its receive loop).</summary>
public interface IEdgeResultSink
{
    /// <summary>A Result; <paramref name="logits"/> is valid only during the call.</summary>
    void OnResult(in ResultMessage result, ReadOnlySpan<float> logits);

    /// <summary>An Error for one request (request id ≠ 0) or for the connection (0).</summary>
    void OnError(ErrorMessage error);

    /// <summary>The connection ended; <paramref name="error"/> says why when it was not orderly.</summary>
    void OnClosed(Exception? error);
}

/// <summary>
/// The edge end of a connection: connects, performs the handshake, then hands the caller
/// <see cref="Output"/> to write Request frames into (see <see cref="RequestFrameWriter"/>) while a
/// receive loop parses Results and Errors and passes them to an <see cref="IEdgeResultSink"/>.
/// </summary>
public sealed class EdgeClient : IAsyncDisposable
{
    private readonly SocketConnection _connection;
    private readonly WireLimits _limits;
    private readonly float[] _logits;
    private byte[] _scratch = new byte[4096];
    private Task _receiveLoop = Task.CompletedTask;

    private EdgeClient(SocketConnection connection, WireLimits limits, HelloAckMessage ack)
    {
        _connection = connection;
        _limits = limits;
        Ack = ack;
        _logits = new float[limits.MaxLogits]; // a coded slice answers its whole output as logits (docs/coded.md §4)
    }

    /// <summary>What the cloud granted in its HelloAck.</summary>
    public HelloAckMessage Ack { get; }

    /// <summary>Where Request frames are written; flush to send.</summary>
    public PipeWriter Output => _connection.Output;

    public SocketConnection Connection => _connection;

    /// <summary>Completes when the receive loop has ended.</summary>
    public Task Completion => _receiveLoop;

    /// <summary>
    /// Connects and shakes hands. Throws <see cref="HandshakeRejectedException"/> when the cloud refuses
    /// (unknown plan, wrong model, wrong key, …) or cannot prove it knows <paramref name="key"/>, and
    /// <see cref="ProtocolViolationException"/> when it answers nonsense. With a key the Hello carries
    /// a fresh client nonce and the HMAC challenge–response of docs/protocol.md §4.7 runs.
    /// </summary>
    /// <remarks>
    /// With <paramref name="tls"/> the TLS handshake runs first, bounded by the same handshake timeout;
    /// a cloud certificate that fails validation throws <see cref="HandshakeRejectedException"/>
    /// (<see cref="ReasonCode.AuthenticationFailed"/>, not retried), other TLS failures <see cref="IOException"/>.
    /// </remarks>
    public static async Task<EdgeClient> ConnectAsync(EndPoint cloud, HelloMessage hello, ConnectionOptions? options = null, WireLimits? limits = null, TimeSpan? handshakeTimeout = null, PreSharedKey? key = null, EdgeTlsSettings? tls = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(hello);
        byte[] clientNonce = [];
        if (key is not null)
        {
            clientNonce = System.Security.Cryptography.RandomNumberGenerator.GetBytes(HandshakeAuthentication.NonceLength);
            hello = hello with { Authentication = HandshakeAuthentication.ClientField(clientNonce) };
        }

        byte[]? serverNonce = null;
        limits ??= WireLimits.Default;
        options ??= ConnectionOptions.For(limits);
        SocketConnection connection = tls is null
            ? await SocketConnection.ConnectAsync(cloud, options, cancellationToken).ConfigureAwait(false)
            : await ConnectTlsAsync(cloud, options, tls, handshakeTimeout ?? TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        try
        {
            hello.Write(connection.Output);
            await connection.Output.FlushAsync(cancellationToken).ConfigureAwait(false);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(handshakeTimeout ?? TimeSpan.FromSeconds(30));
            byte[] scratch = new byte[4096];
            while (true)
            {
                ReadResult read = await connection.Input.ReadAsync(timeout.Token).ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = read.Buffer;
                if (FrameReader.TryReadFrame(ref buffer, limits, out Frame frame))
                {
                    if (frame.PayloadLength > scratch.Length)
                    {
                        scratch = new byte[frame.PayloadLength];
                    }

                    switch (frame.Type)
                    {
                        case FrameType.Challenge:
                            if (key is null)
                            {
                                throw new HandshakeRejectedException(ReasonCode.AuthenticationRequired, $"the cloud at {cloud} requires authentication; give the edge its pre-shared key (--key FILE)");
                            }

                            if (serverNonce is not null)
                            {
                                throw new ProtocolViolationException(ReasonCode.UnexpectedFrame, "the cloud sent a second Challenge");
                            }

                            serverNonce = HandshakeAuthentication.ReadChallenge(frame, scratch);
                            connection.Input.AdvanceTo(buffer.Start);
                            HandshakeAuthentication.WriteProof(connection.Output, HandshakeAuthentication.ClientProof(key, hello, clientNonce, serverNonce));
                            await connection.Output.FlushAsync(timeout.Token).ConfigureAwait(false);
                            continue;
                        case FrameType.HelloAck:
                            HelloAckMessage ack = HelloAckMessage.Read(frame, limits, scratch);
                            connection.Input.AdvanceTo(buffer.Start);
                            if (key is not null)
                            {
                                // The edge authenticates the cloud too: only a holder of the key can answer our nonce.
                                if (serverNonce is null || !HandshakeAuthentication.ProofMatches(ack.Authentication, HandshakeAuthentication.ServerProof(key, hello, clientNonce, serverNonce)))
                                {
                                    throw new HandshakeRejectedException(ReasonCode.AuthenticationFailed, $"the cloud at {cloud} did not prove it holds this edge's key (it runs without authentication or with another key); refusing to send it data");
                                }
                            }

                            return new EdgeClient(connection, limits, ack);
                        case FrameType.Reject or FrameType.Goodbye:
                            RejectMessage reject = RejectMessage.Read(frame, limits, scratch);
                            throw new HandshakeRejectedException(reject.Reason, $"the cloud at {cloud} refused the handshake: {reject.Reason}: {reject.Message}");
                        case FrameType.Error:
                            ErrorMessage error = ErrorMessage.Read(frame, limits, scratch);
                            throw new HandshakeRejectedException(error.Reason, $"the cloud at {cloud} closed the connection: {error.Reason}: {error.Message}");
                        default:
                            throw new ProtocolViolationException(ReasonCode.UnexpectedFrame, $"expected HelloAck from the cloud, got {frame.Type}");
                    }
                }

                connection.Input.AdvanceTo(buffer.Start, buffer.End);
                if (read.IsCompleted)
                {
                    throw new IOException($"the cloud at {cloud} closed the connection during the handshake{(tls is null ? string.Empty : MutualTlsHint)}");
                }
            }
        }
        catch (Exception e) when (tls is not null && e is AuthenticationException or IOException && e.Message.IndexOf(MutualTlsHint, StringComparison.Ordinal) < 0)
        {
            // TLS 1.3 finishes the client's handshake before the cloud has checked the client
            // certificate, so a refusal arrives here, as an alert or a close on the first read.
            await connection.DisposeAsync().ConfigureAwait(false);
            throw new IOException($"the cloud at {cloud} ended the TLS connection during the handshake: {e.Message}{MutualTlsHint}", e);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private const string MutualTlsHint = " (with mutual TLS the cloud closes connections whose client certificate is missing, from another CA, or expired: check --tls-cert/--tls-key and its --tls-client-ca)";

    /// <summary>Connects and runs the TLS handshake within <paramref name="deadline"/>; says in words why the cloud was not trusted.</summary>
    private static async Task<SocketConnection> ConnectTlsAsync(EndPoint cloud, ConnectionOptions options, EdgeTlsSettings tls, TimeSpan deadline, CancellationToken cancellationToken)
    {
        var verdict = new TlsPeerVerdict();
        string targetHost = tls.TargetHostFor(cloud);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(deadline);
        try
        {
            return await SocketConnection.ConnectAsync(cloud, options, tls.CreateClientOptions(targetHost, verdict), timeout.Token).ConfigureAwait(false);
        }
        catch (AuthenticationException e) when (verdict.Failure is { } refused)
        {
            throw new HandshakeRejectedException(ReasonCode.AuthenticationFailed, $"TLS: the cloud at {cloud} is not trusted: {refused}", e);
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            throw new IOException($"TLS handshake with the cloud at {cloud} failed: {e.Message}{(e.InnerException is { } inner ? $" ({inner.Message})" : string.Empty)}; is it serving TLS (coach-cloud serve --tls-cert/--tls-key)?", e);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IOException($"the TLS handshake with the cloud at {cloud} did not complete within {deadline.TotalSeconds:0.#} s");
        }
    }

    /// <summary>Starts the receive loop that feeds <paramref name="sink"/>.</summary>
    public void StartReceiving(IEdgeResultSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        _receiveLoop = Task.Run(() => ReceiveLoopAsync(sink));
    }

    /// <summary>Says Goodbye after the last request (the cloud answers what it has, then closes).</summary>
    public async ValueTask SendGoodbyeAsync()
    {
        new RejectMessage(ReasonCode.None, "done").Write(Output, FrameType.Goodbye);
        await Output.FlushAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _connection.CloseAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        await _connection.DisposeAsync().ConfigureAwait(false);
        try
        {
            await _receiveLoop.ConfigureAwait(false);
        }
        catch (Exception)
        {
        }
    }

    private async Task ReceiveLoopAsync(IEdgeResultSink sink)
    {
        PipeReader input = _connection.Input;
        Exception? failure = null;
        try
        {
            while (true)
            {
                ReadResult read = await input.ReadAsync().ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = read.Buffer;
                try
                {
                    while (FrameReader.TryReadFrame(ref buffer, _limits, out Frame frame))
                    {
                        Dispatch(frame, sink);
                    }
                }
                finally
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                }

                if (read.IsCompleted || read.IsCanceled)
                {
                    FrameReader.ThrowIfIncompleteAtEnd(buffer);
                    break;
                }
            }
        }
        catch (Exception e)
        {
            failure = e;
        }
        finally
        {
            await input.CompleteAsync().ConfigureAwait(false);
            sink.OnClosed(failure);
        }
    }

    private void Dispatch(in Frame frame, IEdgeResultSink sink)
    {
        switch (frame.Type)
        {
            case FrameType.Result:
                ResultMessage result = ResultMessage.Read(frame.GetPayloadSpan(Scratch(frame.PayloadLength)), _limits, _logits);
                sink.OnResult(result, _logits.AsSpan(0, Math.Min(result.LogitCount, _logits.Length)));
                break;
            case FrameType.Error:
                sink.OnError(ErrorMessage.Read(frame, _limits, Scratch(frame.PayloadLength)));
                break;
            case FrameType.Goodbye:
                RejectMessage bye = RejectMessage.Read(frame, _limits, Scratch(frame.PayloadLength));
                sink.OnError(new ErrorMessage(0, bye.Reason, $"the cloud said goodbye: {bye.Message}"));
                break;
            case FrameType.Ping or FrameType.Pong:
                // The send path owns Output; liveness is judged by traffic, so pings need no answer here.
                break;
            default:
                throw new ProtocolViolationException(ReasonCode.UnexpectedFrame, $"the cloud may not send a {frame.Type} frame after the handshake");
        }
    }

    private Span<byte> Scratch(int length)
    {
        if (_scratch.Length < length)
        {
            _scratch = new byte[length];
        }

        return _scratch;
    }
}

/// <summary>The cloud refused the handshake; <see cref="Reason"/> says why.</summary>
public sealed class HandshakeRejectedException : Exception
{
    public HandshakeRejectedException()
    {
    }

    public HandshakeRejectedException(string message)
        : base(message)
    {
    }

    public HandshakeRejectedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public HandshakeRejectedException(ReasonCode reason, string message)
        : base(message)
    {
        Reason = reason;
    }

    public HandshakeRejectedException(ReasonCode reason, string message, Exception innerException)
        : base(message, innerException)
    {
        Reason = reason;
    }

    public ReasonCode Reason { get; }

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
}
