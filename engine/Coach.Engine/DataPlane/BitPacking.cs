using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Coach.Engine.DataPlane;

/// <summary>
/// Dense LSB-first bit packing of b-bit codes (b = 1…8): code i occupies bits [i·b, i·b + b) of the stream, where stream bit k
/// is bit (k mod 8) of byte k / 8. No padding between codes; the last byte's unused high bits are 0.
/// </summary>
/// <remarks>
/// <see cref="VectorWidth.Scalar"/> is the reference (a bit accumulator). The other widths pack 4/2/1-bit codes with SIMD
/// shifts and narrowing, 3/5/6/7-bit codes eight at a time into b bytes, and finish with the reference on the last codes.
/// Callers hand whole chunks whose length is a multiple of 8 except at the end of a tensor, so every chunk starts on a byte.
/// </remarks>
internal static class BitPacking
{
    /// <summary>Byte → eight 1-bit codes, as a little-endian ulong (one code per byte).</summary>
    private static readonly ulong[] s_oneBitCodes = BuildOneBitCodes();

    public static int PackedByteCount(int valueCount, int bits) => (int)(((long)valueCount * bits + 7) >> 3);

    // ---------------------------------------------------------------- pack

    public static void Pack(ReadOnlySpan<byte> codes, int bits, Span<byte> packed, VectorWidth width)
    {
        if (bits == 8)
        {
            codes.CopyTo(packed);
            return;
        }

        int done = width == VectorWidth.Scalar ? 0 : bits switch
        {
            4 => Pack4(codes, packed, width),
            2 => Pack2(codes, packed, width),
            1 => Pack1(codes, packed, width),
            _ => PackGroupsOfEight(codes, bits, packed),
        };
        PackReference(codes[done..], bits, packed[(done * bits >> 3)..]);
    }

    /// <summary>The reference packer: a bit accumulator.</summary>
    public static void PackReference(ReadOnlySpan<byte> codes, int bits, Span<byte> packed)
    {
        uint accumulator = 0;
        int pending = 0;
        int o = 0;
        foreach (byte code in codes)
        {
            accumulator |= (uint)code << pending;
            pending += bits;
            if (pending >= 8)
            {
                packed[o++] = (byte)accumulator;
                accumulator >>= 8;
                pending -= 8;
            }
        }

        if (pending > 0)
        {
            packed[o] = (byte)accumulator;
        }
    }

    private static int Pack4(ReadOnlySpan<byte> codes, Span<byte> packed, VectorWidth width)
    {
        ref byte c = ref MemoryMarshal.GetReference(codes);
        ref byte p = ref MemoryMarshal.GetReference(packed);
        int n = codes.Length;
        int i = 0;
        // Two codes per byte: as ushort lanes (lo | hi << 8), lo | hi << 4 sits in the low byte of u | u >> 4.
        if (width == VectorWidth.V512)
        {
            for (; i <= n - 128; i += 128)
            {
                var a = Vector512.LoadUnsafe(ref c, (nuint)i).AsUInt16();
                var b = Vector512.LoadUnsafe(ref c, (nuint)(i + 64)).AsUInt16();
                Vector512.Narrow(a | (a >> 4), b | (b >> 4)).StoreUnsafe(ref p, (nuint)(i >> 1));
            }
        }
        else if (width == VectorWidth.V256)
        {
            for (; i <= n - 64; i += 64)
            {
                var a = Vector256.LoadUnsafe(ref c, (nuint)i).AsUInt16();
                var b = Vector256.LoadUnsafe(ref c, (nuint)(i + 32)).AsUInt16();
                Vector256.Narrow(a | (a >> 4), b | (b >> 4)).StoreUnsafe(ref p, (nuint)(i >> 1));
            }
        }
        else
        {
            for (; i <= n - 32; i += 32)
            {
                var a = Vector128.LoadUnsafe(ref c, (nuint)i).AsUInt16();
                var b = Vector128.LoadUnsafe(ref c, (nuint)(i + 16)).AsUInt16();
                Vector128.Narrow(a | (a >> 4), b | (b >> 4)).StoreUnsafe(ref p, (nuint)(i >> 1));
            }
        }

        return i;
    }

