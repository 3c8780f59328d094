using System.Buffers.Binary;
using System.Text;

namespace Coach.Transport.Protocol;

/// <summary>
/// Sequential little-endian field reader over a payload span. Every read checks that the bytes are
/// there (a short payload is <see cref="ReasonCode.TruncatedPayload"/>) and every length field is
/// checked against a limit before it is used.
/// </summary>
public ref struct WireSpanReader
{
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    private readonly ReadOnlySpan<byte> _span;
    private readonly FrameType _frameType;
    private int _position;

    public WireSpanReader(ReadOnlySpan<byte> span, FrameType frameType)
    {
        _span = span;
        _frameType = frameType;
        _position = 0;
    }

    public readonly int Position => _position;

    public readonly int RemainingCount => _span.Length - _position;

    public byte ReadByte() => Take(1)[0];

    public ushort ReadUInt16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));

    public int ReadInt32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

    public uint ReadUInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

    public long ReadInt64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

    public ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    public float ReadSingle() => BinaryPrimitives.ReadSingleLittleEndian(Take(4));

    public ReadOnlySpan<byte> ReadBytes(int count) => Take(count);

    /// <summary>u16 length (checked against <paramref name="maxBytes"/>) + bytes.</summary>
    public ReadOnlySpan<byte> ReadLengthPrefixed(int maxBytes, string field)
    {
        int length = ReadUInt16();
        if (length > maxBytes)
        {
            throw new ProtocolViolationException(ReasonCode.StringTooLong, $"{field} of {length} bytes in a {_frameType} frame exceeds the limit of {maxBytes}");
        }

        return Take(length);
    }

    /// <summary>u16 length (checked against <paramref name="maxBytes"/>) + UTF-8.</summary>
    public string ReadString(int maxBytes, string field)
    {
        ReadOnlySpan<byte> bytes = ReadLengthPrefixed(maxBytes, field);
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            // Our words only: runtime exception text never goes on the wire.
            throw new ProtocolViolationException(ReasonCode.MalformedPayload, $"{field} in a {_frameType} frame is not valid UTF-8");
        }
    }

    /// <summary>Throws unless the whole payload was consumed (trailing bytes mean a malformed frame).</summary>
    public readonly void EnsureConsumed()
    {
        if (_position != _span.Length)
        {
            throw new ProtocolViolationException(ReasonCode.MalformedPayload, $"{_span.Length - _position} unexpected trailing bytes in a {_frameType} frame");
        }
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count < 0 || count > _span.Length - _position)
        {
            throw new ProtocolViolationException(ReasonCode.TruncatedPayload, $"{_frameType} payload of {_span.Length} bytes ends at offset {_position} where {count} more bytes were expected");
        }

        ReadOnlySpan<byte> slice = _span.Slice(_position, count);
        _position += count;
        return slice;
    }
}
