using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Coach.Engine.DataPlane;

/// <summary>
/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF) of frames.
/// Uses the SSE4.2 <c>crc32</c> instruction 8 bytes at a time on x64, the ARMv8 CRC32C instructions on arm64, and a
/// table otherwise; all give the same value. <c>Compute("123456789") == 0xE3069283</c>.
/// </summary>
public static class Crc32C
{
    private const uint ReflectedPolynomial = 0x82F63B78u;
    private static readonly uint[] s_table = BuildTable();

    /// <summary>CRC-32C of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>Continues <paramref name="crc"/> (the result of an earlier Compute/Append, or 0 to start) over more bytes.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data) => ~Update(~crc, data);

    /// <summary>True when a CRC instruction is used on this CPU.</summary>
    public static bool IsHardwareAccelerated => Sse42.X64.IsSupported || Sse42.IsSupported || Crc32.Arm64.IsSupported || Crc32.IsSupported;

    private static uint Update(uint state, ReadOnlySpan<byte> data)
    {
        if (Sse42.X64.IsSupported)
        {
            return UpdateSse42X64(state, data);
        }

        if (Crc32.Arm64.IsSupported)
        {
            return UpdateArm64(state, data);
        }

        return UpdateTable(state, data);
    }

    internal static uint AppendScalar(uint crc, ReadOnlySpan<byte> data) => ~UpdateTable(~crc, data);

    internal static uint UpdateTable(uint state, ReadOnlySpan<byte> data)
    {
        uint[] table = s_table;
        foreach (byte b in data)
        {
            state = table[(byte)(state ^ b)] ^ (state >> 8);
        }

        return state;
    }

    private static uint UpdateSse42X64(uint state, ReadOnlySpan<byte> data)
    {
        ulong wide = state;
        var words = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (ulong word in words)
        {
            wide = Sse42.X64.Crc32(wide, BitConverter.IsLittleEndian ? word : BinaryPrimitives.ReverseEndianness(word));
        }

        state = (uint)wide;
        foreach (byte b in data[(words.Length * sizeof(ulong))..])
        {
            state = Sse42.Crc32(state, b);
        }

        return state;
    }

    private static uint UpdateArm64(uint state, ReadOnlySpan<byte> data)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (ulong word in words)
        {
            state = Crc32.Arm64.ComputeCrc32C(state, BitConverter.IsLittleEndian ? word : BinaryPrimitives.ReverseEndianness(word));
        }

        foreach (byte b in data[(words.Length * sizeof(ulong))..])
        {
            state = Crc32.ComputeCrc32C(state, b);
        }

        return state;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint r = i;
            for (int k = 0; k < 8; k++)
            {
                r = (r & 1) != 0 ? (r >> 1) ^ ReflectedPolynomial : r >> 1;
            }

            table[i] = r;
        }

        return table;
    }
}
