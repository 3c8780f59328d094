namespace Coach.Engine.DataPlane;

/// <summary>
/// Bytes one Request frame takes on the wire (docs/protocol.md §2 and §4.4), the one byte model behind every T_t: the
/// planner's (eq. 2), the online scheduler's T'_t (eq. 11) and the online evaluation's. A frame is the frame header, the
/// Request header, and per cut tensor a descriptor (whose size grows with the rank) followed by the packed values.
/// </summary>
public static class FrameBytes
{
    /// <summary>The frame header (protocol.md §2): magic, version, type, flags, payload length, payload CRC, header CRC.</summary>
    public const int FrameHeaderBytes = 20;

    /// <summary>The Request header (protocol.md §4.4): request id, capture and send timestamps, tensor count, reserved.</summary>
    public const int RequestHeaderBytes = 8 + 8 + 8 + 2 + 2;

    /// <summary>What every Request frame carries before its first tensor.</summary>
    public const int RequestFixedBytes = FrameHeaderBytes + RequestHeaderBytes;

    /// <summary>Bits that mean "raw float32, not quantized".</summary>
    public const int RawFloatBits = 32;

    /// <summary>
    /// A tensor's descriptor (protocol.md §4.4): ordinal, element type, bits, compression, rank, reserved, scale, zero
    /// point, <paramref name="rank"/> dimensions (batch included) and the data length.
    /// </summary>
    public static int TensorHeaderBytes(int rank)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rank);
        return 2 + 1 + 1 + 1 + 1 + 2 + 4 + 4 + (4 * rank) + 4;
    }

    /// <summary>The packed values of <paramref name="elements"/> values at <paramref name="bits"/>: ceil(n·b/8), or 4n raw.</summary>
    public static long PayloadBytes(long elements, int bits)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(elements);
        if (bits == RawFloatBits)
        {
            return elements * sizeof(float);
        }

        if (bits is < 1 or > 8)
        {
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "bits must be 1 … 8 (UAQ) or 32 (raw float)");
        }

        return ((elements * bits) + 7) >> 3;
    }

    /// <summary>One tensor in a Request: its descriptor and its packed values.</summary>
    public static long TensorBytes(int rank, long elements, int bits) => TensorHeaderBytes(rank) + PayloadBytes(elements, bits);

    /// <summary>
    /// A whole Request frame whose tensors have the given ranks and element counts, all at <paramref name="bits"/> (the
    /// edge sends every cut tensor of a frame at one width).
    /// </summary>
    public static long Request(ReadOnlySpan<int> ranks, ReadOnlySpan<long> elements, int bits)
    {
        if (ranks.Length != elements.Length)
        {
            throw new ArgumentException($"{ranks.Length} ranks for {elements.Length} tensors", nameof(ranks));
        }

        long total = RequestFixedBytes;
        for (int k = 0; k < ranks.Length; k++)
        {
            total += TensorBytes(ranks[k], elements[k], bits);
        }

        return total;
    }
}
