using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using Coach.Transport.Security;

namespace Coach.Transport.Protocol;

/// <summary>
/// Pre-shared-key challenge–response of the handshake (docs/protocol.md §4.7), HMAC-SHA256 with a
/// nonce from each side. The Hello's authentication field is <c>u8 scheme (1) + 32-byte client
/// nonce</c>; the cloud answers a <see cref="FrameType.Challenge"/> with its own fresh nonce; the edge
/// sends a <see cref="FrameType.Proof"/> = HMAC(key, "client" ‖ transcript); the cloud's HelloAck
/// carries HMAC(key, "server" ‖ transcript), so each side proves the key to the other. The
/// transcript binds both nonces, the client id and the plan and model hashes, so a recorded proof is
/// worthless on another connection (the server nonce differs) or for another plan.
/// </summary>
public static class HandshakeAuthentication
{
    public const byte SchemeHmacSha256 = 1;
    public const int NonceLength = 32;
    public const int ProofLength = 32;
    public const int ClientFieldLength = 1 + NonceLength;

    private static readonly byte[] Label = Encoding.ASCII.GetBytes("coach-auth-v1");

    /// <summary>The Hello's authentication field for <paramref name="clientNonce"/>.</summary>
    public static byte[] ClientField(ReadOnlySpan<byte> clientNonce)
    {
        CheckNonce(clientNonce);
        byte[] field = new byte[ClientFieldLength];
        field[0] = SchemeHmacSha256;
        clientNonce.CopyTo(field.AsSpan(1));
        return field;
    }

    /// <summary>The client nonce of a Hello's authentication field; a malformed field is an authentication failure.</summary>
    public static bool TryReadClientField(ReadOnlySpan<byte> field, out ReadOnlySpan<byte> clientNonce)
    {
        clientNonce = default;
        if (field.Length != ClientFieldLength || field[0] != SchemeHmacSha256)
        {
            return false;
        }

        clientNonce = field[1..];
        return true;
    }

    public static byte[] ClientProof(PreSharedKey key, HelloMessage hello, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce) =>
        Proof(key, "client", hello, clientNonce, serverNonce);

    public static byte[] ServerProof(PreSharedKey key, HelloMessage hello, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce) =>
        Proof(key, "server", hello, clientNonce, serverNonce);

    /// <summary>Constant-time comparison of a received proof with the expected one.</summary>
    public static bool ProofMatches(ReadOnlySpan<byte> received, ReadOnlySpan<byte> expected) =>
        received.Length == expected.Length && CryptographicOperations.FixedTimeEquals(received, expected);

    public static void WriteChallenge(IBufferWriter<byte> output, ReadOnlySpan<byte> serverNonce)
    {
        CheckNonce(serverNonce);
        var frame = FrameBuilder.Begin(output, FrameType.Challenge, FrameFlags.None, 1 + NonceLength);
        frame.Payload[0] = SchemeHmacSha256;
        serverNonce.CopyTo(frame.Payload[1..]);
        frame.Complete(1 + NonceLength);
    }

    /// <summary>The server nonce of a Challenge frame.</summary>
    public static byte[] ReadChallenge(in Frame frame, Span<byte> scratch)
    {
        HelloMessage.ExpectType(frame, FrameType.Challenge);
        var r = new WireSpanReader(frame.GetPayloadSpan(scratch), FrameType.Challenge);
        byte scheme = r.ReadByte();
        if (scheme != SchemeHmacSha256)
        {
            throw new ProtocolViolationException(ReasonCode.MalformedPayload, $"Challenge names authentication scheme {scheme}; this build knows only {SchemeHmacSha256} (HMAC-SHA256)");
        }

        byte[] nonce = r.ReadBytes(NonceLength).ToArray();
        r.EnsureConsumed();
        return nonce;
    }

    public static void WriteProof(IBufferWriter<byte> output, ReadOnlySpan<byte> proof)
    {
        var frame = FrameBuilder.Begin(output, FrameType.Proof, FrameFlags.None, ProofLength);
        proof.CopyTo(frame.Payload);
        frame.Complete(ProofLength);
    }

    public static byte[] ReadProof(in Frame frame, Span<byte> scratch)
    {
        HelloMessage.ExpectType(frame, FrameType.Proof);
        var r = new WireSpanReader(frame.GetPayloadSpan(scratch), FrameType.Proof);
        byte[] proof = r.ReadBytes(ProofLength).ToArray();
        r.EnsureConsumed();
        return proof;
    }

    private static byte[] Proof(PreSharedKey key, string role, HelloMessage hello, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(hello);
        CheckNonce(clientNonce);
        CheckNonce(serverNonce);
        byte[] clientId = Encoding.UTF8.GetBytes(hello.ClientId);
        using var transcript = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key.Bytes);
        transcript.AppendData(Label);
        transcript.AppendData(Encoding.ASCII.GetBytes(role));
        Span<byte> length = stackalloc byte[2];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(length, (ushort)clientId.Length);
        transcript.AppendData(length);
        transcript.AppendData(clientId);
        transcript.AppendData(hello.ModelSha256);
        transcript.AppendData(hello.PlanHash);
        transcript.AppendData(clientNonce);
        transcript.AppendData(serverNonce);
        return transcript.GetHashAndReset();
    }

    private static void CheckNonce(ReadOnlySpan<byte> nonce)
    {
        if (nonce.Length != NonceLength)
        {
            throw new ArgumentException($"a nonce is {NonceLength} bytes, got {nonce.Length}", nameof(nonce));
        }
    }
}
