using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Coach.Transport.Protocol;
using Coach.Transport.Security;

namespace Coach.Transport.Cloud;

internal sealed partial class CloudConnection
{
    /// <summary>Said to every refused proof, for a known or an unknown client id alike (docs/protocol.md §4.7).</summary>
    private const string WrongProof = "unknown client id or wrong key";

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
            string commonName = certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
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
            // An unknown client id gets a decoy key and goes through the very same exchange (Challenge,
            // Proof, HMAC, constant-time compare, Reject): the wire does not tell which ids exist (§4.7).
            PreSharedKey key = keys.KeyOrDecoy(hello.ClientId, out bool known);

            // Fresh per connection: a proof recorded on another connection does not answer this nonce.
            byte[] serverNonce = RandomNumberGenerator.GetBytes(HandshakeAuthentication.NonceLength);
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
            bool matches = HandshakeAuthentication.ProofMatches(proof, HandshakeAuthentication.ClientProof(key, hello, clientNonce, serverNonce));
            if (!(matches & known))
            {
                AuthenticationFailed(ReasonCode.AuthenticationFailed, WrongProof);
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

        IRequestStage tail;
        try
        {
            tail = _server.GetTail(plan);
        }
        catch (Exception e)
        {
            // The cause stays in the cloud's log: runtime exception text never goes on the wire.
            _server.Log($"cloud: {Describe}: the tail of {plan} could not be loaded: {e.GetType().Name}: {e.Message}");
            Reject(ReasonCode.UnknownPlan, $"the tail of plan {plan.Id} could not be loaded on this server (its log says why)");
            return false;
        }

        lock (_stateGate)
        {
            if (_shutdownRequested)
            {
                // Shutting down before the HelloAck: the edge is told to go elsewhere (§1.7).
                SayGoodbye(ReasonCode.ShuttingDown, "the server is shutting down; connect to another server");
                return false;
            }

            _tail = tail;
        }

        var ack = new HelloAckMessage
        {
            ConnectionId = Id,
            ServerId = _server.Options.ServerId,
            MaxBatch = (ushort)tail.MaxBatch,
            MaxInFlight = _limits.MaxInFlightPerConnection,
            MaxFrameBytes = _limits.MaxFrameBytes,
            Authentication = serverProof ?? [],
        };
        Enqueue(new Outgoing(FrameType.HelloAck, default, null, null, ack));
        _server.Log($"cloud: {Describe} serves plan {plan.Id} (tail {plan.PlanHashHex[..12]}, batch ≤ {tail.MaxBatch})");
        return true;
    }

    private void Reject(ReasonCode reason, string message)
    {
        _server.Log($"cloud: {Describe} handshake rejected: {reason}: {message}");
        Enqueue(new Outgoing(FrameType.Reject, default, null, new ErrorMessage(0, reason, message)));
    }

    private static bool IsZero(byte[] digest) => digest.AsSpan().IndexOfAnyExcept((byte)0) < 0;
}
