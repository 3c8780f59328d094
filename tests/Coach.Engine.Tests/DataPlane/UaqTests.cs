using Coach.Engine.DataPlane;

namespace Coach.Engine.Tests.DataPlane;

public sealed class UaqTests
{
    private static readonly VectorWidth[] s_vectorWidths = [VectorWidth.V128, VectorWidth.V256, VectorWidth.V512];
    private static readonly int[] s_oddLengths = [1, 7, 13, 63, 65, 129, 255, 1001, 4097, 9999];

    public static TheoryData<int> AllBitWidths => new() { 1, 2, 3, 4, 5, 6, 7, 8 };

    private static float[] RandomTensor(int length, int seed, bool postRelu = false)
    {
        var random = new Random(seed);
        var values = new float[length];
        for (int i = 0; i < length; i++)
        {
            float x = (float)((random.NextDouble() * 6.0) - 2.5);
            values[i] = postRelu ? Math.Max(0f, x) : x;
        }

        // Exact midpoints of the code grid exercise round-half-to-even.
        for (int i = 0; i < length; i += 17)
        {
            values[i] = (random.Next(-8, 9) * 0.5f) + 0.25f;
        }

        return values;
    }

    [Theory]
    [MemberData(nameof(AllBitWidths))]
    public void EveryVectorWidthPacksTheSameBytesAsScalarPerTensor(int bits)
    {
        foreach (int length in s_oddLengths)
        {
            var values = RandomTensor(length, seed: (length * 31) + bits);
            var p = Uaq.Fit(values, bits, VectorWidth.Scalar);
            var expected = new byte[Uaq.PackedByteCount(length, bits)];
            Uaq.QuantizePack(values, p, expected, VectorWidth.Scalar);
            var expectedValues = new float[length];
            Uaq.UnpackDequantize(expected, p, expectedValues, VectorWidth.Scalar);
            foreach (var width in s_vectorWidths)
            {
                Assert.Equal(p, Uaq.Fit(values, bits, width));
                var packed = new byte[expected.Length];
                Uaq.QuantizePack(values, p, packed, width);
                Assert.True(expected.AsSpan().SequenceEqual(packed), $"{width}, {bits} bits, {length} values: packed bytes differ from scalar");
                var restored = new float[length];
                Uaq.UnpackDequantize(expected, p, restored, width);
                Assert.True(expectedValues.AsSpan().SequenceEqual(restored), $"{width}, {bits} bits, {length} values: dequantized values differ from scalar");
            }
        }
    }

    [Theory]
    [MemberData(nameof(AllBitWidths))]
    public void DequantizedValuesLieWithinHalfAStepOfTheInput(int bits)
    {
        foreach (int length in s_oddLengths)
        {
            var values = RandomTensor(length, seed: length + (bits * 7), postRelu: bits % 2 == 0);
            var packed = new byte[Uaq.PackedByteCount(length, bits)];
            var p = Uaq.QuantizePack(values, bits, packed);
            var restored = new float[length];
            Uaq.UnpackDequantize(packed, p, restored);
            float tolerance = (p.Scale / 2) * (1 + 1e-5f) + 1e-6f;
            for (int i = 0; i < length; i++)
            {
                Assert.True(Math.Abs(restored[i] - values[i]) <= tolerance, $"{bits} bits: {values[i]} came back as {restored[i]} (scale {p.Scale})");
            }
        }
    }

