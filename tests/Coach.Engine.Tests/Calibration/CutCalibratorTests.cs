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
            Assert.True(bits is (>= 2 and <= 8) or 32, $"{bits} bits");
            var entry = calibrator.Results.Cuts[CalibrationResults.Key(cut)];
            Assert.Equal(bits, entry.Bits);
            // eq. 1 holds at the answer and fails one width below it when that width was tried.
            if (bits != 32)
            {
                Assert.True(Math.Abs(calibrator.BaselineAccuracy - entry.AccuracyByBits[$"{bits}"]) <= 0.02);
            }
            if (entry.AccuracyByBits.TryGetValue($"{bits - 1}", out var below))
            {
                Assert.True(Math.Abs(calibrator.BaselineAccuracy - below) > 0.02);
            }
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
