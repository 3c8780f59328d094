using System.Runtime.CompilerServices;

namespace Coach.Engine.DataPlane;

/// <summary>
/// Uniform affine quantization (UAQ) of cut tensors with dense bit packing (docs/architecture.md §5, docs/protocol.md §4.4):
/// <c>q = clamp(round(x / s) + z, 0, 2^b − 1)</c>, b ∈ 1…8, codes packed LSB-first with no padding
/// (a tensor of n values takes <c>ceil(n·b / 8)</c> bytes), and the inverse <c>x' = (q − z) · s</c>.
/// </summary>
/// <remarks>
/// <para>All methods are allocation-free and take spans. The SIMD width is the widest the CPU accelerates
/// (Vector512 → 256 → 128, scalar tail); every width produces identical bytes (tests check this).</para>
/// <para>Rounding is round-half-to-even of <c>x · (1/s)</c> (the reciprocal is computed once per tensor) in every path.</para>
/// <para>Non-finite input: NaN is sent as the zero point's code (it decodes to 0.0), +Inf as the largest code and −Inf as 0;
/// <see cref="Fit"/> ignores non-finite values when it measures the range.</para>
/// <para>Range: <see cref="Fit"/> uses [min(min, 0), max(max, 0)] of the finite values, so 0.0 (ReLU zeros, padding) is exact and the
/// zero point lies in [0, 2^b − 1]. A tensor with no finite non-zero range (all zeros, all equal to 0, empty) gets scale 1.</para>
/// </remarks>
[SkipLocalsInit]
public static class Uaq
{
    /// <summary>Codes are staged through a stack buffer this long (a multiple of 8, so every chunk starts on a byte).</summary>
    private const int ChunkLength = 4096;

    /// <summary>Smallest scale used, so that 1/s stays finite for tiny ranges.</summary>
    private const float MinimumScale = 1e-30f;

    /// <summary>The SIMD width the kernels use on this CPU.</summary>
    public static VectorWidth VectorWidth => UaqKernels.Best;

