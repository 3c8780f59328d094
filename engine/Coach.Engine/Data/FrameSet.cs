namespace Coach.Engine.Data;

/// <summary>Which part of the bundled data: calibration (t10k's last 1,000, held out) or test (t10k's first 9,000).</summary>
public enum DataSplit
{
    Calibration,
    Test,
}

/// <summary>
/// Labelled Fashion-MNIST samples that render to camera-sized frames on demand (<see cref="FrameRenderer"/>).
/// Holds the 28×28 sources only (784 bytes each); a frame is rendered when asked for, without allocating.
/// </summary>
public sealed class FrameSet : ILabelledFrames
{
    /// <summary>The ten Fashion-MNIST classes, in label order.</summary>
    public static readonly IReadOnlyList<string> FashionMnistClasses =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    private readonly byte[] _sources;
    private readonly byte[] _labels;

    public FrameSet(byte[] sources, byte[] labels, DataSplit split, string source, bool isFullTestSet, IReadOnlyList<string>? classNames = null)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(labels);
        if (sources.Length != labels.Length * FrameRenderer.SourcePixels)
        {
            throw new ArgumentException($"{source}: {labels.Length} labels need {labels.Length * FrameRenderer.SourcePixels} image bytes, got {sources.Length}");
        }

        ClassNames = classNames ?? FashionMnistClasses;
        foreach (byte label in labels)
        {
            if (label >= ClassNames.Count)
            {
                throw new ArgumentException($"{source}: label {label} is not one of the {ClassNames.Count} classes");
            }
        }

        _sources = sources;
        _labels = labels;
        Split = split;
        Source = source;
        IsFullTestSet = isFullTestSet;
    }

    public int Count => _labels.Length;

    public (int Channels, int Height, int Width) FrameShape => (FrameRenderer.Channels, FrameRenderer.Size, FrameRenderer.Size);

    public DataSplit Split { get; }

    /// <summary>Where the samples came from (the Debian data set's file, or the committed slice).</summary>
    public string Source { get; }

    /// <summary>True when this is the whole test split (t10k without the calibration hold-out), not the committed slice.</summary>
    public bool IsFullTestSet { get; }

    public IReadOnlyList<string> ClassNames { get; }

    public int Label(int index) => _labels[CheckIndex(index)];

    /// <summary>First 16 hex digits of SHA-256 over the images then the labels: names what results measured on this set were measured on.</summary>
    public string Fingerprint
    {
        get
        {
            using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            hash.AppendData(_sources);
            hash.AppendData(_labels);
            return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
        }
    }

    /// <summary>Samples <paramref name="start"/> … <paramref name="start"/> + <paramref name="count"/> − 1 as a set of their own (copied).</summary>
    public FrameSet Range(int start, int count, DataSplit split, string source)
    {
        if (start < 0 || count < 0 || start + count > Count)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"{Source} holds {Count} samples; [{start}, {start + count}) is outside it");
        }

        return new FrameSet(_sources.AsSpan(start * FrameRenderer.SourcePixels, count * FrameRenderer.SourcePixels).ToArray(),
            _labels.AsSpan(start, count).ToArray(), split, source, split == DataSplit.Test && IsFullTestSet, ClassNames);
    }

    /// <summary>The 28×28 source image of a sample.</summary>
    public ReadOnlySpan<byte> SourceImage(int index) =>
        _sources.AsSpan(CheckIndex(index) * FrameRenderer.SourcePixels, FrameRenderer.SourcePixels);

    /// <summary>Renders sample <paramref name="index"/> as the models' input: planar float32 [3, 112, 112] in [0, 1].</summary>
    public void RenderFrame(int index, Span<float> chw) => FrameRenderer.Render(SourceImage(index), chw);

    public void RenderFrame(int index, Span<float> chw, FrameJitter jitter) => FrameRenderer.Render(SourceImage(index), chw, jitter);

    /// <summary>Renders sample <paramref name="index"/> as uint8 planar RGB [3, 112, 112].</summary>
    public void RenderFrame(int index, Span<byte> rgb, FrameJitter jitter = default) => FrameRenderer.Render(SourceImage(index), rgb, jitter);

    private int CheckIndex(int index)
    {
        if ((uint)index >= (uint)_labels.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{Source} holds {_labels.Length} samples");
        }

        return index;
    }
}
