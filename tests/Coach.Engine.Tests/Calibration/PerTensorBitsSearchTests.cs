using Coach.Engine.Calibration;

namespace Coach.Engine.Tests.Calibration;

/// <summary>
/// <see cref="CutCalibrator.SearchPerTensorBits"/> against a brute force over every bit vector (widths 2…8 and 32) of small
/// multi-tensor cuts, with synthetic acceptance oracles that are monotone (narrowing a tensor never turns a refusal into an
/// acceptance), as the calibration's eq. 1 test is for uniform affine quantization in practice.
/// </summary>
public class PerTensorBitsSearchTests(ITestOutputHelper output)
{
    private static readonly int[] Widths = [2, 3, 4, 5, 6, 7, 8, 32];

    private static double Bytes(int[] bits, double[] sizes) => bits.Select((b, i) => sizes[i] * b / 8.0).Sum();

    private static IEnumerable<int[]> AllVectors(int count)
    {
        var index = new int[count];
        while (true)
        {
            yield return [.. index.Select(i => Widths[i])];
            int k = 0;
            while (k < count && ++index[k] == Widths.Length)
            {
                index[k++] = 0;
            }
            if (k == count)
            {
                yield break;
            }
        }
    }

    /// <summary>The shared minimum, the per-tensor search's result and its evaluations, checked against the brute force.</summary>
    private static (int[] Bits, double Bytes, double OptimumBytes, double SharedBytes) Check(Func<int[], bool> accepts, double[] sizes, string what)
    {
        int m = sizes.Length;
        int shared = CutCalibrator.SearchMinimumBits(b => accepts([.. Enumerable.Repeat(b, m)]));
        int evaluations = 0;
        var bits = CutCalibrator.SearchPerTensorBits(shared, sizes, v =>
        {
            evaluations++;
            return accepts(v);
        });
        Assert.True(accepts(bits), $"{what}: [{string.Join(",", bits)}] is refused");
        for (int i = 0; i < m; i++)
        {
            int w = Array.IndexOf(Widths, bits[i]);
            if (w > 0)
            {
                var lower = (int[])bits.Clone();
                lower[i] = Widths[w - 1];
                Assert.False(accepts(lower), $"{what}: tensor {i} could go from {bits[i]} to {lower[i]} bits");
            }
        }
        Assert.True(evaluations <= 4 * m, $"{what}: {evaluations} evaluations for {m} tensors");
        double sharedBytes = Bytes([.. Enumerable.Repeat(shared, m)], sizes);
        double bytes = Bytes(bits, sizes);
        Assert.True(bytes <= sharedBytes, $"{what}: {bytes} bytes, more than the shared {shared} bits' {sharedBytes}");
        double optimum = AllVectors(m).Where(accepts).Min(v => Bytes(v, sizes));
        Assert.True(optimum <= bytes);
        return (bits, bytes, optimum, sharedBytes);
    }

    [Fact]
    public void SeparableAcceptanceGivesTheByteOptimum()
    {
        // Each tensor has its own threshold: accepted iff every b_i ≥ t_i. The optimum is the threshold vector itself.
        var random = new Random(3);
        for (int trial = 0; trial < 300; trial++)
        {
            int m = random.Next(2, 5);
            var thresholds = Enumerable.Range(0, m).Select(_ => Widths[random.Next(Widths.Length)]).ToArray();
            var sizes = Enumerable.Range(0, m).Select(_ => (double)random.Next(1, 1000)).ToArray();
            var r = Check(v => v.Select((b, i) => b >= thresholds[i]).All(x => x), sizes, $"separable {trial}");
            Assert.Equal(thresholds, r.Bits);
            Assert.Equal(r.OptimumBytes, r.Bytes);
        }
    }

    [Fact]
    public void CoupledAcceptanceIsFeasibleCoordinateMinimalAndNeverWorseThanSharedBits()
    {
        // Quantization noise adds up over the cut: accepted iff Σ_i s_i·4^(−b_i) ≤ budget (raw float adds none), the
        // sensitivities s_i and the budget drawn per trial. Monotone, not separable: the search can stop at a coordinate
        // minimum that is not the byte optimum.
        var random = new Random(5);
        int trials = 400, optimal = 0, belowShared = 0;
        double worst = 1;
        for (int trial = 0; trial < trials; trial++)
        {
            int m = random.Next(2, 5);
            var sensitivity = Enumerable.Range(0, m).Select(_ => Math.Pow(10, random.NextDouble() * 3)).ToArray();
            var sizes = Enumerable.Range(0, m).Select(_ => (double)random.Next(1, 1000)).ToArray();
            double budget = sensitivity.Sum() * Math.Pow(4, -random.Next(2, 9)) * (0.5 + random.NextDouble());
            bool Accepts(int[] v) => v.Select((b, i) => b >= 32 ? 0 : sensitivity[i] * Math.Pow(4, -b)).Sum() <= budget;
            var r = Check(Accepts, sizes, $"coupled {trial}");
            optimal += r.Bytes <= r.OptimumBytes * (1 + 1e-12) ? 1 : 0;
            belowShared += r.Bytes < r.SharedBytes ? 1 : 0;
            worst = Math.Min(worst, r.OptimumBytes / r.Bytes);
        }
        output.WriteLine($"coupled oracle, {trials} cuts of 2-4 tensors: byte-optimal in {optimal}, fewer bytes than the shared width in {belowShared}; worst optimum/search bytes {worst:F3}");
        Assert.True(belowShared > trials / 4, $"per-tensor bits saved bytes on only {belowShared} of {trials} cuts");
    }

    [Fact]
    public void AnyMonotoneAcceptanceGivesAFeasibleCoordinateMinimum()
    {
        // Random up-sets: accepted iff the vector dominates one of a few random generators (and all-raw always is).
        var random = new Random(9);
        int trials = 300, optimal = 0;
        for (int trial = 0; trial < trials; trial++)
        {
            int m = random.Next(2, 4);
            var generators = Enumerable.Range(0, random.Next(1, 5))
                .Select(_ => Enumerable.Range(0, m).Select(_ => Widths[random.Next(Widths.Length)]).ToArray())
                .Append([.. Enumerable.Repeat(32, m)]).ToArray();
            var sizes = Enumerable.Range(0, m).Select(_ => (double)random.Next(1, 1000)).ToArray();
            bool Accepts(int[] v) => generators.Any(g => g.Select((b, i) => v[i] >= b).All(x => x));
            var r = Check(Accepts, sizes, $"up-set {trial}");
            optimal += r.Bytes <= r.OptimumBytes * (1 + 1e-12) ? 1 : 0;
        }
        output.WriteLine($"random up-sets, {trials} cuts of 2-3 tensors: byte-optimal in {optimal}");
    }

    [Fact]
    public void OneTensorKeepsTheSharedMinimum()
    {
        for (int threshold = 0; threshold < Widths.Length; threshold++)
        {
            int t = Widths[threshold];
            int shared = CutCalibrator.SearchMinimumBits(b => b >= t);
            Assert.Equal([t], CutCalibrator.SearchPerTensorBits(shared, [100.0], v => v[0] >= t));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => CutCalibrator.SearchPerTensorBits(9, [1.0], _ => true));
    }
}
