using System.Buffers.Binary;
using System.Text;

namespace Coach.Transport.Protocol;

/// <summary>Sequential little-endian field writer over a span (payload encoding).</summary>
public ref struct WireSpanWriter
{
    private readonly Span<byte> _span;
    private int _position;

    public WireSpanWriter(Span<byte> span)
    {
        _span = span;
        _position = 0;
    }

    public readonly int Position => _position;

    /// <summary>The bytes not written yet.</summary>
    public readonly Span<byte> Remaining => _span[_position..];

    public void WriteByte(byte value) => _span[_position++] = value;

    public void WriteUInt16(ushort value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(_span[_position..], value);
        _position += 2;
    }

    public void WriteInt32(int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(_span[_position..], value);
        _position += 4;
    }

    public void WriteUInt32(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_span[_position..], value);
        _position += 4;
    }

    public void WriteInt64(long value)
    {
        BinaryPrimitives.WriteInt64LittleEndian(_span[_position..], value);
        _position += 8;
    }

    public void WriteUInt64(ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(_span[_position..], value);
        _position += 8;
    }

    public void WriteSingle(float value)
    {
        BinaryPrimitives.WriteSingleLittleEndian(_span[_position..], value);
        _position += 4;
    }

    public void WriteBytes(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_span[_position..]);
        _position += bytes.Length;
    }

    /// <summary>Reserves <paramref name="count"/> bytes to be filled in place (e.g. packed tensor data).</summary>
    public Span<byte> Reserve(int count)
    {
        Span<byte> reserved = _span.Slice(_position, count);
        _position += count;
        return reserved;
    }

    /// <summary>u16 length + bytes.</summary>
    public void WriteLengthPrefixed(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > ushort.MaxValue)
        {
            throw new ArgumentException($"a length-prefixed field holds at most 65535 bytes, got {bytes.Length}", nameof(bytes));
        }

        WriteUInt16((ushort)bytes.Length);
        WriteBytes(bytes);
    }

    /// <summary>u16 length + UTF-8.</summary>
    public void WriteString(string? value)
    {
        value ??= string.Empty;
        int count = Encoding.UTF8.GetByteCount(value);
        if (count > ushort.MaxValue)
        {
            throw new ArgumentException($"string of {count} UTF-8 bytes does not fit a u16 length prefix", nameof(value));
        }

        WriteUInt16((ushort)count);
        _position += Encoding.UTF8.GetBytes(value, _span[_position..]);
    }

    /// <summary>Encoded size of <see cref="WriteString"/> for <paramref name="value"/>.</summary>
    public static int StringSize(string? value) => 2 + Encoding.UTF8.GetByteCount(value ?? string.Empty);
}
