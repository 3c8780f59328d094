using System.Buffers.Binary;
using Coach.Engine.DataPlane;

namespace Coach.Transport.Protocol;

/// <summary>
/// The fixed 20-byte frame header (docs/protocol.md §2), little-endian:
/// <code>
///  0  u32 magic "COCH"      8  u32 payload length
///  4  u8  version          12  u32 CRC32C of the payload
///  5  u8  frame type       16  u32 CRC32C of bytes 0..15 (the header CRC)
///  6  u16 flags
/// </code>
/// The header has its own CRC so a corrupt length is caught before a buffer is sized from it.
/// </summary>
public readonly record struct FrameHeader(FrameType Type, FrameFlags Flags, int PayloadLength, uint PayloadCrc)
{
    public const int Size = 20;

    /// <summary>"COCH" read as a little-endian u32.</summary>
    public const uint Magic = 0x48434F43;

    public const byte Version = 1;

    /// <summary>Writes the header, computing its CRC, into <paramref name="destination"/> (at least <see cref="Size"/> bytes).</summary>
    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Magic);
        destination[4] = Version;
        destination[5] = (byte)Type;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], (ushort)Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], (uint)PayloadLength);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], PayloadCrc);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[16..], Crc32C.Compute(destination[..16]));
    }

    /// <summary>
    /// Reads and checks a header: magic, version, header CRC, frame type, and the payload length
    /// against <paramref name="limits"/>. Throws <see cref="ProtocolViolationException"/> on any failure.
    /// </summary>
    public static FrameHeader Read(ReadOnlySpan<byte> source, WireLimits limits)
    {
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(source);
        if (magic != Magic)
        {
            throw new ProtocolViolationException(ReasonCode.BadMagic, $"frame starts with 0x{magic:X8}, expected 0x{Magic:X8} (\"COCH\"): the peer does not speak the Coach protocol or the stream lost sync");
        }

        if (source[4] != Version)
        {
            throw new ProtocolViolationException(ReasonCode.UnsupportedVersion, $"protocol version {source[4]} is not supported; this build speaks version {Version}");
        }

        uint headerCrc = BinaryPrimitives.ReadUInt32LittleEndian(source[16..]);
        uint computed = Crc32C.Compute(source[..16]);
        if (headerCrc != computed)
        {
            throw new ProtocolViolationException(ReasonCode.HeaderChecksumMismatch, $"header CRC32C 0x{headerCrc:X8} does not match the header bytes (0x{computed:X8}): corrupt header");
        }

        byte type = source[5];
        if (type is (< (byte)FrameType.Hello or > (byte)FrameType.Goodbye) and not ((byte)FrameType.Challenge or (byte)FrameType.Proof))
        {
            throw new ProtocolViolationException(ReasonCode.UnknownFrameType, $"frame type {type} is not defined in protocol version {Version}");
        }

        uint length = BinaryPrimitives.ReadUInt32LittleEndian(source[8..]);
        if (length > (uint)limits.MaxFrameBytes)
        {
            throw new ProtocolViolationException(ReasonCode.FrameTooLarge, $"payload length {length} exceeds the limit of {limits.MaxFrameBytes} bytes");
        }

        return new FrameHeader(
            (FrameType)type,
            (FrameFlags)BinaryPrimitives.ReadUInt16LittleEndian(source[6..]),
            (int)length,
            BinaryPrimitives.ReadUInt32LittleEndian(source[12..]));
    }
}
