using System.Buffers;

namespace Coach.Transport.Protocol;

/// <summary>
/// Cloud → edge, the answer to one request (docs/protocol.md §4.5). Timestamps are microseconds on
/// the cloud's monotonic clock; only their differences mean anything to the edge
/// (<see cref="LastByteMicros"/> − <see cref="FirstByteMicros"/> is how long the request took to arrive,
/// which gives a bandwidth sample).
/// </summary>
public readonly record struct ResultMessage(
    ulong RequestId,
    int Label,
    int BatchSize,
    int CloudComputeMicros,
    int QueueMicros,
    long FirstByteMicros,
    long LastByteMicros,
    int LogitCount)
{
    public const int FixedSize = 8 + 4 + 2 + 2 + 4 + 4 + 8 + 8;

    /// <summary>Writes a Result frame; <paramref name="logits"/> may be empty.</summary>
    public static void Write(IBufferWriter<byte> output, in ResultMessage result, ReadOnlySpan<float> logits)
    {
        var frame = FrameBuilder.Begin(output, FrameType.Result, FrameFlags.None, FixedSize + (4 * logits.Length));
        var w = new WireSpanWriter(frame.Payload);
        w.WriteUInt64(result.RequestId);
        w.WriteInt32(result.Label);
        w.WriteUInt16((ushort)Math.Clamp(result.BatchSize, 0, ushort.MaxValue));
        w.WriteUInt16(checked((ushort)logits.Length));
        w.WriteInt32(result.CloudComputeMicros);
        w.WriteInt32(result.QueueMicros);
        w.WriteInt64(result.FirstByteMicros);
        w.WriteInt64(result.LastByteMicros);
        foreach (float logit in logits)
        {
            w.WriteSingle(logit);
        }

        frame.Complete(w.Position);
    }

    /// <summary>
    /// Reads a Result payload without allocating; copies up to <paramref name="logits"/>.Length logits
    /// (the count on the wire is in <see cref="LogitCount"/>).
    /// </summary>
    public static ResultMessage Read(ReadOnlySpan<byte> payload, WireLimits limits, Span<float> logits)
    {
        var r = new WireSpanReader(payload, FrameType.Result);
        ulong id = r.ReadUInt64();
        int label = r.ReadInt32();
        int batch = r.ReadUInt16();
        int count = r.ReadUInt16();
        int compute = r.ReadInt32();
        int queue = r.ReadInt32();
        long first = r.ReadInt64();
        long last = r.ReadInt64();
        if (count > limits.MaxLogits)
        {
            throw new ProtocolViolationException(ReasonCode.TensorTooLarge, $"result {id} carries {count} logits; the limit is {limits.MaxLogits}");
        }

        for (int i = 0; i < count; i++)
        {
            float value = r.ReadSingle();
            if (i < logits.Length)
            {
                logits[i] = value;
            }
        }

        r.EnsureConsumed();
        return new ResultMessage(id, label, batch, compute, queue, first, last, count);
    }
}

/// <summary>Either direction: a request failed (request id ≠ 0) or the connection is about to close (request id 0).</summary>
public sealed record ErrorMessage(ulong RequestId, ReasonCode Reason, string Message)
{
    public void Write(IBufferWriter<byte> output)
    {
        string message = RejectMessage.Truncate(Message, 512);
        var frame = FrameBuilder.Begin(output, FrameType.Error, FrameFlags.None, 8 + 2 + WireSpanWriter.StringSize(message));
        var w = new WireSpanWriter(frame.Payload);
        w.WriteUInt64(RequestId);
        w.WriteUInt16((ushort)Reason);
        w.WriteString(message);
        frame.Complete(w.Position);
    }

    public static ErrorMessage Read(in Frame frame, WireLimits limits, Span<byte> scratch)
    {
        HelloMessage.ExpectType(frame, FrameType.Error);
        var r = new WireSpanReader(frame.GetPayloadSpan(scratch), FrameType.Error);
        var message = new ErrorMessage(r.ReadUInt64(), (ReasonCode)r.ReadUInt16(), r.ReadString(limits.MaxStringBytes, "message"));
        r.EnsureConsumed();
        return message;
    }
}

/// <summary>Ping / Pong payload: the sender's timestamp and a nonce, echoed unchanged by the Pong.</summary>
public readonly record struct PingMessage(long TimestampMicros, ulong Nonce)
{
    public const int Size = 16;

    public void Write(IBufferWriter<byte> output, FrameType type = FrameType.Ping)
    {
        if (type is not (FrameType.Ping or FrameType.Pong))
        {
            throw new ArgumentOutOfRangeException(nameof(type), type, "a ping payload travels in a Ping or Pong frame");
        }

        var frame = FrameBuilder.Begin(output, type, FrameFlags.None, Size);
        var w = new WireSpanWriter(frame.Payload);
        w.WriteInt64(TimestampMicros);
        w.WriteUInt64(Nonce);
        frame.Complete(w.Position);
    }

    /// <summary>Reads a Ping's payload, or the Pong that echoes one (<paramref name="type"/> names the frame in faults).</summary>
    public static PingMessage Read(ReadOnlySpan<byte> payload, FrameType type = FrameType.Ping)
    {
        var r = new WireSpanReader(payload, type);
        var message = new PingMessage(r.ReadInt64(), r.ReadUInt64());
        r.EnsureConsumed();
        return message;
    }
}
