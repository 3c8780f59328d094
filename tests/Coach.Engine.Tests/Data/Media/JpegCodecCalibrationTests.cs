using Coach.Engine.Data;
using Coach.Engine.Data.Media;
using Coach.Native.OnnxRuntime;

namespace Coach.Engine.Tests.Data.Media;

/// <summary>The JPEG codec calibration behind `coach data codec` and the cloud-jpeg plan (eq. 1's bound applied to the
/// codec), through libjpeg-turbo on the bundled model and frames.</summary>
public sealed class JpegCodecCalibrationTests
{
    private static InferenceSession Session() =>
        InferenceSession.Open(ModelCatalog.Get("resnet-fm112").Path, new SessionSettings { Providers = [ExecutionProvider.Cpu], IntraOpThreads = 1 });

    [Fact]
    public void LowerQualitiesSendFewerBytesAndTheChoiceKeepsTheBound()
    {
        var calibration = BundledData.LoadSlice(DataSplit.Calibration);
        var frames = calibration.Range(0, 200, DataSplit.Calibration, "first 200");
        using var session = Session();
        var result = CodecCalibration.Jpeg(session, frames, 0.01);

        Assert.Equal(CodecCalibration.JpegQualities.Count, result.Points.Count);
        for (int i = 1; i < result.Points.Count; i++)
        {
            Assert.True(result.Points[i].BytesPerFrame < result.Points[i - 1].BytesPerFrame,
                $"quality {result.Points[i].Setting}: {result.Points[i].BytesPerFrame:F0} B, quality {result.Points[i - 1].Setting}: {result.Points[i - 1].BytesPerFrame:F0} B");
        }

        // A 3×112×112 frame is 37,632 bytes raw; even the best quality is a fraction of it.
        Assert.True(result.Points[0].BytesPerFrame < 37_632 / 4.0);
        CodecPoint chosen = Assert.IsType<CodecPoint>(result.Chosen);
        Assert.True(result.RawAccuracy - chosen.Accuracy <= 0.01);
        Assert.True(chosen.EncodeMsPerFrame > 0);
    }

    [Fact]
    public void FramesOutsideTheUnitRangeAreRefusedWithTheReason()
    {
        // A model card with ImageNet mean/std: its input values are not value/255, so JPEG pixels cannot carry them.
        var contract = InputContract.Default(112, 112) with { Mean = InputContract.ImageNetMean, Std = InputContract.ImageNetStd, Origin = "test" };
        var pixels = new byte[3 * 112 * 112 * 4];
        new Random(1).NextBytes(pixels);
        var frames = new DecodedFrames(pixels, [0, 1, 2, 3], PixelFormat.PlanarRgb, 112, 112, contract, FrameSet.FashionMnistClasses, "normalized");
        using var session = Session();
        var e = Assert.Throws<InvalidOperationException>(() => CodecCalibration.Jpeg(session, frames, 0.01));
        Assert.Contains("outside [0, 1]", e.Message);
        Assert.Contains("cloud method", e.Message);
    }
}