    private static int Pack2(ReadOnlySpan<byte> codes, Span<byte> packed, VectorWidth width)
    {
        ref byte c = ref MemoryMarshal.GetReference(codes);
        ref byte p = ref MemoryMarshal.GetReference(packed);
        int n = codes.Length;
        int i = 0;
        // Four codes per byte: as uint lanes (q0 | q1 << 8 | q2 << 16 | q3 << 24), t = u | u >> 6 puts q1 at bit 2 and q3 at
        // bit 18; t | t >> 12 brings q2 to bit 4 and q3 to bit 6 of the low byte, which the two narrowings keep.
        if (width == VectorWidth.V512)
        {
            for (; i <= n - 256; i += 256)
            {
                var t0 = Fold2(Vector512.LoadUnsafe(ref c, (nuint)i).AsUInt32());
                var t1 = Fold2(Vector512.LoadUnsafe(ref c, (nuint)(i + 64)).AsUInt32());
                var t2 = Fold2(Vector512.LoadUnsafe(ref c, (nuint)(i + 128)).AsUInt32());
                var t3 = Fold2(Vector512.LoadUnsafe(ref c, (nuint)(i + 192)).AsUInt32());
                Vector512.Narrow(Vector512.Narrow(t0, t1), Vector512.Narrow(t2, t3)).StoreUnsafe(ref p, (nuint)(i >> 2));
            }
        }
        else if (width == VectorWidth.V256)
        {
            for (; i <= n - 128; i += 128)
            {
                var t0 = Fold2(Vector256.LoadUnsafe(ref c, (nuint)i).AsUInt32());
                var t1 = Fold2(Vector256.LoadUnsafe(ref c, (nuint)(i + 32)).AsUInt32());
                var t2 = Fold2(Vector256.LoadUnsafe(ref c, (nuint)(i + 64)).AsUInt32());
                var t3 = Fold2(Vector256.LoadUnsafe(ref c, (nuint)(i + 96)).AsUInt32());
                Vector256.Narrow(Vector256.Narrow(t0, t1), Vector256.Narrow(t2, t3)).StoreUnsafe(ref p, (nuint)(i >> 2));
            }
        }
        else
        {
            for (; i <= n - 64; i += 64)
            {
                var t0 = Fold2(Vector128.LoadUnsafe(ref c, (nuint)i).AsUInt32());
                var t1 = Fold2(Vector128.LoadUnsafe(ref c, (nuint)(i + 16)).AsUInt32());
                var t2 = Fold2(Vector128.LoadUnsafe(ref c, (nuint)(i + 32)).AsUInt32());
                var t3 = Fold2(Vector128.LoadUnsafe(ref c, (nuint)(i + 48)).AsUInt32());
                Vector128.Narrow(Vector128.Narrow(t0, t1), Vector128.Narrow(t2, t3)).StoreUnsafe(ref p, (nuint)(i >> 2));
            }
        }

        return i;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> Fold2(Vector512<uint> u)
    {
        var t = u | (u >> 6);
        return t | (t >> 12);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Fold2(Vector256<uint> u)
    {
        var t = u | (u >> 6);
        return t | (t >> 12);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> Fold2(Vector128<uint> u)
    {
        var t = u | (u >> 6);
        return t | (t >> 12);
    }

    private static int Pack1(ReadOnlySpan<byte> codes, Span<byte> packed, VectorWidth width)
    {
        ref byte c = ref MemoryMarshal.GetReference(codes);
        int n = codes.Length;
        int i = 0;
        // Codes are 0 or 1: adding 127 sets the top bit exactly for 1, and the sign-bit mask is already LSB-first.
        if (width == VectorWidth.V512)
        {
            var bias = Vector512.Create((byte)127);
            for (; i <= n - 64; i += 64)
            {
                ulong mask = (Vector512.LoadUnsafe(ref c, (nuint)i) + bias).ExtractMostSignificantBits();
                BinaryPrimitives.WriteUInt64LittleEndian(packed[(i >> 3)..], mask);
            }
        }
        else if (width == VectorWidth.V256)
        {
            var bias = Vector256.Create((byte)127);
            for (; i <= n - 32; i += 32)
            {
                uint mask = (Vector256.LoadUnsafe(ref c, (nuint)i) + bias).ExtractMostSignificantBits();
                BinaryPrimitives.WriteUInt32LittleEndian(packed[(i >> 3)..], mask);
            }
        }
        else
        {
            var bias = Vector128.Create((byte)127);
            for (; i <= n - 16; i += 16)
            {
                uint mask = (Vector128.LoadUnsafe(ref c, (nuint)i) + bias).ExtractMostSignificantBits();
                BinaryPrimitives.WriteUInt16LittleEndian(packed[(i >> 3)..], (ushort)mask);
            }
        }

        return i;
    }

    /// <summary>3, 5, 6 and 7 bits: eight codes → one 64-bit word → b bytes.</summary>
    private static int PackGroupsOfEight(ReadOnlySpan<byte> codes, int bits, Span<byte> packed)
    {
        ref byte c = ref MemoryMarshal.GetReference(codes);
        ref byte p = ref MemoryMarshal.GetReference(packed);
        int n = codes.Length;
        int i = 0;
        int o = 0;
        for (; i <= n - 8; i += 8, o += bits)
        {
            ulong word = 0;
            for (int k = 0; k < 8; k++)
            {
                word |= (ulong)Unsafe.Add(ref c, i + k) << (k * bits);
            }

            if (o + 8 <= packed.Length)
            {
                // The bytes past b are zero and are overwritten by the next group.
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref p, o), BitConverter.IsLittleEndian ? word : BinaryPrimitives.ReverseEndianness(word));
            }
            else
            {
                for (int k = 0; k < bits; k++)
                {
                    Unsafe.Add(ref p, o + k) = (byte)(word >> (8 * k));
                }
            }
        }

        return i;
    }

    // ---------------------------------------------------------------- unpack

    public static void Unpack(ReadOnlySpan<byte> packed, int bits, Span<byte> codes, VectorWidth width)
    {
        if (bits == 8)
        {
            packed[..codes.Length].CopyTo(codes);
            return;
        }

        int done = width == VectorWidth.Scalar ? 0 : bits switch
        {
            4 => Unpack4(packed, codes, width),
            2 => Unpack2(packed, codes, width),
            1 => Unpack1(packed, codes),
            _ => UnpackGroupsOfEight(packed, bits, codes),
        };
        UnpackReference(packed[(done * bits >> 3)..], bits, codes[done..]);
    }

    /// <summary>The reference unpacker: a bit reader.</summary>
    public static void UnpackReference(ReadOnlySpan<byte> packed, int bits, Span<byte> codes)
    {
        uint mask = (1u << bits) - 1;
        uint accumulator = 0;
        int available = 0;
        int b = 0;
        for (int i = 0; i < codes.Length; i++)
        {
            if (available < bits)
            {
                accumulator |= (uint)packed[b++] << available;
                available += 8;
            }

            codes[i] = (byte)(accumulator & mask);
            accumulator >>= bits;
            available -= bits;
        }
    }

    private static int Unpack4(ReadOnlySpan<byte> packed, Span<byte> codes, VectorWidth width)
    {
        ref byte p = ref MemoryMarshal.GetReference(packed);
        ref byte c = ref MemoryMarshal.GetReference(codes);
        int n = codes.Length;
        int i = 0;
        // Widen each packed byte b to a ushort lane; (b & 0xF) | (b >> 4) << 8 is the two codes in memory order.
        if (width == VectorWidth.V512)
        {
            var low = Vector512.Create((ushort)0x000F);
            var high = Vector512.Create((ushort)0x0F00);
            for (; i <= n - 128; i += 128)
            {
                var (a, b) = Vector512.Widen(Vector512.LoadUnsafe(ref p, (nuint)(i >> 1)));
                ((a & low) | ((a << 4) & high)).AsByte().StoreUnsafe(ref c, (nuint)i);
                ((b & low) | ((b << 4) & high)).AsByte().StoreUnsafe(ref c, (nuint)(i + 64));
            }
        }
        else if (width == VectorWidth.V256)
        {
            var low = Vector256.Create((ushort)0x000F);
            var high = Vector256.Create((ushort)0x0F00);
            for (; i <= n - 64; i += 64)
            {
                var (a, b) = Vector256.Widen(Vector256.LoadUnsafe(ref p, (nuint)(i >> 1)));
                ((a & low) | ((a << 4) & high)).AsByte().StoreUnsafe(ref c, (nuint)i);
                ((b & low) | ((b << 4) & high)).AsByte().StoreUnsafe(ref c, (nuint)(i + 32));
            }
        }
        else
        {
            var low = Vector128.Create((ushort)0x000F);
            var high = Vector128.Create((ushort)0x0F00);
            for (; i <= n - 32; i += 32)
            {
                var (a, b) = Vector128.Widen(Vector128.LoadUnsafe(ref p, (nuint)(i >> 1)));
                ((a & low) | ((a << 4) & high)).AsByte().StoreUnsafe(ref c, (nuint)i);
                ((b & low) | ((b << 4) & high)).AsByte().StoreUnsafe(ref c, (nuint)(i + 16));
            }
        }

        return i;
    }

    private static int Unpack2(ReadOnlySpan<byte> packed, Span<byte> codes, VectorWidth width)
    {
        ref byte p = ref MemoryMarshal.GetReference(packed);
        ref byte c = ref MemoryMarshal.GetReference(codes);
        int n = codes.Length;
        int i = 0;
        // Widen each packed byte b to a uint lane and spread its four 2-bit fields to bytes 0..3.
        if (width == VectorWidth.V512)
        {
            for (; i <= n - 256; i += 256)
            {
                var (a, b) = Vector512.Widen(Vector512.LoadUnsafe(ref p, (nuint)(i >> 2)));
                var (a0, a1) = Vector512.Widen(a);
                var (b0, b1) = Vector512.Widen(b);
                Spread2(a0).AsByte().StoreUnsafe(ref c, (nuint)i);
                Spread2(a1).AsByte().StoreUnsafe(ref c, (nuint)(i + 64));
                Spread2(b0).AsByte().StoreUnsafe(ref c, (nuint)(i + 128));
                Spread2(b1).AsByte().StoreUnsafe(ref c, (nuint)(i + 192));
            }
        }
        else if (width == VectorWidth.V256)
        {
            for (; i <= n - 128; i += 128)
            {
                var (a, b) = Vector256.Widen(Vector256.LoadUnsafe(ref p, (nuint)(i >> 2)));
                var (a0, a1) = Vector256.Widen(a);
                var (b0, b1) = Vector256.Widen(b);
                Spread2(a0).AsByte().StoreUnsafe(ref c, (nuint)i);
                Spread2(a1).AsByte().StoreUnsafe(ref c, (nuint)(i + 32));
                Spread2(b0).AsByte().StoreUnsafe(ref c, (nuint)(i + 64));
                Spread2(b1).AsByte().StoreUnsafe(ref c, (nuint)(i + 96));
            }
        }
        else
        {
            for (; i <= n - 64; i += 64)
            {
                var (a, b) = Vector128.Widen(Vector128.LoadUnsafe(ref p, (nuint)(i >> 2)));
                var (a0, a1) = Vector128.Widen(a);
                var (b0, b1) = Vector128.Widen(b);
                Spread2(a0).AsByte().StoreUnsafe(ref c, (nuint)i);
                Spread2(a1).AsByte().StoreUnsafe(ref c, (nuint)(i + 16));
                Spread2(b0).AsByte().StoreUnsafe(ref c, (nuint)(i + 32));
                Spread2(b1).AsByte().StoreUnsafe(ref c, (nuint)(i + 48));
            }
        }

        return i;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> Spread2(Vector512<uint> w) =>
        (w & Vector512.Create(0x3u)) | ((w << 6) & Vector512.Create(0x300u)) | ((w << 12) & Vector512.Create(0x30000u)) | ((w << 18) & Vector512.Create(0x3000000u));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Spread2(Vector256<uint> w) =>
        (w & Vector256.Create(0x3u)) | ((w << 6) & Vector256.Create(0x300u)) | ((w << 12) & Vector256.Create(0x30000u)) | ((w << 18) & Vector256.Create(0x3000000u));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> Spread2(Vector128<uint> w) =>
        (w & Vector128.Create(0x3u)) | ((w << 6) & Vector128.Create(0x300u)) | ((w << 12) & Vector128.Create(0x30000u)) | ((w << 18) & Vector128.Create(0x3000000u));

    /// <summary>1 bit: a 256-entry table maps each packed byte to its eight codes (one 64-bit store).</summary>
    private static int Unpack1(ReadOnlySpan<byte> packed, Span<byte> codes)
    {
        ref byte c = ref MemoryMarshal.GetReference(codes);
        ulong[] table = s_oneBitCodes;
        int n = codes.Length;
        int i = 0;
        for (; i <= n - 8; i += 8)
        {
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref c, i), table[packed[i >> 3]]);
        }

        return i;
    }

