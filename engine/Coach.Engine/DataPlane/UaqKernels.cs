using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Coach.Engine.DataPlane;

/// <summary>
/// Element-wise UAQ kernels (range fit, float → code, code → float) at an explicit SIMD width. Every width computes exactly the
/// same IEEE single-precision operations in the same order as the scalar loop, so all widths give identical bytes:
/// <c>v = round_to_even((x is NaN ? 0 : x) · (1/s)) + z; q = (int)min(max(v, 0), 2^b − 1)</c> and <c>x' = (float)(q − z) · s</c>.
/// </summary>
internal static class UaqKernels
{
    public static VectorWidth Best { get; } =
        Vector512.IsHardwareAccelerated ? VectorWidth.V512 :
        Vector256.IsHardwareAccelerated ? VectorWidth.V256 :
        Vector128.IsHardwareAccelerated ? VectorWidth.V128 : VectorWidth.Scalar;

    // ---------------------------------------------------------------- min / max of the finite values

    /// <summary>Minimum and maximum over the finite values; NaN and ±Inf are ignored. Returns false when none is finite.</summary>
    public static bool FiniteMinMax(ReadOnlySpan<float> values, VectorWidth width, out float min, out float max)
    {
        min = float.PositiveInfinity;
        max = float.NegativeInfinity;
        ref float src = ref MemoryMarshal.GetReference(values);
        int n = values.Length;
        int i = 0;
        if (width == VectorWidth.V512 && n >= Vector512<float>.Count)
        {
            var vMin = Vector512.Create(float.PositiveInfinity);
            var vMax = Vector512.Create(float.NegativeInfinity);
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var x = Vector512.LoadUnsafe(ref src, (nuint)i);
                var finite = Vector512.Equals(x - x, Vector512<float>.Zero); // x − x is NaN for NaN and ±Inf
                vMin = Vector512.MinNative(vMin, Vector512.ConditionalSelect(finite, x, Vector512.Create(float.PositiveInfinity)));
                vMax = Vector512.MaxNative(vMax, Vector512.ConditionalSelect(finite, x, Vector512.Create(float.NegativeInfinity)));
            }

            for (int k = 0; k < Vector512<float>.Count; k++)
            {
                min = Math.Min(min, vMin[k]);
                max = Math.Max(max, vMax[k]);
            }
        }
        else if (width == VectorWidth.V256 && n >= Vector256<float>.Count)
        {
            var vMin = Vector256.Create(float.PositiveInfinity);
            var vMax = Vector256.Create(float.NegativeInfinity);
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var x = Vector256.LoadUnsafe(ref src, (nuint)i);
                var finite = Vector256.Equals(x - x, Vector256<float>.Zero);
                vMin = Vector256.MinNative(vMin, Vector256.ConditionalSelect(finite, x, Vector256.Create(float.PositiveInfinity)));
                vMax = Vector256.MaxNative(vMax, Vector256.ConditionalSelect(finite, x, Vector256.Create(float.NegativeInfinity)));
            }

