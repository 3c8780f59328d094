using Coach.Engine.Data;

namespace Coach.Engine.Tests.Data;

public class BundledDataTests
{
    [Fact]
    public void TheCommittedSliceHoldsOneThousandCalibrationAndTwoThousandTestSamples()
    {
        var calibration = BundledData.LoadSlice(DataSplit.Calibration);
        var test = BundledData.LoadSlice(DataSplit.Test);
        Assert.Equal(BundledData.CalibrationCount, calibration.Count);
        Assert.Equal(BundledData.TestSliceCount, test.Count);
        Assert.False(test.IsFullTestSet);
        Assert.Contains("slice", test.Source);
        // every class is represented in both
        Assert.Equal(10, Enumerable.Range(0, calibration.Count).Select(calibration.Label).Distinct().Count());
        Assert.Equal(10, Enumerable.Range(0, test.Count).Select(test.Label).Distinct().Count());
    }

    [Fact]
    public void CalibrationAndTestSamplesNeverOverlap()
    {
        var calibration = BundledData.Load(DataSplit.Calibration);
        var test = BundledData.Load(DataSplit.Test);
        var calibrationImages = new HashSet<string>(
            Enumerable.Range(0, calibration.Count).Select(i => Convert.ToBase64String(calibration.SourceImage(i))));
        Assert.Equal(calibration.Count, calibrationImages.Count);
        for (int i = 0; i < test.Count; i++)
        {
            Assert.DoesNotContain(Convert.ToBase64String(test.SourceImage(i)), calibrationImages);
        }
    }

    [Fact]
    public void WithoutTheDataSetTheTestSplitFallsBackToTheSliceAndSaysSo()
    {
        var test = BundledData.Load(DataSplit.Test, Path.Combine(Path.GetTempPath(), "no-such-fashion-mnist"));
        Assert.False(test.IsFullTestSet);
        Assert.Equal(BundledData.TestSliceCount, test.Count);
        Assert.Contains("install dataset-fashion-mnist", test.Source);
    }

    [Fact]
    public void WithTheDataSetTheTestSplitIsTheFullTestSetAndTheSliceIsItsPrefix()
    {
        if (!File.Exists(Path.Combine(BundledData.DebianDirectory, "t10k-images-idx3-ubyte.gz")))
        {
            return; // dataset-fashion-mnist not installed
        }

        var full = BundledData.Load(DataSplit.Test, BundledData.DebianDirectory);
        var slice = BundledData.LoadSlice(DataSplit.Test);
        Assert.True(full.IsFullTestSet);
        Assert.Equal(BundledData.FullTestCount, full.Count);
        for (int i = 0; i < slice.Count; i += 97)
        {
            Assert.True(full.SourceImage(i).SequenceEqual(slice.SourceImage(i)));
            Assert.Equal(full.Label(i), slice.Label(i));
        }
    }

    [Fact]
    public void TheCalibrationSliceEqualsTheLastThousandT10kSamples()
    {
        if (!File.Exists(Path.Combine(BundledData.DebianDirectory, "t10k-images-idx3-ubyte.gz")))
        {
            return; // dataset-fashion-mnist not installed
        }

        var fromDataset = BundledData.LoadCalibrationFromDataset(BundledData.DebianDirectory);
        var slice = BundledData.LoadSlice(DataSplit.Calibration);
        Assert.Equal(fromDataset.Count, slice.Count);
        for (int i = 0; i < slice.Count; i++)
        {
            Assert.True(fromDataset.SourceImage(i).SequenceEqual(slice.SourceImage(i)), $"calibration sample {i} differs");
            Assert.Equal(fromDataset.Label(i), slice.Label(i));
        }
    }
}
