using System.Buffers;

namespace Coach.Transport.Protocol;

/// <summary>
/// One checked frame: header fields and its payload, a slice of the reader's buffer — valid only
/// until the reader advances past it. Use <see cref="GetPayloadSpan"/> to parse it as one span.
/// </summary>
public readonly struct Frame
{
    public Frame(FrameType type, FrameFlags flags, ReadOnlySequence<byte> payload)
    {
        Type = type;
        Flags = flags;
        Payload = payload;
    }

    public FrameType Type { get; }

    public FrameFlags Flags { get; }

    public ReadOnlySequence<byte> Payload { get; }

    public int PayloadLength => (int)Payload.Length;

    /// <summary>
    /// The payload as one span: the buffer itself when the payload lies in one segment, otherwise a
    /// copy into <paramref name="scratch"/> (which must hold <see cref="PayloadLength"/> bytes).
    /// </summary>
    public ReadOnlySpan<byte> GetPayloadSpan(Span<byte> scratch)
    {
        if (Payload.IsSingleSegment)
        {
            return Payload.FirstSpan;
        }

        if (scratch.Length < PayloadLength)
        {
            throw new ArgumentException($"scratch of {scratch.Length} bytes cannot hold a {PayloadLength}-byte payload", nameof(scratch));
        }

        Payload.CopyTo(scratch);
        return scratch[..PayloadLength];
    }
}
