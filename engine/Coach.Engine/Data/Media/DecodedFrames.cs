namespace Coach.Engine.Data.Media;

/// <summary>
/// Frames decoded from images, video, tensor files or a camera, kept in memory as uint8 as a camera would hand them over
/// (planar RGB at the model's input size for images and video; any size and <see cref="PixelFormat"/> otherwise);
/// <see cref="RenderFrame"/> turns one into the model's input through <see cref="FramePreprocessor"/> and the model's
/// <see cref="InputContract"/> (without a card: value / 255, the bundled models' convention; docs/data.md).
/// </summary>
public sealed class DecodedFrames : ILabelledFrames
{
    private readonly byte[] _pixels;
    private readonly int[] _labels;
    private readonly int _frameBytes;
    private readonly int _sourceHeight;
    private readonly int _sourceWidth;
    private readonly ThreadLocal<FramePreprocessor> _preprocessor;

    /// <summary>Planar RGB frames at <paramref name="height"/>×<paramref name="width"/>, fed with the default contract.</summary>
    public DecodedFrames(byte[] pixels, int[] labels, int height, int width, IReadOnlyList<string> classNames, string source)
        : this(pixels, labels, PixelFormat.PlanarRgb, height, width, InputContract.Default(height, width), classNames, source)
    {
    }

    /// <summary>Frames of <paramref name="format"/> at <paramref name="sourceHeight"/>×<paramref name="sourceWidth"/>,
    /// rendered into the input <paramref name="contract"/> describes.</summary>
    public DecodedFrames(byte[] pixels, int[] labels, PixelFormat format, int sourceHeight, int sourceWidth, InputContract contract,
        IReadOnlyList<string> classNames, string source)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classNames);
        ArgumentNullException.ThrowIfNull(contract);
        _frameBytes = FramePreprocessor.SourceFrameBytes(format, sourceHeight, sourceWidth);
        if (pixels.Length != (long)_frameBytes * labels.Length)
        {
            throw new ArgumentException($"{source}: {labels.Length} {format} frames of {sourceWidth}×{sourceHeight} need {(long)_frameBytes * labels.Length} bytes, got {pixels.Length}");
        }
        foreach (var label in labels)
        {
            if (label < -1 || label >= classNames.Count)
            {
                throw new ArgumentException($"{source}: label {label} is not one of the {classNames.Count} classes (or -1, unlabelled)");
            }
        }
        _pixels = pixels;
        _labels = labels;
        _sourceHeight = sourceHeight;
        _sourceWidth = sourceWidth;
        Format = format;
        Contract = contract;
        _preprocessor = new ThreadLocal<FramePreprocessor>(() => new FramePreprocessor(format, sourceHeight, sourceWidth, contract));
        FrameShape = (3, contract.Height, contract.Width);
        ClassNames = classNames;
        Source = source;
    }

    public int Count => _labels.Length;

    public (int Channels, int Height, int Width) FrameShape { get; }

    public IReadOnlyList<string> ClassNames { get; }

    public string Source { get; }

    public bool IsFullTestSet => false;

    /// <summary>How the stored frames are laid out.</summary>
    public PixelFormat Format { get; }

    /// <summary>What the frames are rendered into.</summary>
    public InputContract Contract { get; }

    /// <summary>First 16 hex digits of SHA-256 over the pixels, the labels and (for a contract other than the default) the
    /// preprocessing: the same images normalised another way are another set.</summary>
    public string Fingerprint
    {
        get
        {
            using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            hash.AppendData(_pixels);
            hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_labels.AsSpan()));
            if (Format != PixelFormat.PlanarRgb || !Contract.IsDefaultPreprocessing)
            {
                // Not the origin: the same card read from another path is the same preprocessing.
                hash.AppendData(System.Text.Encoding.UTF8.GetBytes($"{Format} {_sourceHeight}x{_sourceWidth} {(Contract with { Origin = "" }).Describe()}"));
            }
            return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
        }
    }

    /// <summary>The same frames with other labels (for example the full model's own answers, for label-free calibration).</summary>
    public DecodedFrames Relabelled(int[] labels, IReadOnlyList<string> classNames, string source) =>
        new(_pixels, labels, Format, _sourceHeight, _sourceWidth, Contract, classNames, source);

    /// <summary>The same frames rendered into another input contract (same model size or not).</summary>
    public DecodedFrames WithContract(InputContract contract, IReadOnlyList<string> classNames) =>
        new(_pixels, _labels, Format, _sourceHeight, _sourceWidth, contract, classNames, Source);

    public int Label(int index) => _labels[index];

    /// <summary>Frame <paramref name="index"/> as stored (<see cref="Format"/>; planar RGB C×H×W for images and video).</summary>
    public ReadOnlySpan<byte> Pixels(int index)
    {
        if ((uint)index >= (uint)Count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{Source} holds {Count} frames");
        }
        return _pixels.AsSpan(index * _frameBytes, _frameBytes);
    }

    public void RenderFrame(int index, Span<float> chw)
    {
        if (chw.Length != Contract.FrameFloats)
        {
            throw new ArgumentException($"a frame of {Source} is {Contract.FrameFloats} floats (3×{FrameShape.Height}×{FrameShape.Width}), the buffer holds {chw.Length}", nameof(chw));
        }
        _preprocessor.Value!.Run(Pixels(index), chw);
    }

    /// <summary>The folder-safe form of a class name: lower case, every run of other characters one '-'
    /// ("T-shirt/top" → "t-shirt-top"); image subfolders and video label files are matched through it.</summary>
    public static string FolderName(string className)
    {
        ArgumentNullException.ThrowIfNull(className);
        var builder = new System.Text.StringBuilder(className.Length);
        foreach (var c in className.Trim())
        {
            if (char.IsLetterOrDigit(c))
            {
                builder.Append(char.ToLowerInvariant(c));
            }
            else if (builder.Length > 0 && builder[^1] != '-')
            {
                builder.Append('-');
            }
        }
        return builder.ToString().TrimEnd('-');
    }

    /// <summary>The label a folder or label-file name stands for: a class name in <see cref="FolderName"/> form, or
    /// the label's number; -1 when it names no class.</summary>
    public static int LabelOf(string name, IReadOnlyList<string> classNames)
    {
        ArgumentNullException.ThrowIfNull(classNames);
        var key = FolderName(name);
        for (var i = 0; i < classNames.Count; i++)
        {
            if (FolderName(classNames[i]) == key)
            {
                return i;
            }
        }
        return int.TryParse(name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number)
               && number < classNames.Count ? number : -1;
    }

    /// <summary>Interleaved RGB or RGBA (<paramref name="stride"/> bytes a pixel) into planar RGB.</summary>
    public static void ToPlanar(ReadOnlySpan<byte> interleaved, int stride, Span<byte> planar)
    {
        var pixels = planar.Length / 3;
        if (interleaved.Length < pixels * stride)
        {
            throw new ArgumentException($"{pixels} pixels need {pixels * stride} interleaved bytes, got {interleaved.Length}", nameof(interleaved));
        }
        var red = planar[..pixels];
        var green = planar.Slice(pixels, pixels);
        var blue = planar.Slice(2 * pixels, pixels);
        for (var i = 0; i < pixels; i++)
        {
            var at = i * stride;
            red[i] = interleaved[at];
            green[i] = interleaved[at + 1];
            blue[i] = interleaved[at + 2];
        }
    }
}
