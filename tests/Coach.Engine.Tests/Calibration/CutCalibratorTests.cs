using Coach.Engine.Calibration;
using Coach.Engine.Data;
using Coach.Engine.Graph;
using Coach.Engine.Onnx.Proto;
using Coach.Engine.Planning;
using Coach.Engine.Tests.Graph;

namespace Coach.Engine.Tests.Calibration;

public class CutCalibratorTests
{
    /// <summary>A small classifier of 112×112 frames into 10 classes (untrained weights: a fixed function to quantize around).</summary>
    private static ModelProto FrameClassifier()
    {
        var b = new TestModelBuilder(11);
        b.Input("frame", "N", 3, 112, 112);
        var pooled = b.Node("AveragePool", ["frame"], ("kernel_shape", new long[] { 8, 8 }), ("strides", new long[] { 8, 8 }));
        var features = b.Node("Relu", [b.Conv(pooled, 3, 16, 3)]);
        var deeper = b.Node("Relu", [b.Conv(features, 16, 16, 3)]);
        var gap = b.Node("GlobalAveragePool", [deeper]);
        var flat = b.Node("Reshape", [gap, b.ConstantInt64(0, -1)]);
        b.NodeTo("Gemm", [flat, b.Weight(10, 16), b.Weight(10)], "logits", ("transB", 1L));
        b.Output("logits", "N", 10);
        return b.Build();
    }

    [Fact]
    public void AcceptanceKeepsOneStandardErrorOfMarginForTheCalibrationSetsSize()
    {
        // 1,000 frames, the full model right on the first 900.
        string baseline = new string('1', 900) + new string('0', 100);
        bool[] Quantized(int lost, int gained) => [.. Enumerable.Range(0, 1000).Select(i => i < 900 ? i >= lost : i < 900 + gained)];

        // 4 lost, 0 gained: loss 0.4 %, standard error √4/1000 = 0.2 %.
        Assert.True(CutCalibrator.Accepts(baseline, Quantized(4, 0), 0.005, 0)); // eq. 1 as written
        Assert.False(CutCalibrator.Accepts(baseline, Quantized(4, 0), 0.005, 1)); // 0.4 % + 0.2 % > 0.5 %
        // 2 lost, 0 gained: 0.2 % + 0.14 % ≤ 0.5 %.
        Assert.True(CutCalibrator.Accepts(baseline, Quantized(2, 0), 0.005, 1));
        // 20 lost and 20 gained: no net loss, but flips that many leave an error of 0.63 %: refused at z = 1.
        Assert.True(CutCalibrator.Accepts(baseline, Quantized(20, 20), 0.005, 0));
        Assert.False(CutCalibrator.Accepts(baseline, Quantized(20, 20), 0.005, 1));
        Assert.Throws<ArgumentException>(() => CutCalibrator.Accepts(baseline, Quantized(0, 0)[..999], 0.005, 1));
    }

    /// <summary>
    /// A known accuracy curve: 1,000 calibration frames, the full model right on the first 900, and at b bits the quantized
    /// split loses 2^(9 − b) of them (2 at 8 bits, 4 at 7, 8 at 6, 16 at 5, 32 at 4, 64 at 3, 128 at 2) and gains none.
    /// </summary>
    private static bool[] CorrectAt(int bits)
    {
        int lost = 1 << (9 - bits);
        return [.. Enumerable.Range(0, 1000).Select(i => i < 900 && i >= lost)];
    }