    private static int UnpackGroupsOfEight(ReadOnlySpan<byte> packed, int bits, Span<byte> codes)
    {
        ref byte p = ref MemoryMarshal.GetReference(packed);
        ref byte c = ref MemoryMarshal.GetReference(codes);
        ulong mask = (1ul << bits) - 1;
        int n = codes.Length;
        int i = 0;
        int o = 0;
        for (; i <= n - 8; i += 8, o += bits)
        {
            ulong word;
            if (o + 8 <= packed.Length)
            {
                word = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, o));
                if (!BitConverter.IsLittleEndian)
                {
                    word = BinaryPrimitives.ReverseEndianness(word);
                }
            }
            else
            {
                word = 0;
                for (int k = 0; k < bits; k++)
                {
                    word |= (ulong)Unsafe.Add(ref p, o + k) << (8 * k);
                }
            }

            for (int k = 0; k < 8; k++)
            {
                Unsafe.Add(ref c, i + k) = (byte)((word >> (k * bits)) & mask);
            }
        }

        return i;
    }

    private static ulong[] BuildOneBitCodes()
    {
        var table = new ulong[256];
        for (int b = 0; b < 256; b++)
        {
            ulong codes = 0;
            for (int k = 0; k < 8; k++)
            {
                codes |= (ulong)((b >> k) & 1) << (8 * k);
            }

            table[b] = BitConverter.IsLittleEndian ? codes : BinaryPrimitives.ReverseEndianness(codes);
        }

        return table;
    }
}
