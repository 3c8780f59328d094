using System.Buffers.Binary;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Coach.Engine.Data.Media;

/// <summary>
/// <c>tensors:FILE</c> (docs/data.md): frames stored as an array, a NumPy <c>.npy</c> file (float32 or uint8) or an IDX file
/// (uint8), of shape [N, 3, H, W] or [N, H, W, 3]. uint8 frames of any size go through the model's
/// <see cref="InputContract"/> like decoded images; float32 frames are taken as the model's input as they are (already
/// resized and normalised), so they must be N×3×H×W at the model's size (or N×H×W×3, transposed on load). Labels come
/// from <c>FILE.labels</c>, one a line, as for video.
/// </summary>
/// <remarks>
/// The .npy header is parsed here rather than through a package: the format is a magic string, a version, a length and
/// a Python dict literal of three keys (numpy.lib.format), and the only .NET readers on NuGet pull in a NumPy-like
/// array library for it.
/// </remarks>
public static partial class TensorFile
{
    private static readonly byte[] NpyMagic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>An array read from a file: element type, dimensions and the raw little-endian data.</summary>
    public sealed record RawArray(bool IsFloat32, int[] Shape, byte[] Data);

    /// <summary>Reads up to <paramref name="maxFrames"/> frames of <paramref name="path"/> for a model of <paramref name="contract"/>.</summary>
    public static ILabelledFrames Load(string path, InputContract contract, IReadOnlyList<string> classNames, int maxFrames = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(contract);
        var full = Path.GetFullPath(path);
        var spec = $"tensors:{path}";
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"{spec}: no such file ({full}); give an .npy or IDX file of frames [N, 3, H, W] or [N, H, W, 3]", full);
        }
        var array = Read(full, spec);
        if (array.Shape.Length != 4 || !(array.Shape[1] == 3 || array.Shape[3] == 3) || array.Shape.Any(d => d < 1))
        {
            throw new InvalidDataException(
                $"{spec}: shape [{string.Join(", ", array.Shape)}] is not frames [N, 3, H, W] or [N, H, W, 3]; store colour frames (repeat a grey channel three times)");
        }
        var channelsFirst = array.Shape[1] == 3;
        int height = channelsFirst ? array.Shape[2] : array.Shape[1], width = channelsFirst ? array.Shape[3] : array.Shape[2];
        var count = Math.Min(array.Shape[0], maxFrames);
        var labels = VideoFile.ReadLabels(full, count, classNames);
        var layout = channelsFirst ? "N×3×H×W" : "N×H×W×3";
        var description = $"{spec} ({count} {(array.IsFloat32 ? "float32" : "uint8")} frames {layout} of {width}×{height}, {labels.Count(l => l >= 0)} labelled)";
        if (!array.IsFloat32)
        {
            var bytes = 3 * height * width * count;
            var pixels = array.Data.Length == bytes ? array.Data : array.Data.AsSpan(0, bytes).ToArray();
            return new DecodedFrames(pixels, labels, channelsFirst ? PixelFormat.PlanarRgb : PixelFormat.Rgb24, height, width, contract, classNames, description);
        }
        if (height != contract.Height || width != contract.Width)
        {
            throw new InvalidDataException(
                $"{spec}: float32 frames are taken as the model's input as they are, and these are {width}×{height}, the model takes {contract.Width}×{contract.Height}; " +
                "store them at the model's size, or store uint8 pixels and let the model's input contract resize and normalise them");
        }
        var floats = new float[3 * height * width * count];
        var source = array.Data.AsSpan();
        var plane = height * width;
        for (var n = 0; n < count; n++)
        {
            for (var i = 0; i < 3 * plane; i++)
            {
                // [N,H,W,3] → [N,3,H,W]: element (n, c, p) sits at (n, p, c) in the file.
                var at = channelsFirst ? (n * 3 * plane) + i : (n * 3 * plane) + ((i % plane) * 3) + (i / plane);
                floats[(n * 3 * plane) + i] = BinaryPrimitives.ReadSingleLittleEndian(source.Slice(at * 4, 4));
            }
        }
        return new FloatFrames(floats, labels, height, width, classNames, description + ", taken as the model's input");
    }

    /// <summary>Reads an .npy (by its magic) or IDX file.</summary>
    public static RawArray Read(string path, string spec)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.AsSpan().StartsWith(NpyMagic))
        {
            return ReadNpy(bytes, spec);
        }
        try
        {
            using var stream = new MemoryStream(bytes, writable: false);
            var idx = IdxReader.Read(stream, spec);
            return new RawArray(false, [.. idx.Dimensions], idx.Data);
        }
        catch (IdxFormatException e)
        {
            throw new InvalidDataException($"{spec}: neither an .npy file (no \\x93NUMPY magic) nor an unsigned-byte IDX file ({e.Problem})", e);
        }
    }

    /// <summary>Parses an .npy file of version 1, 2 or 3: C order, little-endian float32 or uint8.</summary>
    public static RawArray ReadNpy(byte[] bytes, string spec)
    {
        if (bytes.Length < 10)
        {
            throw new InvalidDataException($"{spec}: an .npy file of {bytes.Length} bytes is truncated");
        }
        var major = bytes[6];
        var (headerLength, headerStart) = major switch
        {
            1 => (BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8, 2)), 10),
            2 or 3 when bytes.Length >= 12 => ((int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8, 4)), 12),
            _ => throw new InvalidDataException($"{spec}: .npy format version {major} is not 1, 2 or 3"),
        };
        if (headerLength < 0 || headerStart + headerLength > bytes.Length)
        {
            throw new InvalidDataException($"{spec}: the .npy header of {headerLength} bytes runs past the end of the file");
        }
        var header = System.Text.Encoding.Latin1.GetString(bytes, headerStart, headerLength);
        var descr = DescrPattern().Match(header);
        var order = FortranPattern().Match(header);
        var shapeMatch = ShapePattern().Match(header);
        if (!descr.Success || !order.Success || !shapeMatch.Success)
        {
            throw new InvalidDataException($"{spec}: the .npy header {header.Trim()} lacks 'descr', 'fortran_order' or 'shape'");
        }
        var isFloat = descr.Groups[1].Value switch
        {
            "<f4" => true,
            "|u1" or "<u1" or ">u1" => false,
            var other => throw new InvalidDataException(
                $"{spec}: element type '{other}' is neither float32 ('<f4') nor uint8 ('|u1'); save with array.astype(numpy.float32) or numpy.uint8"),
        };
        if (order.Groups[1].Value == "True")
        {
            throw new InvalidDataException($"{spec}: the array is in Fortran order; save numpy.ascontiguousarray(array) instead");
        }
        int[] shape;
        try
        {
            shape = [.. shapeMatch.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(d => int.Parse(d, NumberStyles.None, CultureInfo.InvariantCulture))];
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw new InvalidDataException($"{spec}: the .npy shape ({shapeMatch.Groups[1].Value}) is not a tuple of sizes", e);
        }
        var elements = shape.Aggregate(1L, (a, d) => a * d);
        var dataStart = headerStart + headerLength;
        var expected = elements * (isFloat ? 4 : 1);
        if (bytes.Length - dataStart != expected)
        {
            throw new InvalidDataException($"{spec}: shape ({string.Join(", ", shape)}) needs {expected} bytes of data, the file has {bytes.Length - dataStart}");
        }
        return new RawArray(isFloat, shape, bytes.AsSpan(dataStart).ToArray());
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex DescrPattern();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranPattern();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}

