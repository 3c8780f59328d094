namespace Coach.Engine.Data;

/// <summary>
/// The project's data: Fashion-MNIST from Debian's <c>dataset-fashion-mnist</c> when installed, else the
/// committed slice under <c>models/data/</c> (same gzip IDX format, so one reader serves both).
/// </summary>
/// <remarks>
/// Calibration samples are the last 1,000 images of Fashion-MNIST's t10k file (indices 9,000–9,999), which the bundled
/// models never saw in training, so what a cut's quantization loses on them is what it loses on new frames; test samples
/// are t10k's first 9,000, so the two never overlap. The slice holds those 1,000 calibration samples and the first 2,000
/// test samples.
/// </remarks>
public static class BundledData
{
    public const string DebianDirectory = "/usr/share/datasets/fashion-mnist";
    public const int CalibrationCount = 1000;
    public const int TestSliceCount = 2000;

    /// <summary>Samples in the data set's t10k file.</summary>
    public const int T10kCount = 10000;

    /// <summary>The test split when the data set is installed: t10k without the calibration hold-out at its end.</summary>
    public const int FullTestCount = T10kCount - CalibrationCount;

    /// <summary>Where in t10k the calibration hold-out starts: where the test split ends.</summary>
    public const int CalibrationStart = FullTestCount;

    /// <summary>The Debian data set's folder; <c>COACH_FASHION_MNIST_DIR</c> overrides it.</summary>
    public static string DatasetDirectory =>
        Environment.GetEnvironmentVariable("COACH_FASHION_MNIST_DIR") is { Length: > 0 } dir ? dir : DebianDirectory;

    /// <summary>The committed slice's folder.</summary>
    public static string SliceDirectory => Path.Combine(ModelCatalog.RepositoryRoot, "models", "data");

    /// <summary>Test: t10k's first 9,000 samples when the data set is installed, else the 2,000-sample slice.
    /// Calibration: always the same 1,000 held-out t10k samples (from the slice, which equals the data set's).</summary>
    public static FrameSet Load(DataSplit split) => Load(split, DatasetDirectory);

    public static FrameSet Load(DataSplit split, string datasetDirectory)
    {
        if (split == DataSplit.Test)
        {
            string images = Path.Combine(datasetDirectory, "t10k-images-idx3-ubyte.gz");
            string labels = Path.Combine(datasetDirectory, "t10k-labels-idx1-ubyte.gz");
            if (File.Exists(images) && File.Exists(labels))
            {
                var set = Read(images, labels, split, $"Fashion-MNIST t10k[0:{FullTestCount}] ({images})", isFullTestSet: true);
                if (set.Count != T10kCount)
                {
                    throw new InvalidDataException($"{images}: expected the {T10kCount}-sample t10k set, found {set.Count} samples");
                }

                return set.Range(0, FullTestCount, split, set.Source);
            }
        }

        return LoadSlice(split);
    }

    /// <summary>The committed slice only (what a machine without the Debian data set uses).</summary>
    public static FrameSet LoadSlice(DataSplit split)
    {
        string prefix = split == DataSplit.Calibration ? "calib" : "test";
        string images = Path.Combine(SliceDirectory, $"{prefix}-images-idx3-ubyte.gz");
        string labels = Path.Combine(SliceDirectory, $"{prefix}-labels-idx1-ubyte.gz");
        string what = split == DataSplit.Calibration
            ? $"committed calibration slice ({images}: Fashion-MNIST t10k[{CalibrationStart}:{T10kCount}], held out of training and of the test split)"
            : $"committed test slice ({images}: first {TestSliceCount} of Fashion-MNIST t10k; install dataset-fashion-mnist for all {FullTestCount})";
        return Read(images, labels, split, what, isFullTestSet: false);
    }

    /// <summary>The calibration samples taken straight from the data set's t10k file (proves the slice equals it).</summary>
    public static FrameSet LoadCalibrationFromDataset(string datasetDirectory)
    {
        string imagesPath = Path.Combine(datasetDirectory, "t10k-images-idx3-ubyte.gz");
        string labelsPath = Path.Combine(datasetDirectory, "t10k-labels-idx1-ubyte.gz");
        var all = Read(imagesPath, labelsPath, DataSplit.Calibration, imagesPath, isFullTestSet: false);
        return all.Range(CalibrationStart, CalibrationCount, DataSplit.Calibration, $"Fashion-MNIST t10k[{CalibrationStart}:{T10kCount}] ({imagesPath})");
    }

    private static FrameSet Read(string imagesPath, string labelsPath, DataSplit split, string source, bool isFullTestSet)
    {
        if (!File.Exists(imagesPath) || !File.Exists(labelsPath))
        {
            throw new FileNotFoundException(
                $"{imagesPath} or {labelsPath} is missing: the committed data slice should be in models/data/ " +
                "(restore it with git), or install the data set: apt-get install dataset-fashion-mnist", imagesPath);
        }

        var images = IdxReader.ReadImages(imagesPath, FrameRenderer.SourceSize, FrameRenderer.SourceSize);
        var labels = IdxReader.ReadLabels(labelsPath, FrameSet.FashionMnistClasses.Count);
        if (images.Count != labels.Count)
        {
            throw new InvalidDataException($"{imagesPath} holds {images.Count} images but {labelsPath} holds {labels.Count} labels");
        }

        return new FrameSet(images.Data, labels.Data, split, source, isFullTestSet);
    }
}
