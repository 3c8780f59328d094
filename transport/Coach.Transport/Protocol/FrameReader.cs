using System.Buffers;
using Coach.Engine.DataPlane;

namespace Coach.Transport.Protocol;

/// <summary>
/// Cuts frames out of a byte stream (the Kestrel <c>Http2FrameReader</c> pattern): checks the header
/// — magic, version, header CRC, type, length against <see cref="WireLimits"/> — before looking at
/// the payload, returns false while the frame is incomplete, and checks the payload CRC.
/// </summary>
public static class FrameReader
{
    /// <summary>
    /// Tries to read one frame from the start of <paramref name="buffer"/>. On success the buffer is
    /// advanced past the frame and <paramref name="frame"/>'s payload is a slice of the original
    /// buffer. Returns false (buffer unchanged) when more bytes are needed. Throws
    /// <see cref="ProtocolViolationException"/> on a bad header or payload checksum; then the
    /// stream cannot be resynchronised and the connection must close.
    /// </summary>
    public static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, WireLimits limits, out Frame frame)
    {
        frame = default;
        if (buffer.Length < FrameHeader.Size)
        {
            return false;
        }

        FrameHeader header;
        if (buffer.FirstSpan.Length >= FrameHeader.Size)
        {
            header = FrameHeader.Read(buffer.FirstSpan, limits);
        }
        else
        {
            Span<byte> headerBytes = stackalloc byte[FrameHeader.Size];
            buffer.Slice(0, FrameHeader.Size).CopyTo(headerBytes);
            header = FrameHeader.Read(headerBytes, limits);
        }

        long frameLength = FrameHeader.Size + (long)header.PayloadLength;
        if (buffer.Length < frameLength)
        {
            return false;
        }

        ReadOnlySequence<byte> payload = buffer.Slice(FrameHeader.Size, header.PayloadLength);
        uint crc;
        if (payload.IsSingleSegment)
        {
            crc = Crc32C.Compute(payload.FirstSpan);
        }
        else
        {
            crc = Crc32C.Compute(payload.FirstSpan);
            ReadOnlySequence<byte> rest = payload.Slice(payload.FirstSpan.Length);
            foreach (ReadOnlyMemory<byte> segment in rest)
            {
                crc = Crc32C.Append(crc, segment.Span);
            }
        }

        if (crc != header.PayloadCrc)
        {
            throw new ProtocolViolationException(ReasonCode.PayloadChecksumMismatch, $"payload CRC32C 0x{crc:X8} of a {header.Type} frame does not match 0x{header.PayloadCrc:X8} in its header: corrupt payload");
        }

        frame = new Frame(header.Type, header.Flags, payload);
        buffer = buffer.Slice(frameLength);
        return true;
    }

    /// <summary>
    /// Checks what is left when a stream ends: nothing, or it ended inside a frame (truncated).
    /// </summary>
    public static void ThrowIfIncompleteAtEnd(in ReadOnlySequence<byte> remaining)
    {
        if (!remaining.IsEmpty)
        {
            throw new ProtocolViolationException(ReasonCode.ConnectionClosedMidFrame, $"the stream ended inside a frame ({remaining.Length} bytes of an incomplete frame)");
        }
    }
}