    [Fact]
    public void PackedSizeIsCeilingOfBitsTimesCount()
    {
        Assert.Equal(0, Uaq.PackedByteCount(0, 3));
        Assert.Equal(1, Uaq.PackedByteCount(1, 1));
        Assert.Equal(2, Uaq.PackedByteCount(3, 5));   // 15 bits
        Assert.Equal(131_072, Uaq.PackedByteCount(262_144, 4));
        Assert.Equal(98_304, Uaq.PackedByteCount(262_144, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => Uaq.PackedByteCount(10, 9));
    }

    [Fact]
    public void CodesArePackedLeastSignificantBitFirstWithoutPadding()
    {
        // Scale 1, zero point 0: codes equal the values.
        var p = new QuantizationParameters(1f, 0, 3);
        float[] values = [1, 2, 3, 4, 5, 6, 7, 0, 5];
        var packed = new byte[Uaq.PackedByteCount(values.Length, 3)];
        Uaq.QuantizePack(values, p, packed);
        ulong stream = 0;
        for (int i = 0; i < values.Length; i++)
        {
            stream |= (ulong)values[i] << (3 * i);
        }

        for (int b = 0; b < packed.Length; b++)
        {
            Assert.Equal((byte)(stream >> (8 * b)), packed[b]);
        }

        var two = new byte[1];
        Uaq.QuantizePack([1f, 2f, 3f, 0f], new QuantizationParameters(1f, 0, 2), two);
        Assert.Equal(0b00_11_10_01, two[0]);
    }

    [Fact]
    public void QuantizationRoundsHalfToEvenInEveryWidth()
    {
        var p = new QuantizationParameters(1f, 4, 4);
        float[] values = [-0.5f, 0.5f, 1.5f, 2.5f, -1.5f, 3.5f, 0.49999997f, 10.5f, -2.5f, 1.5f, 0.5f, 2.5f, 4.5f, 5.5f, 6.5f, -3.5f, 0.5f];
        byte[] expected = [4, 4, 6, 6, 2, 8, 4, 14, 2, 6, 4, 6, 8, 10, 10, 0, 4];
        foreach (var width in new[] { VectorWidth.Scalar, VectorWidth.V128, VectorWidth.V256, VectorWidth.V512 })
        {
            var codes = new byte[values.Length];
            UaqKernels.Quantize(values, 1f / p.Scale, p.ZeroPoint, p.MaxCode, codes, width);
            Assert.Equal(expected, codes);
        }
    }

    [Fact]
    public void NonFiniteValuesHaveDefinedCodesAndAreIgnoredByFit()
    {
        var values = new float[41];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = i / 10f; // 0 … 4
        }

        values[3] = float.NaN;
        values[20] = float.PositiveInfinity;
        values[33] = float.NegativeInfinity;
        foreach (var width in new[] { VectorWidth.Scalar, VectorWidth.V128, VectorWidth.V256, VectorWidth.V512 })
        {
            var p = Uaq.Fit(values, 8, width);
            Assert.Equal(4f / 255f, p.Scale, 6);
            Assert.Equal(0, p.ZeroPoint);
            var codes = new byte[values.Length];
            UaqKernels.Quantize(values, 1f / p.Scale, p.ZeroPoint, p.MaxCode, codes, width);
            Assert.Equal(p.ZeroPoint, codes[3]);   // NaN → zero point (decodes to 0.0)
            Assert.Equal(255, codes[20]);          // +Inf → largest code
            Assert.Equal(0, codes[33]);            // −Inf → 0
        }

        var restored = new float[values.Length];
        var packed = new byte[values.Length];
        var fitted = Uaq.QuantizePack(values, 8, packed);
        Uaq.UnpackDequantize(packed, fitted, restored);
        Assert.Equal(0f, restored[3]);
        Assert.Equal(4f, restored[20], 5);
    }

    [Fact]
    public void DegenerateRangesGetAUsableScale()
    {
        var zeros = new float[100];
        Assert.Equal(new QuantizationParameters(1f, 0, 4), Uaq.Fit(zeros, 4));
        var nans = Enumerable.Repeat(float.NaN, 19).ToArray();
        Assert.Equal(new QuantizationParameters(1f, 0, 2), Uaq.Fit(nans, 2));
        Assert.Equal(new QuantizationParameters(1f, 0, 8), Uaq.Fit([], 8));

        var constant = Enumerable.Repeat(2.5f, 37).ToArray(); // range [0, 2.5] with zero included
        var packed = new byte[Uaq.PackedByteCount(37, 5)];
        var p = Uaq.QuantizePack(constant, 5, packed);
        var restored = new float[37];
        Uaq.UnpackDequantize(packed, p, restored);
        Assert.All(restored, x => Assert.Equal(2.5f, x, 5));

        var huge = new[] { -3e38f, 3e38f, 0f };
        var q = Uaq.Fit(huge, 1);
        Assert.True(float.IsFinite(q.Scale) && q.Scale > 0);
    }

    [Fact]
    public void BadArgumentsAreRejectedWithAClearMessage()
    {
        var values = new float[10];
        var ex = Assert.Throws<ArgumentException>(() => Uaq.QuantizePack(values, new QuantizationParameters(1f, 0, 4), new byte[4]));
        Assert.Contains("need 5 packed bytes", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Uaq.QuantizePack(values, new QuantizationParameters(0f, 0, 4), new byte[5]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Uaq.QuantizePack(values, 0, new byte[5]));
    }

    [Fact]
    public void RoundTripMatchesPackAndUnpack()
    {
        var values = RandomTensor(5003, seed: 11, postRelu: true);
        var viaPacking = new float[values.Length];
        var packed = new byte[Uaq.PackedByteCount(values.Length, 3)];
        var p = Uaq.QuantizePack(values, 3, packed);
        Uaq.UnpackDequantize(packed, p, viaPacking);
        var direct = new float[values.Length];
        Uaq.RoundTrip(values, 3, direct);
        Assert.Equal(viaPacking, direct);
    }

    [Fact]
    public void PackingAndUnpackingAllocateNothing()
    {
        var values = RandomTensor(262_144, seed: 3, postRelu: true);
        var packed = new byte[Uaq.PackedByteCount(values.Length, 8)];
        var restored = new float[values.Length];
        for (int bits = 1; bits <= 8; bits++)
        {
            var p = Uaq.QuantizePack(values, bits, packed); // warm-up (JIT, static tables)
            Uaq.UnpackDequantize(packed, p, restored);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int round = 0; round < 3; round++)
        {
            for (int bits = 1; bits <= 8; bits++)
            {
                var p = Uaq.QuantizePack(values, bits, packed);
                Uaq.UnpackDequantize(packed, p, restored);
            }
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
