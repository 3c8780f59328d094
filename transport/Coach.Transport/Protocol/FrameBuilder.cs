using System.Buffers;
using Coach.Engine.DataPlane;

namespace Coach.Transport.Protocol;

/// <summary>
/// Writes one frame straight into an <see cref="IBufferWriter{T}"/> (a <c>PipeWriter</c>): asks for
/// one contiguous span big enough for header + payload, lets the caller fill the payload in place,
/// then back-fills the header with both CRCs and advances. No allocation of its own.
/// </summary>
public ref struct FrameBuilder
{
    private readonly IBufferWriter<byte> _writer;
    private readonly Span<byte> _frame;
    private readonly FrameType _type;
    private readonly FrameFlags _flags;
    private bool _completed;

    private FrameBuilder(IBufferWriter<byte> writer, Span<byte> frame, FrameType type, FrameFlags flags)
    {
        _writer = writer;
        _frame = frame;
        _type = type;
        _flags = flags;
        _completed = false;
    }

    /// <summary>Room for the payload; at least the capacity asked for in <see cref="Begin"/>.</summary>
    public readonly Span<byte> Payload => _frame[FrameHeader.Size..];

    /// <summary>Starts a frame whose payload will be at most <paramref name="payloadCapacity"/> bytes.</summary>
    public static FrameBuilder Begin(IBufferWriter<byte> writer, FrameType type, FrameFlags flags, int payloadCapacity)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentOutOfRangeException.ThrowIfNegative(payloadCapacity);
        int total = checked(FrameHeader.Size + payloadCapacity);
        Span<byte> span = writer.GetSpan(total);
        if (span.Length < total)
        {
            throw new InvalidOperationException($"the buffer writer gave {span.Length} bytes for a {total}-byte frame");
        }

        return new FrameBuilder(writer, span[..total], type, flags);
    }

    /// <summary>Seals the frame with a payload of <paramref name="payloadLength"/> bytes and commits it to the writer.</summary>
    public void Complete(int payloadLength)
    {
        if (_completed)
        {
            throw new InvalidOperationException("the frame was already completed");
        }

        if ((uint)payloadLength > (uint)Payload.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(payloadLength), payloadLength, $"payload length exceeds the {Payload.Length} bytes reserved");
        }

        uint payloadCrc = Crc32C.Compute(Payload[..payloadLength]);
        new FrameHeader(_type, _flags, payloadLength, payloadCrc).Write(_frame);
        _writer.Advance(FrameHeader.Size + payloadLength);
        _completed = true;
    }
}
