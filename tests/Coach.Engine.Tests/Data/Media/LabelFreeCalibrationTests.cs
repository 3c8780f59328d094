using Coach.Engine.Calibration;
using Coach.Engine.Data;
using Coach.Engine.Data.Media;
using Coach.Engine.Graph;
using Coach.Native.OnnxRuntime;
using SkiaSharp;

namespace Coach.Engine.Tests.Data.Media;

/// <summary>Frames without labels, labelled by the full model's own answers, as the calibration set of eq. 1.</summary>
public sealed class LabelFreeCalibrationTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"coach-label-free-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    private DecodedFrames UnlabelledJpegs(int count)
    {
        MediaExport.WriteImages(BundledData.Load(DataSplit.Calibration), count, _folder, SKEncodedImageFormat.Jpeg, 90);
        return MediaSource.Open("images:" + _folder, FrameRenderer.Size, FrameRenderer.Size, [], out _);
    }

    [Fact]
    public void TheFullModelAgreesWithItsOwnLabelsOnEveryFrameInEveryBatch()
    {
        var frames = UnlabelledJpegs(37); // not a multiple of the batch size: the last batch is short
        Assert.All(Enumerable.Range(0, frames.Count), i => Assert.Equal(-1, frames.Label(i)));
        using var model = InferenceSession.Open(ModelCatalog.Get("resnet-fm112").Path);

        var labelled = FullModelLabels.Apply(model, frames, batchSize: 8);

        Assert.Equal(10, labelled.ClassNames.Count);
        Assert.Contains("label-free", labelled.Source);
        var agreement = ModelEvaluator.Evaluate(model, labelled);
        Assert.Equal(37, agreement.Samples);
        Assert.Equal(1.0, agreement.Accuracy);
        // The answers are the model's, not one constant: the calibration split spans several classes.
        Assert.True(Enumerable.Range(0, labelled.Count).Select(labelled.Label).Distinct().Count() >= 3);
    }

    [Fact]
    public void CalibrationOnLabelFreeFramesStartsFromFullAgreement()
    {
        var path = ModelCatalog.Get("resnet-fm112").Path;
        using var model = InferenceSession.Open(path);
        var labelled = FullModelLabels.Apply(model, UnlabelledJpegs(40));
        var graph = LayerGraph.Load(path);
        var cache = Path.Combine(_folder, "calibration.json");

        var calibrator = new CutCalibrator(graph, labelled, epsilon: 0.005, cachePath: cache);

        Assert.Equal(1.0, calibrator.BaselineAccuracy);
    }

    [Fact]
    public void AModelWithoutClassScoresIsRefusedForLabelFreeCalibration()
    {
        var frames = UnlabelledJpegs(2);
        // ONNX's Relu test model (Debian's libonnx-testdata, an apt package of ./coach test): output [3, 4, 5].
        using var notAClassifier = InferenceSession.Open("/usr/share/libonnx-testdata/data/node/test_relu/model.onnx");

        var error = Assert.Throws<ModelDataMismatchException>(() => FullModelLabels.Apply(notAClassifier, frames));

        Assert.Contains("needs a classifier", error.Message);
    }
}