            for (int k = 0; k < Vector256<float>.Count; k++)
            {
                min = Math.Min(min, vMin[k]);
                max = Math.Max(max, vMax[k]);
            }
        }
        else if (width == VectorWidth.V128 && n >= Vector128<float>.Count)
        {
            var vMin = Vector128.Create(float.PositiveInfinity);
            var vMax = Vector128.Create(float.NegativeInfinity);
            for (; i <= n - Vector128<float>.Count; i += Vector128<float>.Count)
            {
                var x = Vector128.LoadUnsafe(ref src, (nuint)i);
                var finite = Vector128.Equals(x - x, Vector128<float>.Zero);
                vMin = Vector128.MinNative(vMin, Vector128.ConditionalSelect(finite, x, Vector128.Create(float.PositiveInfinity)));
                vMax = Vector128.MaxNative(vMax, Vector128.ConditionalSelect(finite, x, Vector128.Create(float.NegativeInfinity)));
            }

            for (int k = 0; k < Vector128<float>.Count; k++)
            {
                min = Math.Min(min, vMin[k]);
                max = Math.Max(max, vMax[k]);
            }
        }

        for (; i < n; i++)
        {
            float x = Unsafe.Add(ref src, i);
            if (float.IsFinite(x))
            {
                min = Math.Min(min, x);
                max = Math.Max(max, x);
            }
        }

        return min <= max;
    }

    // ---------------------------------------------------------------- float → code

    /// <summary>Writes one code byte per value. NaN → the zero point's code, +Inf → 2^b − 1, −Inf → 0.</summary>
    public static void Quantize(ReadOnlySpan<float> values, float inverseScale, float zeroPoint, float maxCode, Span<byte> codes, VectorWidth width)
    {
        ref float src = ref MemoryMarshal.GetReference(values);
        ref byte dst = ref MemoryMarshal.GetReference(codes);
        int n = values.Length;
        int i = 0;
        if (width == VectorWidth.V512)
        {
            var inv = Vector512.Create(inverseScale);
            var zp = Vector512.Create(zeroPoint);
            var top = Vector512.Create(maxCode);
            for (; i <= n - 64; i += 64)
            {
                var q0 = Code(Vector512.LoadUnsafe(ref src, (nuint)i), inv, zp, top);
                var q1 = Code(Vector512.LoadUnsafe(ref src, (nuint)(i + 16)), inv, zp, top);
                var q2 = Code(Vector512.LoadUnsafe(ref src, (nuint)(i + 32)), inv, zp, top);
                var q3 = Code(Vector512.LoadUnsafe(ref src, (nuint)(i + 48)), inv, zp, top);
                var w01 = Vector512.Narrow(q0, q1).AsUInt16();
                var w23 = Vector512.Narrow(q2, q3).AsUInt16();
                Vector512.Narrow(w01, w23).StoreUnsafe(ref dst, (nuint)i);
            }
        }
        else if (width == VectorWidth.V256)
        {
            var inv = Vector256.Create(inverseScale);
            var zp = Vector256.Create(zeroPoint);
            var top = Vector256.Create(maxCode);
            for (; i <= n - 32; i += 32)
            {
                var q0 = Code(Vector256.LoadUnsafe(ref src, (nuint)i), inv, zp, top);
                var q1 = Code(Vector256.LoadUnsafe(ref src, (nuint)(i + 8)), inv, zp, top);
                var q2 = Code(Vector256.LoadUnsafe(ref src, (nuint)(i + 16)), inv, zp, top);
                var q3 = Code(Vector256.LoadUnsafe(ref src, (nuint)(i + 24)), inv, zp, top);
                var w01 = Vector256.Narrow(q0, q1).AsUInt16();
                var w23 = Vector256.Narrow(q2, q3).AsUInt16();
                Vector256.Narrow(w01, w23).StoreUnsafe(ref dst, (nuint)i);
            }
        }
        else if (width == VectorWidth.V128)
        {
            var inv = Vector128.Create(inverseScale);
            var zp = Vector128.Create(zeroPoint);
            var top = Vector128.Create(maxCode);
            for (; i <= n - 16; i += 16)
            {
                var q0 = Code(Vector128.LoadUnsafe(ref src, (nuint)i), inv, zp, top);
                var q1 = Code(Vector128.LoadUnsafe(ref src, (nuint)(i + 4)), inv, zp, top);
                var q2 = Code(Vector128.LoadUnsafe(ref src, (nuint)(i + 8)), inv, zp, top);
                var q3 = Code(Vector128.LoadUnsafe(ref src, (nuint)(i + 12)), inv, zp, top);
                var w01 = Vector128.Narrow(q0, q1).AsUInt16();
                var w23 = Vector128.Narrow(q2, q3).AsUInt16();
                Vector128.Narrow(w01, w23).StoreUnsafe(ref dst, (nuint)i);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref dst, i) = Code(Unsafe.Add(ref src, i), inverseScale, zeroPoint, maxCode);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte Code(float x, float inverseScale, float zeroPoint, float maxCode)
    {
        if (float.IsNaN(x))
        {
            x = 0f; // NaN is sent as the code of 0.0
        }

        float v = MathF.Round(x * inverseScale) + zeroPoint; // MidpointRounding.ToEven, as vroundps / frintn
        v = v > 0f ? v : 0f;
        v = v < maxCode ? v : maxCode;
        return (byte)(int)v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Code(Vector512<float> x, Vector512<float> inverseScale, Vector512<float> zeroPoint, Vector512<float> maxCode)
    {
        x &= Vector512.Equals(x, x); // NaN → +0.0
        var v = Vector512.Round(x * inverseScale) + zeroPoint;
        v = Vector512.MinNative(Vector512.MaxNative(v, Vector512<float>.Zero), maxCode);
        return Vector512.ConvertToInt32Native(v); // v is integral and within [0, 255]
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Code(Vector256<float> x, Vector256<float> inverseScale, Vector256<float> zeroPoint, Vector256<float> maxCode)
    {
        x &= Vector256.Equals(x, x);
        var v = Vector256.Round(x * inverseScale) + zeroPoint;
        v = Vector256.MinNative(Vector256.MaxNative(v, Vector256<float>.Zero), maxCode);
        return Vector256.ConvertToInt32Native(v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Code(Vector128<float> x, Vector128<float> inverseScale, Vector128<float> zeroPoint, Vector128<float> maxCode)
    {
        x &= Vector128.Equals(x, x);
        var v = Vector128.Round(x * inverseScale) + zeroPoint;
        v = Vector128.MinNative(Vector128.MaxNative(v, Vector128<float>.Zero), maxCode);
        return Vector128.ConvertToInt32Native(v);
    }

    // ---------------------------------------------------------------- code → float

    public static void Dequantize(ReadOnlySpan<byte> codes, float scale, int zeroPoint, Span<float> values, VectorWidth width)
    {
        ref byte src = ref MemoryMarshal.GetReference(codes);
        ref float dst = ref MemoryMarshal.GetReference(values);
        int n = values.Length;
        int i = 0;
        if (width == VectorWidth.V512)
        {
            var s = Vector512.Create(scale);
            var z = Vector512.Create(zeroPoint);
            for (; i <= n - 64; i += 64)
            {
                var (w0, w1) = Vector512.Widen(Vector512.LoadUnsafe(ref src, (nuint)i));
                var (d0, d1) = Vector512.Widen(w0);
                var (d2, d3) = Vector512.Widen(w1);
                (Vector512.ConvertToSingle(d0.AsInt32() - z) * s).StoreUnsafe(ref dst, (nuint)i);
                (Vector512.ConvertToSingle(d1.AsInt32() - z) * s).StoreUnsafe(ref dst, (nuint)(i + 16));
                (Vector512.ConvertToSingle(d2.AsInt32() - z) * s).StoreUnsafe(ref dst, (nuint)(i + 32));
                (Vector512.ConvertToSingle(d3.AsInt32() - z) * s).StoreUnsafe(ref dst, (nuint)(i + 48));
            }
        }
        else if (width == VectorWidth.V256)
        {
            var s = Vector256.Create(scale);
            var z = Vector256.Create(zeroPoint);
            for (; i <= n - 32; i += 32)
            {
                var (w0, w1) = Vector256.Widen(Vector256.LoadUnsafe(ref src, (nuint)i));
                var (d0, d1) = Vector256.Widen(w0);
                var (d2, d3) = Vector256.Widen(w1);
                (Vector256.ConvertToSingle(d0.AsInt32() - z) * s).StoreUnsafe(ref dst, (nuint)i);
                (Vector256.ConvertToSingle(d1.AsInt32() - z) * s).StoreUnsafe(ref dst, (nuint)(i + 8));
                (Vector256.ConvertToSingle(d2.AsInt32() - z) * s).StoreUnsafe(ref dst, (nuint)(i + 16));
                (Vector256.ConvertToSingle(d3.AsInt32() - z) * s).StoreUnsafe(ref dst, (nuint)(i + 24));
            }
        }
        else if (width == VectorWidth.V128)
        {
            var s = Vector128.Create(scale);
            var z = Vector128.Create(zeroPoint);
            for (; i <= n - 16; i += 16)
            {
                var (w0, w1) = Vector128.Widen(Vector128.LoadUnsafe(ref src, (nuint)i));
                var (d0, d1) = Vector128.Widen(w0);
                var (d2, d3) = Vector128.Widen(w1);
                (Vector128.ConvertToSingle(d0.AsInt32() - z) * s).StoreUnsafe(ref dst, (nuint)i);
                (Vector128.ConvertToSingle(d1.AsInt32() - z) * s).StoreUnsafe(ref dst, (nuint)(i + 4));
                (Vector128.ConvertToSingle(d2.AsInt32() - z) * s).StoreUnsafe(ref dst, (nuint)(i + 8));
                (Vector128.ConvertToSingle(d3.AsInt32() - z) * s).StoreUnsafe(ref dst, (nuint)(i + 12));
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref dst, i) = (Unsafe.Add(ref src, i) - zeroPoint) * scale;
        }
    }
}
