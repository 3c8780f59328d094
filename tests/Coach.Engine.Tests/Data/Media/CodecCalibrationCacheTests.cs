using Coach.Engine.Data;
using Coach.Engine.Data.Media;

namespace Coach.Engine.Tests.Data.Media;

public sealed class CodecCalibrationCacheTests : IDisposable
{
    private const string Model = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    private readonly string _directory = Directory.CreateTempSubdirectory("coach-codec-cache-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static CodecCalibrationResult Result(string codec, double epsilon, int frames, int chosenSetting)
    {
        var point = new CodecPoint(codec, chosenSetting, 1649.5, 0.918, 0.21);
        return new CodecCalibrationResult(codec, codec == "jpeg" ? "quality" : "crf", 0.919, epsilon, [point], point, frames);
    }

    [Fact]
    public void ASecondPlanReadsTheCalibrationInsteadOfMeasuringAgain()
    {
        var frames = BundledData.LoadSlice(DataSplit.Calibration);
        int measured = 0;
        var first = CodecCalibrationCache.LoadOrMeasure("jpeg", Model, frames, 0.01, _directory, () => { measured++; return Result("jpeg", 0.01, frames.Count, 50); }, out bool firstCached);
        var second = CodecCalibrationCache.LoadOrMeasure("jpeg", Model, frames, 0.01, _directory, () => { measured++; return Result("jpeg", 0.01, frames.Count, 95); }, out bool secondCached);

        Assert.Equal(1, measured);
        Assert.False(firstCached);
        Assert.True(secondCached);
        Assert.Equal(50, second.Chosen!.Setting);
        Assert.Equal(first.Points, second.Points);
        Assert.Equal(first.RawAccuracy, second.RawAccuracy);
    }

    [Fact]
    public void AnotherEpsilonCodecOrModelIsMeasuredAndADamagedFileIsMeasuredAgain()
    {
        var frames = BundledData.LoadSlice(DataSplit.Calibration);
        int measured = 0;
        CodecCalibrationResult Measure(string codec, double epsilon)
        {
            measured++;
            return Result(codec, epsilon, frames.Count, 40);
        }

        CodecCalibrationCache.LoadOrMeasure("jpeg", Model, frames, 0.01, _directory, () => Measure("jpeg", 0.01), out _);
        CodecCalibrationCache.LoadOrMeasure("jpeg", Model, frames, 0.02, _directory, () => Measure("jpeg", 0.02), out _);
        CodecCalibrationCache.LoadOrMeasure("h264", Model, frames, 0.01, _directory, () => Measure("h264", 0.01), out _);
        CodecCalibrationCache.LoadOrMeasure("jpeg", "f" + Model[1..], frames, 0.01, _directory, () => Measure("jpeg", 0.01), out _);
        Assert.Equal(4, measured);

        foreach (var file in Directory.GetFiles(_directory))
        {
            File.WriteAllText(file, "{ not json");
        }
        CodecCalibrationCache.LoadOrMeasure("jpeg", Model, frames, 0.01, _directory, () => Measure("jpeg", 0.01), out bool cached);
        Assert.False(cached);
        Assert.Equal(5, measured);
    }
}
