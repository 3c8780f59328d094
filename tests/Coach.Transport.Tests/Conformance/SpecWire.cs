using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Coach.Engine.DataPlane;

namespace Coach.Transport.Tests.Conformance;

/// <summary>
/// Frames encoded and decoded from docs/protocol.md's tables alone (§2 header, §4 payloads), not
/// with the library's writers, so that the suite checks the server against the document.
/// </summary>
internal static class SpecWire
{
    public const uint Magic = 0x48434F43;
    public const int HeaderSize = 20;

    // §3 frame types.
    public const byte Hello = 1, HelloAck = 2, Reject = 3, Request = 4, Result = 5, Error = 6, Ping = 7, Pong = 8, Goodbye = 9, Challenge = 16, Proof = 17;

    /// <summary>§2: magic, version, type, flags, length, payload CRC32C, header CRC32C.</summary>
    public static byte[] Frame(byte type, ReadOnlySpan<byte> payload, ushort flags = 0, byte version = 1, uint magic = Magic, int? declaredLength = null)
    {
        byte[] frame = new byte[HeaderSize + payload.Length];
        Span<byte> h = frame;
        BinaryPrimitives.WriteUInt32LittleEndian(h, magic);
        h[4] = version;
        h[5] = type;
        BinaryPrimitives.WriteUInt16LittleEndian(h[6..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], (uint)(declaredLength ?? payload.Length));
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], Crc32C.Compute(payload));
        BinaryPrimitives.WriteUInt32LittleEndian(h[16..], Crc32C.Compute(h[..16]));
        payload.CopyTo(frame.AsSpan(HeaderSize));
        return frame;
    }

    /// <summary>§4.1 Hello.</summary>
    public static byte[] HelloPayload(string clientId, byte[] modelSha256, string planId, byte[] planHash, string tailName, byte[] authentication, ushort version = 1)
    {
        var w = new Writer();
        w.U16(version).U16(0).Str(clientId).Raw(modelSha256).Str(planId).Raw(planHash).Str(tailName).Bytes(authentication);
        return w.ToArray();
    }

    /// <summary>The Hello's authentication field: u8 scheme 1 + 32-byte client nonce (§4.1, §4.7).</summary>
    public static byte[] AuthField(byte[] clientNonce) => [1, .. clientNonce];

    /// <summary>§4.7: HMAC-SHA256(key, "coach-auth-v1" ‖ role ‖ u16 len(id) ‖ id ‖ model SHA-256 ‖ plan hash ‖ c ‖ s).</summary>
    public static byte[] AuthProof(byte[] key, string role, string clientId, byte[] modelSha256, byte[] planHash, byte[] clientNonce, byte[] serverNonce)
    {
        byte[] id = Encoding.UTF8.GetBytes(clientId);
        var w = new Writer();
        w.Raw(Encoding.ASCII.GetBytes("coach-auth-v1")).Raw(Encoding.ASCII.GetBytes(role)).U16((ushort)id.Length).Raw(id).Raw(modelSha256).Raw(planHash).Raw(clientNonce).Raw(serverNonce);
        return HMACSHA256.HashData(key, w.ToArray());
    }

    /// <summary>One tensor of a §4.4 Request.</summary>
    public sealed record Tensor(ushort Ordinal, byte ElementType, byte Bits, byte Compression, int[] Dims, float Scale, int ZeroPoint, byte[] Data)
    {
        /// <summary>An 8-bit UAQ tensor [1,4,2,2] of the chaos plan (s = 1/255, z = 0) whose tail label is <paramref name="label"/>.</summary>
        public static Tensor ChaosCut(int label)
        {
            byte[] data = new byte[16];
            for (int j = 0; j < 16; j++)
            {
                data[j] = (byte)(j % 10 == label ? 255 : 13 * (j % 3));
            }

            return new Tensor(0, 1, 8, 0, [1, 4, 2, 2], 1f / 255f, 0, data);
        }
    }

    /// <summary>§4.4 Request payload.</summary>
    public static byte[] RequestPayload(ulong requestId, IReadOnlyList<Tensor> tensors, int? declaredCount = null)
    {
        var w = new Writer();
        w.U64(requestId).I64(1).I64(2).U16((ushort)(declaredCount ?? tensors.Count)).U16(0);
        foreach (Tensor t in tensors)
        {
            w.U16(t.Ordinal).U8(t.ElementType).U8(t.Bits).U8(t.Compression).U8((byte)t.Dims.Length).U16(0).F32(t.Scale).I32(t.ZeroPoint);
            foreach (int d in t.Dims)
            {
                w.I32(d);
            }

            w.I32(t.Data.Length).Raw(t.Data);
        }

        return w.ToArray();
    }

    public static byte[] RequestFrame(ulong requestId, params Tensor[] tensors) => Frame(Request, RequestPayload(requestId, tensors));

    /// <summary>Ping / Pong payload: i64 timestamp, u64 nonce.</summary>
    public static byte[] PingPayload(long timestamp, ulong nonce) => new Writer().I64(timestamp).U64(nonce).ToArray();

    /// <summary>§4.3 Reject / Goodbye payload.</summary>
    public static byte[] ReasonPayload(ushort reason, string message) => new Writer().U16(reason).Str(message).ToArray();

    /// <summary>§4.6 Error payload.</summary>
    public static byte[] ErrorPayload(ulong requestId, ushort reason, string message) => new Writer().U64(requestId).U16(reason).Str(message).ToArray();

    /// <summary>A received frame.</summary>
    internal sealed record Received(byte Type, ushort Flags, byte[] Payload)
    {
        /// <summary>Reason and message of a Reject or Goodbye (§4.3).</summary>
        public (ushort Reason, string Message) AsReason()
        {
            ushort reason = BinaryPrimitives.ReadUInt16LittleEndian(Payload);
            return (reason, ReadString(Payload, 2, out _));
        }

        /// <summary>Request id, reason and message of an Error (§4.6).</summary>
        public (ulong RequestId, ushort Reason, string Message) AsError() =>
            (BinaryPrimitives.ReadUInt64LittleEndian(Payload), BinaryPrimitives.ReadUInt16LittleEndian(Payload.AsSpan(8)), ReadString(Payload, 10, out _));

        /// <summary>Request id, label and batch size of a Result (§4.5).</summary>
        public (ulong RequestId, int Label, ushort Batch, ushort LogitCount) AsResult() =>
            (BinaryPrimitives.ReadUInt64LittleEndian(Payload), BinaryPrimitives.ReadInt32LittleEndian(Payload.AsSpan(8)), BinaryPrimitives.ReadUInt16LittleEndian(Payload.AsSpan(12)), BinaryPrimitives.ReadUInt16LittleEndian(Payload.AsSpan(14)));

        /// <summary>The reason code carried by a Reject, Goodbye or Error; 0 for other frames.</summary>
        public ushort Reason => Type switch
        {
            Reject or Goodbye => AsReason().Reason,
            Error => AsError().Reason,
            _ => 0,
        };

        public override string ToString() => Type switch
        {
            Reject or Goodbye => $"{Name(Type)}({AsReason().Reason}: {AsReason().Message})",
            Error => $"Error(request {AsError().RequestId}, {AsError().Reason}: {AsError().Message})",
            _ => $"{Name(Type)}({Payload.Length} B)",
        };
    }

    public static string Name(byte type) => type switch
    {
        Hello => "Hello", HelloAck => "HelloAck", Reject => "Reject", Request => "Request", Result => "Result", Error => "Error",
        Ping => "Ping", Pong => "Pong", Goodbye => "Goodbye", Challenge => "Challenge", Proof => "Proof", _ => $"type {type}",
    };

    /// <summary>Reads a §2 frame from the front of <paramref name="buffer"/>; null when it is not all there yet.</summary>
    public static Received? TryRead(List<byte> buffer)
    {
        if (buffer.Count < HeaderSize)
        {
            return null;
        }

        byte[] header = buffer.GetRange(0, HeaderSize).ToArray();
        if (BinaryPrimitives.ReadUInt32LittleEndian(header) != Magic || header[4] != 1 || BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(16)) != Crc32C.Compute(header.AsSpan(0, 16)))
        {
            throw new InvalidDataException($"the cloud sent a header that breaks §2: {Convert.ToHexString(header)}");
        }

        int length = checked((int)BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8)));
        if (buffer.Count < HeaderSize + length)
        {
            return null;
        }

        byte[] payload = buffer.GetRange(HeaderSize, length).ToArray();
        if (Crc32C.Compute(payload) != BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(12)))
        {
            throw new InvalidDataException("the cloud sent a payload whose CRC32C does not match its header (§2)");
        }

        buffer.RemoveRange(0, HeaderSize + length);
        return new Received(header[5], BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(6)), payload);
    }

    private static string ReadString(byte[] payload, int offset, out int end)
    {
        int length = BinaryPrimitives.ReadUInt16LittleEndian(payload.AsSpan(offset));
        end = offset + 2 + length;
        return Encoding.UTF8.GetString(payload, offset + 2, length);
    }

    /// <summary>Little-endian payload writer (§0: everything is little-endian).</summary>
    internal sealed class Writer
    {
        private readonly List<byte> _bytes = [];

        public Writer U8(byte v) { _bytes.Add(v); return this; }

        public Writer U16(ushort v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); return Raw(b); }

        public Writer I32(int v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteInt32LittleEndian(b, v); return Raw(b); }

        public Writer F32(float v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteSingleLittleEndian(b, v); return Raw(b); }

        public Writer I64(long v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteInt64LittleEndian(b, v); return Raw(b); }

        public Writer U64(ulong v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); return Raw(b); }

        public Writer Raw(ReadOnlySpan<byte> bytes) { foreach (byte x in bytes) { _bytes.Add(x); } return this; }

        public Writer Str(string s) { byte[] b = Encoding.UTF8.GetBytes(s); return U16((ushort)b.Length).Raw(b); }

        public Writer Bytes(byte[] b) => U16((ushort)b.Length).Raw(b);

        public byte[] ToArray() => [.. _bytes];
    }
}
