using System.Diagnostics;

namespace Coach.Engine.DataPlane;

/// <summary>One throughput figure: GB/s of FP32 input (10^9 bytes per second) and the bytes allocated per call.</summary>
public sealed record ThroughputFigure(string Name, double GigabytesPerSecond, double AllocatedBytesPerCall, long Calls);

/// <summary>Throughput of the UAQ kernels beside a plain copy of the same bytes, measured in one run.</summary>
public sealed record UaqThroughputReport(int ValueCount, VectorWidth VectorWidth, IReadOnlyList<ThroughputFigure> Figures)
{
    public ThroughputFigure Figure(string name) => Figures.First(f => f.Name == name);

    public double Gbps(string name) => Figure(name).GigabytesPerSecond;

    public double AllocatedBytesPerCall => Figures.Max(f => f.AllocatedBytesPerCall);
}

/// <summary>
/// Measures quantize+pack (fit included, as on the edge) and unpack+dequantize for several bit widths on a post-ReLU FP32
/// tensor, and <c>Span.CopyTo</c> of the same bytes as the yardstick. Each figure is the median of several rounds, each round
/// long enough to swamp timer resolution.
/// </summary>
public static class UaqThroughput
{
    public const int DefaultValueCount = 262_144; // 1 MiB of FP32

    public static UaqThroughputReport Measure(int valueCount = DefaultValueCount, IReadOnlyList<int>? bitWidths = null, int rounds = 7, double secondsPerRound = 0.08, int seed = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(valueCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(rounds, 1);
        bitWidths ??= [2, 4, 8];
        float[] values = PostReluTensor(valueCount, seed);
        float[] copy = new float[valueCount];
        float[] restored = new float[valueCount];
        byte[] packed = new byte[Uaq.PackedByteCount(valueCount, 8)];
        long inputBytes = (long)valueCount * sizeof(float);

        var figures = new List<ThroughputFigure>
        {
            Run("memcpy", inputBytes, rounds, secondsPerRound, () => values.AsSpan().CopyTo(copy)),
        };
        foreach (int bits in bitWidths)
        {
            figures.Add(Run($"pack{bits}", inputBytes, rounds, secondsPerRound, () => Uaq.QuantizePack(values, bits, packed)));
            var p = Uaq.QuantizePack(values, bits, packed);
            figures.Add(Run($"unpack{bits}", inputBytes, rounds, secondsPerRound, () => Uaq.UnpackDequantize(packed, p, restored)));
        }

        // The copy again at the end: the figure is the better of the two medians, so a noisy start cannot flatter the ratio.
        var lateCopy = Run("memcpy", inputBytes, rounds, secondsPerRound, () => values.AsSpan().CopyTo(copy));
        if (lateCopy.GigabytesPerSecond > figures[0].GigabytesPerSecond)
        {
            figures[0] = lateCopy;
        }

        return new UaqThroughputReport(valueCount, Uaq.VectorWidth, figures);
    }

    /// <summary>A post-ReLU activation: about half exact zeros, the rest half-normal with a few large values.</summary>
    public static float[] PostReluTensor(int valueCount, int seed)
    {
        var random = new Random(seed);
        var values = new float[valueCount];
        for (int i = 0; i < values.Length; i++)
        {
            double u1 = 1.0 - random.NextDouble();
            double u2 = random.NextDouble();
            double normal = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
            values[i] = (float)Math.Max(0, normal * 1.7);
        }

        return values;
    }

    private static ThroughputFigure Run(string name, long bytesPerCall, int rounds, double secondsPerRound, Action call)
    {
        // Warm-up: JIT tiers, caches.
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < Math.Min(0.05, secondsPerRound))
        {
            call();
        }

        var rates = new double[rounds];
        long totalCalls = 0;
        long allocated = 0;
        for (int r = 0; r < rounds; r++)
        {
            long calls = 0;
            long before = GC.GetAllocatedBytesForCurrentThread();
            long start = Stopwatch.GetTimestamp();
            long deadline = start + (long)(secondsPerRound * Stopwatch.Frequency);
            long now;
            do
            {
                for (int k = 0; k < 8; k++)
                {
                    call();
                }

                calls += 8;
                now = Stopwatch.GetTimestamp();
            }
            while (now < deadline);

            allocated += GC.GetAllocatedBytesForCurrentThread() - before;
            totalCalls += calls;
            double seconds = (double)(now - start) / Stopwatch.Frequency;
            rates[r] = calls * bytesPerCall / seconds / 1e9;
        }

        Array.Sort(rates);
        return new ThroughputFigure(name, rates[rounds / 2], (double)allocated / totalCalls, totalCalls);
    }
}