    [Theory]
    // z = 0 (eq. 1 as written): accepted while lost/1000 ≤ ε.
    [InlineData(0.005, 0.0, 7, new[] { 8, 5, 7, 6 })]   // lost ≤ 5: 7 bits (4 lost); 6 bits loses 8
    [InlineData(0.02, 0.0, 5, new[] { 8, 5, 3, 4 })]    // lost ≤ 20: 5 bits (16 lost); 4 bits loses 32
    [InlineData(0.2, 0.0, 2, new[] { 8, 5, 3, 2 })]     // even 2 bits (128 lost) is within 20 %
    [InlineData(0.0015, 0.0, 32, new[] { 8 })]          // 8 bits already loses 0.2 %: unquantized
    // z = 1: lost/1000 + √lost/1000 ≤ ε. 8 bits: 0.2 % + 0.14 %; 7 bits: 0.4 % + 0.2 % = 0.6 % > 0.5 %.
    [InlineData(0.005, 1.0, 8, new[] { 8, 5, 7 })]
    // z = 2, ε = 5 %: 5 bits 1.6 % + 0.8 % = 2.4 %; 4 bits 3.2 % + 1.13 % = 4.33 %; 3 bits 6.4 % + 1.6 % = 8 %.
    [InlineData(0.05, 2.0, 4, new[] { 8, 5, 3, 4 })]
    public void SearchFindsTheNarrowestWidthOfAKnownAccuracyCurve(double epsilon, double z, int expectedBits, int[] expectedEvaluations)
    {
        string baseline = new string('1', 900) + new string('0', 100);
        var evaluated = new List<int>();
        int bits = CutCalibrator.SearchMinimumBits(b =>
        {
            evaluated.Add(b);
            return CutCalibrator.Accepts(baseline, CorrectAt(b), epsilon, z);
        });
        Assert.Equal(expectedBits, bits);
        Assert.Equal(expectedEvaluations, evaluated);
    }

    [Fact]
    public void SearchFindsTheThresholdOfEveryMonotoneAcceptance()
    {
        for (int threshold = 2; threshold <= 9; threshold++)
        {
            var evaluated = new List<int>();
            int bits = CutCalibrator.SearchMinimumBits(b =>
            {
                evaluated.Add(b);
                return b >= threshold;
            });
            Assert.Equal(threshold == 9 ? 32 : threshold, bits);
            Assert.True(evaluated.Count <= 4, $"threshold {threshold}: {evaluated.Count} evaluations");
        }
    }

    [Fact]
    public void DichotomousSearchFindsTheNarrowestSafeWidthAndCachesIt()
    {
        var graph = LayerGraph.FromModel(FrameClassifier());
        ShapeDiscovery.Complete(graph);
        var cache = Path.Combine(Path.GetTempPath(), $"coach-calib-{Guid.NewGuid():N}.json");
        try
        {
            var frames = BundledData.Load(DataSplit.Calibration);
            var calibrator = new CutCalibrator(graph, frames, epsilon: 0.02, cachePath: cache, maxFrames: 100, standardErrors: 0);
            var cut = graph.Tensors.Where(t => t.Producer >= 0 && graph.Nodes[t.Producer].OpType == "Relu").Select(t => t.Name).Take(1).ToArray();
            int bits = calibrator.MinimumBits(cut);
            var entry = calibrator.Results.Cuts[CalibrationResults.Key(cut)];
            Assert.Equal(bits, entry.Bits);
            // At z = 0 a width passes when the measured accuracy loss is within ε (eq. 1). The answer is what the widths the
            // search measured say: 32 when 8 bits failed; otherwise the answer passed and one bit fewer, which the binary
            // search always measures when the answer is above 2, failed.
            bool Passed(int b) => calibrator.BaselineAccuracy - entry.AccuracyByBits[$"{b}"] <= 0.02 + 1e-12;
            if (bits == 32)
            {
                Assert.False(Passed(8));
            }
            else
            {
                Assert.True(Passed(bits), $"{bits} bits recorded as the answer but its loss exceeds ε");
                Assert.True(bits == 2 || !Passed(bits - 1), $"{bits - 1} bits also passed: {bits} is not the narrowest");
            }
            Assert.Equal(CutCalibrator.SearchMinimumBits(Passed), bits);
            Assert.Equal(1, calibrator.CutsMeasured);

            var again = new CutCalibrator(graph, frames, epsilon: 0.02, cachePath: cache, maxFrames: 100, standardErrors: 0);
            Assert.Equal(bits, again.MinimumBits(cut));
            Assert.Equal(0, again.CutsMeasured);

            var problem = SplitHarnessProblem(graph);
            var fromFile = new CalibrationFileBits(CalibrationResults.TryLoad(cache)!, cache);
            var cutIndices = cut.Select(n => problem.Tensors.Select((t, i) => (t, i)).First(x => x.t.Name == n).i).ToArray();
            Assert.Equal(bits, fromFile.MinimumBits(problem, cutIndices));
            var missing = Assert.Throws<KeyNotFoundException>(() => fromFile.MinimumBits(problem, [0]));
            Assert.Contains("frame", missing.Message);
        }
        finally
        {
            File.Delete(cache);
        }
    }

    private static PlanningProblem SplitHarnessProblem(LayerGraph graph) => Splitting.SplitHarness.UnitProblem(graph);
}