/// <summary>float32 frames that are already the model's input (NCHW): <see cref="RenderFrame"/> copies.</summary>
public sealed class FloatFrames : ILabelledFrames
{
    private readonly float[] _values;
    private readonly int[] _labels;
    private readonly int _frameFloats;

    public FloatFrames(float[] values, int[] labels, int height, int width, IReadOnlyList<string> classNames, string source)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(labels);
        _frameFloats = 3 * height * width;
        if (values.Length != (long)_frameFloats * labels.Length)
        {
            throw new ArgumentException($"{source}: {labels.Length} frames of 3×{height}×{width} need {(long)_frameFloats * labels.Length} floats, got {values.Length}");
        }
        _values = values;
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

    public string Fingerprint
    {
        get
        {
            using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_values.AsSpan()));
            hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_labels.AsSpan()));
            return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
        }
    }

    public int Label(int index) => _labels[index];

    /// <summary>The same frames with other labels.</summary>
    public FloatFrames Relabelled(int[] labels, IReadOnlyList<string> classNames, string source) =>
        new(_values, labels, FrameShape.Height, FrameShape.Width, classNames, source);

    public void RenderFrame(int index, Span<float> chw)
    {
        if (chw.Length != _frameFloats)
        {
            throw new ArgumentException($"a frame of {Source} is {_frameFloats} floats, the buffer holds {chw.Length}", nameof(chw));
        }
        _values.AsSpan(index * _frameFloats, _frameFloats).CopyTo(chw);
    }
}
