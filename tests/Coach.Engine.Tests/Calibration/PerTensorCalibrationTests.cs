using Coach.Engine.Calibration;
using Coach.Engine.Data;
using Coach.Engine.Graph;
using Coach.Engine.Planning;

namespace Coach.Engine.Tests.Calibration;

/// <summary>
/// Per-tensor bits on a real 2-tensor cut: resnet-fm112 inside its block 6 (the first conv's output, 128×14×14, and the
/// block input the projection shortcut reads, 64×28×28), calibrated on the bundled Fashion-MNIST calibration frames and
/// checked on the held-out test frames (docs/planner.md §4 has the figures this prints).
/// </summary>
public class PerTensorCalibrationTests(ITestOutputHelper output)
{
    private static readonly string[] Cut = ["/blocks/blocks.6/Relu_output_0", "/blocks/blocks.5/Relu_1_output_0"];

    [Fact]
    public void MixedWidthsSendFewerBytesThanTheSharedWidthWithinEpsilon()
    {
        var graph = LayerGraph.Load(Path.Combine(ModelCatalog.RepositoryRoot, "models", "resnet-fm112.onnx"));
        ShapeDiscovery.Complete(graph);
        const double epsilon = 0.005;
        var cache = Path.Combine(Path.GetTempPath(), $"coach-calib-{Guid.NewGuid():N}.json");
        var held = Path.Combine(Path.GetTempPath(), $"coach-calib-{Guid.NewGuid():N}.json");
        try
        {
            var calibrator = new CutCalibrator(graph, BundledData.Load(DataSplit.Calibration), epsilon, cache);
            int shared = calibrator.MinimumBits(Cut);
            var mixed = calibrator.MinimumBitsPerTensor(Cut);
            var entry = calibrator.Results.Cuts[CalibrationResults.Key(Cut)];
            Assert.Equal(mixed, entry.TensorBits);
            Assert.All(mixed, b => Assert.True(b <= shared));

            long[] elements = [.. Cut.Select(name => graph.Tensor(name).ElementCount)];
            double Bytes(int[] bits) => elements.Select((e, i) => e * (double)bits[i] / 8).Sum();
            var uniform = Enumerable.Repeat(shared, Cut.Length).ToArray();
            // The joint test accepted the mixed vector on the calibration frames (eq. 1 with the z-margin).
            double calibrationLoss = calibrator.BaselineAccuracy - entry.AccuracyByBits[string.Join(',', mixed)];
            Assert.True(calibrationLoss <= epsilon, $"calibration loss {calibrationLoss:P2}");

            // Held out: the test split, the same ε.
            var test = new CutCalibrator(graph, BundledData.Load(DataSplit.Test), epsilon, held);
            double sharedLoss = test.BaselineAccuracy - test.Accuracy(Cut, uniform);
            double mixedLoss = test.BaselineAccuracy - test.Accuracy(Cut, mixed);
            output.WriteLine($"cut [{string.Join(", ", Cut)}] ({string.Join(" + ", elements)} values)");
            double sharedCalibrationLoss = calibrator.BaselineAccuracy - entry.AccuracyByBits[$"{shared}"];
            output.WriteLine($"shared {shared} bits: {Bytes(uniform):N0} B/frame, held-out loss {sharedLoss:P2}, calibration loss {sharedCalibrationLoss:P2}");
            output.WriteLine($"per tensor [{string.Join(", ", mixed)}] bits: {Bytes(mixed):N0} B/frame ({1 - (Bytes(mixed) / Bytes(uniform)):P1} fewer), held-out loss {mixedLoss:P2}, calibration loss {calibrationLoss:P2}");
            output.WriteLine($"full-model accuracy: calibration {calibrator.BaselineAccuracy:P2}, test {test.BaselineAccuracy:P2}; {test.Results.Frames} test frames");
            Assert.True(Bytes(mixed) < Bytes(uniform), "per-tensor bits should narrow one of the two tensors on this cut");
            Assert.True(mixedLoss <= epsilon + (2 * Math.Sqrt(test.BaselineAccuracy * (1 - test.BaselineAccuracy) / test.Results.Frames)),
                $"held-out loss {mixedLoss:P2} beyond ε plus two standard errors");
        }
        finally
        {
            File.Delete(cache);
            File.Delete(held);
        }
    }
}
