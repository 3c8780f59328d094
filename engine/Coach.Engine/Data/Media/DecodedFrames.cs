namespace Coach.Engine.Data.Media;

/// <summary>
/// Frames decoded from images or video into uint8 planar RGB at the model's input size, kept in memory as a
/// camera would hand them over; <see cref="RenderFrame"/> only converts to the model's float range (value / 255,
/// the bundled models' input convention, <see cref="FrameRenderer.ToUnitRange"/>).
/// </summary>
public sealed class DecodedFrames : ILabelledFrames
{
    private readonly byte[] _pixels;
    private readonly int[] _labels;
    private readonly int _frameBytes;

    public DecodedFrames(byte[] pixels, int[] labels, int height, int width, IReadOnlyList<string> classNames, string source)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classNames);
        _frameBytes = checked(3 * height * width);
        if (pixels.Length != (long)_frameBytes * labels.Length)
        {
            throw new ArgumentException($"{source}: {labels.Length} frames of 3×{height}×{width} need {(long)_frameBytes * labels.Length} bytes, got {pixels.Length}");
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
        FrameShape = (3, height, width);
        ClassNames = classNames;
        Source = source;
    }

    public int Count => _labels.Length;

    public (int Channels, int Height, int Width) FrameShape { get; }

    public IReadOnlyList<string> ClassNames { get; }

    public string Source { get; }

    public bool IsFullTestSet => false;

    /// <summary>First 16 hex digits of SHA-256 over the pixels then the labels.</summary>
    public string Fingerprint
    {
        get
        {
            using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            hash.AppendData(_pixels);
            hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_labels.AsSpan()));
            return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
        }
    }

    /// <summary>The same frames with other labels (for example the full model's own answers, for label-free calibration).</summary>
    public DecodedFrames Relabelled(int[] labels, IReadOnlyList<string> classNames, string source) =>
        new(_pixels, labels, FrameShape.Height, FrameShape.Width, classNames, source);

    public int Label(int index) => _labels[index];

    /// <summary>Frame <paramref name="index"/> as uint8 planar RGB (C×H×W).</summary>
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
        if (chw.Length != _frameBytes)
        {
            throw new ArgumentException($"a frame of {Source} is {_frameBytes} floats (3×{FrameShape.Height}×{FrameShape.Width}), the buffer holds {chw.Length}", nameof(chw));
        }
        FrameRenderer.ToUnitRange(Pixels(index), chw);
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