    /// <summary>Bytes that <paramref name="valueCount"/> codes of <paramref name="bits"/> bits take: <c>ceil(n·b / 8)</c>.</summary>
    public static int PackedByteCount(int valueCount, int bits)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(valueCount);
        CheckBits(bits);
        return BitPacking.PackedByteCount(valueCount, bits);
    }

    /// <summary>Scale and zero point covering the finite values' range (with 0 included).</summary>
    public static QuantizationParameters Fit(ReadOnlySpan<float> values, int bits) => Fit(values, bits, UaqKernels.Best);

    internal static QuantizationParameters Fit(ReadOnlySpan<float> values, int bits, VectorWidth width)
    {
        CheckBits(bits);
        if (!UaqKernels.FiniteMinMax(values, width, out float min, out float max))
        {
            return new QuantizationParameters(1f, 0, bits);
        }

        return FromRange(min, max, bits);
    }

    /// <summary>Parameters for the range [min(min, 0), max(max, 0)]; used by <see cref="Fit"/> and by callers with a clipped range.</summary>
    public static QuantizationParameters FromRange(float min, float max, int bits)
    {
        CheckBits(bits);
        if (!float.IsFinite(min) || !float.IsFinite(max) || min > max)
        {
            throw new ArgumentException($"UAQ range [{min}, {max}] must be finite with min ≤ max.", nameof(min));
        }

        min = Math.Min(min, 0f);
        max = Math.Max(max, 0f);
        int maxCode = (1 << bits) - 1;
        float scale = (max / maxCode) - (min / maxCode); // divided first: max − min may overflow
        if (scale == 0f)
        {
            return new QuantizationParameters(1f, 0, bits);
        }

        scale = Math.Clamp(scale, MinimumScale, float.MaxValue);
        int zeroPoint = (int)Math.Clamp(MathF.Round(-min / scale), 0f, maxCode);
        return new QuantizationParameters(scale, zeroPoint, bits);
    }

    /// <summary>Fits the parameters and quantizes + packs in one call.</summary>
    public static QuantizationParameters QuantizePack(ReadOnlySpan<float> values, int bits, Span<byte> packed)
    {
        var parameters = Fit(values, bits);
        QuantizePack(values, parameters, packed);
        return parameters;
    }

    /// <summary>Quantizes with the given parameters and packs into <paramref name="packed"/> (at least <see cref="PackedByteCount"/> bytes).</summary>
    public static void QuantizePack(ReadOnlySpan<float> values, QuantizationParameters parameters, Span<byte> packed) =>
        QuantizePack(values, parameters, packed, UaqKernels.Best);

    internal static void QuantizePack(ReadOnlySpan<float> values, QuantizationParameters parameters, Span<byte> packed, VectorWidth width)
    {
        parameters.Validate(nameof(parameters));
        int bits = parameters.Bits;
        packed = packed[..RequirePacked(values.Length, bits, packed.Length, nameof(packed))];
        float inverseScale = 1f / parameters.Scale;
        if (bits == 8)
        {
            UaqKernels.Quantize(values, inverseScale, parameters.ZeroPoint, 255f, packed, width);
            return;
        }

        Span<byte> codes = stackalloc byte[ChunkLength];
        for (int start = 0; start < values.Length; start += ChunkLength)
        {
            int length = Math.Min(ChunkLength, values.Length - start);
            var chunk = codes[..length];
            UaqKernels.Quantize(values.Slice(start, length), inverseScale, parameters.ZeroPoint, parameters.MaxCode, chunk, width);
            BitPacking.Pack(chunk, bits, packed[((start >> 3) * bits)..], width);
        }
    }

    /// <summary>The <paramref name="codes"/>.Length b-bit codes of a packed tensor, one byte each (the symbols a lossless coder of the codes sees).</summary>
    public static void UnpackCodes(ReadOnlySpan<byte> packed, int bits, Span<byte> codes)
    {
        packed = packed[..RequirePacked(codes.Length, bits, packed.Length, nameof(packed))];
        BitPacking.Unpack(packed, bits, codes, UaqKernels.Best);
    }

    /// <summary>Unpacks and dequantizes <paramref name="values"/>.Length values.</summary>
    public static void UnpackDequantize(ReadOnlySpan<byte> packed, QuantizationParameters parameters, Span<float> values) =>
        UnpackDequantize(packed, parameters, values, UaqKernels.Best);

    internal static void UnpackDequantize(ReadOnlySpan<byte> packed, QuantizationParameters parameters, Span<float> values, VectorWidth width)
    {
        parameters.Validate(nameof(parameters));
        int bits = parameters.Bits;
        packed = packed[..RequirePacked(values.Length, bits, packed.Length, nameof(packed))];
        if (bits == 8)
        {
            UaqKernels.Dequantize(packed, parameters.Scale, parameters.ZeroPoint, values, width);
            return;
        }

        Span<byte> codes = stackalloc byte[ChunkLength];
        for (int start = 0; start < values.Length; start += ChunkLength)
        {
            int length = Math.Min(ChunkLength, values.Length - start);
            var chunk = codes[..length];
            BitPacking.Unpack(packed[((start >> 3) * bits)..], bits, chunk, width);
            UaqKernels.Dequantize(chunk, parameters.Scale, parameters.ZeroPoint, values.Slice(start, length), width);
        }
    }

    /// <summary>Quantize → dequantize through a stack buffer, as the tail will see the tensor (offline calibration).</summary>
    public static void RoundTrip(ReadOnlySpan<float> values, int bits, Span<float> restored)
    {
        if (restored.Length < values.Length)
        {
            throw new ArgumentException($"restored holds {restored.Length} values but {values.Length} are needed.", nameof(restored));
        }

        var parameters = Fit(values, bits);
        float inverseScale = 1f / parameters.Scale;
        Span<byte> codes = stackalloc byte[ChunkLength];
        for (int start = 0; start < values.Length; start += ChunkLength)
        {
            int length = Math.Min(ChunkLength, values.Length - start);
            UaqKernels.Quantize(values.Slice(start, length), inverseScale, parameters.ZeroPoint, parameters.MaxCode, codes[..length], UaqKernels.Best);
            UaqKernels.Dequantize(codes[..length], parameters.Scale, parameters.ZeroPoint, restored.Slice(start, length), UaqKernels.Best);
        }
    }

    // ---------------------------------------------------------------- checks

    private static void CheckBits(int bits)
    {
        if (bits is < 1 or > 8)
        {
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "UAQ bit width must be between 1 and 8.");
        }
    }

    private static int RequirePacked(int valueCount, int bits, int available, string name)
    {
        int needed = BitPacking.PackedByteCount(valueCount, bits);
        if (available < needed)
        {
            throw new ArgumentException($"{valueCount} values at {bits} bits need {needed} packed bytes but the buffer holds {available}; size it with Uaq.PackedByteCount.", name);
        }

        return needed;
    }
}
