using System.Buffers;

namespace Coach.Transport.Protocol;

/// <summary>
/// The first frame of a connection, edge → cloud (docs/protocol.md §4.1). Says which tail to load
/// (by plan hash, with the plan id and tail name as fallbacks for humans and logs) and carries an
/// opaque authentication field that the authentication exchange fills; empty means "no auth".
/// </summary>
public sealed record HelloMessage
{
    public const int DigestLength = 32;

    public ushort ProtocolVersion { get; init; } = FrameHeader.Version;

    public string ClientId { get; init; } = string.Empty;

    /// <summary>SHA-256 of the full model the plan was cut from; all zero when unknown.</summary>
    public byte[] ModelSha256 { get; init; } = new byte[DigestLength];

    public string PlanId { get; init; } = string.Empty;

    /// <summary>SHA-256 of the plan's <c>tail.onnx</c> (see <see cref="Cloud.PlanDirectory"/>), the key the cloud loads tails by.</summary>
    public byte[] PlanHash { get; init; } = new byte[DigestLength];

    public string TailName { get; init; } = string.Empty;

    /// <summary>Reserved for authentication (length-prefixed opaque bytes).</summary>
    public byte[] Authentication { get; init; } = [];

    public void Write(IBufferWriter<byte> output)
    {
        if (ModelSha256.Length != DigestLength || PlanHash.Length != DigestLength)
        {
            throw new InvalidOperationException("model and plan digests must be 32 bytes (SHA-256)");
        }

        int size = 2 + 2 + WireSpanWriter.StringSize(ClientId) + DigestLength + WireSpanWriter.StringSize(PlanId)
            + DigestLength + WireSpanWriter.StringSize(TailName) + 2 + Authentication.Length;
        var frame = FrameBuilder.Begin(output, FrameType.Hello, FrameFlags.None, size);
        var w = new WireSpanWriter(frame.Payload);
        w.WriteUInt16(ProtocolVersion);
        w.WriteUInt16(0); // reserved flags
        w.WriteString(ClientId);
        w.WriteBytes(ModelSha256);
        w.WriteString(PlanId);
        w.WriteBytes(PlanHash);
        w.WriteString(TailName);
        w.WriteLengthPrefixed(Authentication);
        frame.Complete(w.Position);
    }

    public static HelloMessage Read(in Frame frame, WireLimits limits, Span<byte> scratch)
    {
        ExpectType(frame, FrameType.Hello);
        var r = new WireSpanReader(frame.GetPayloadSpan(scratch), FrameType.Hello);
        ushort version = r.ReadUInt16();
        _ = r.ReadUInt16();
        var message = new HelloMessage
        {
            ProtocolVersion = version,
            ClientId = r.ReadString(limits.MaxStringBytes, "client id"),
            ModelSha256 = r.ReadBytes(DigestLength).ToArray(),
            PlanId = r.ReadString(limits.MaxStringBytes, "plan id"),
            PlanHash = r.ReadBytes(DigestLength).ToArray(),
            TailName = r.ReadString(limits.MaxStringBytes, "tail name"),
            Authentication = r.ReadLengthPrefixed(limits.MaxAuthBytes, "authentication field").ToArray(),
        };
        r.EnsureConsumed();
        return message;
    }

    internal static void ExpectType(in Frame frame, FrameType expected)
    {
        if (frame.Type != expected)
        {
            throw new ProtocolViolationException(ReasonCode.UnexpectedFrame, $"expected a {expected} frame, got {frame.Type}");
        }
    }
}

/// <summary>Cloud → edge: the handshake succeeded; what the server will accept on this connection.</summary>
public sealed record HelloAckMessage
{
    public ushort ProtocolVersion { get; init; } = FrameHeader.Version;

    public uint ConnectionId { get; init; }

    public string ServerId { get; init; } = string.Empty;

    /// <summary>Largest batch the cloud forms for this tail.</summary>
    public ushort MaxBatch { get; init; }

    /// <summary>Most requests the edge may have outstanding on this connection.</summary>
    public int MaxInFlight { get; init; }

    /// <summary>Largest payload the server accepts.</summary>
    public int MaxFrameBytes { get; init; }

    /// <summary>Reserved for authentication (the server's proof / nonce).</summary>
    public byte[] Authentication { get; init; } = [];

    public void Write(IBufferWriter<byte> output)
    {
        int size = 2 + 4 + WireSpanWriter.StringSize(ServerId) + 2 + 4 + 4 + 2 + Authentication.Length;
        var frame = FrameBuilder.Begin(output, FrameType.HelloAck, FrameFlags.None, size);
        var w = new WireSpanWriter(frame.Payload);
        w.WriteUInt16(ProtocolVersion);
        w.WriteUInt32(ConnectionId);
        w.WriteString(ServerId);
        w.WriteUInt16(MaxBatch);
        w.WriteInt32(MaxInFlight);
        w.WriteInt32(MaxFrameBytes);
        w.WriteLengthPrefixed(Authentication);
        frame.Complete(w.Position);
    }

    public static HelloAckMessage Read(in Frame frame, WireLimits limits, Span<byte> scratch)
    {
        HelloMessage.ExpectType(frame, FrameType.HelloAck);
        var r = new WireSpanReader(frame.GetPayloadSpan(scratch), FrameType.HelloAck);
        var message = new HelloAckMessage
        {
            ProtocolVersion = r.ReadUInt16(),
            ConnectionId = r.ReadUInt32(),
            ServerId = r.ReadString(limits.MaxStringBytes, "server id"),
            MaxBatch = r.ReadUInt16(),
            MaxInFlight = r.ReadInt32(),
            MaxFrameBytes = r.ReadInt32(),
            Authentication = r.ReadLengthPrefixed(limits.MaxAuthBytes, "authentication field").ToArray(),
        };
        r.EnsureConsumed();
        if (message.MaxInFlight < 1 || message.MaxFrameBytes < 1)
        {
            throw new ProtocolViolationException(ReasonCode.MalformedPayload, $"HelloAck announces max in-flight {message.MaxInFlight} and max frame {message.MaxFrameBytes}; both must be positive");
        }

        return message;
    }
}

/// <summary>A reason code and a human-readable message: the payload of Reject (handshake) and Goodbye.</summary>
public sealed record RejectMessage(ReasonCode Reason, string Message)
{
    public void Write(IBufferWriter<byte> output, FrameType type = FrameType.Reject)
    {
        string message = Truncate(Message, 512);
        var frame = FrameBuilder.Begin(output, type, FrameFlags.None, 2 + WireSpanWriter.StringSize(message));
        var w = new WireSpanWriter(frame.Payload);
        w.WriteUInt16((ushort)Reason);
        w.WriteString(message);
        frame.Complete(w.Position);
    }

    public static RejectMessage Read(in Frame frame, WireLimits limits, Span<byte> scratch)
    {
        if (frame.Type is not (FrameType.Reject or FrameType.Goodbye))
        {
            throw new ProtocolViolationException(ReasonCode.UnexpectedFrame, $"expected a Reject or Goodbye frame, got {frame.Type}");
        }

        var r = new WireSpanReader(frame.GetPayloadSpan(scratch), frame.Type);
        var message = new RejectMessage((ReasonCode)r.ReadUInt16(), r.ReadString(limits.MaxStringBytes, "message"));
        r.EnsureConsumed();
        return message;
    }

    internal static string Truncate(string text, int maxChars) => text.Length <= maxChars ? text : text[..maxChars];
}
