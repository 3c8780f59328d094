using System.Numerics;

namespace Coach.Engine.Data.Media;

/// <summary>How a uint8 frame's pixels are laid out.</summary>
public enum PixelFormat
{
    /// <summary>Three planes R, G, B (what <see cref="DecodedFrames"/> holds).</summary>
    PlanarRgb,

    /// <summary>Interleaved R, G, B bytes (V4L2 RGB3, ffmpeg rgb24, NumPy [H, W, 3]).</summary>
    Rgb24,

    /// <summary>Interleaved B, G, R bytes (V4L2 BGR3, OpenCV's order).</summary>
    Bgr24,

    /// <summary>YUV 4:2:2, Y0 U Y1 V for each pair of pixels (V4L2 YUYV, what most USB cameras give), BT.601 limited range.</summary>
    Yuyv,
}

/// <summary>
/// Turns a uint8 frame of any size and <see cref="PixelFormat"/> into the model's float NCHW input as its
/// <see cref="InputContract"/> says: bilinear resize (half-pixel centres, as OpenCV's INTER_LINEAR and PyTorch's
/// align_corners=False; no anti-aliasing filter when shrinking), channel order, scale and mean/std (docs/data.md).
/// </summary>
/// <remarks>
/// Separable: each source row a frame needs is converted to float planes once and resampled horizontally (a gather
/// through precomputed indices and weights, scalar), then every output row is the vertical blend of two such rows
/// followed by the normalisation, in <see cref="Vector{T}"/> lanes. A planar frame already at the model's size
/// skips the resampling and is widened and normalised in SIMD lanes straight from the bytes. All buffers are made in
/// the constructor: <see cref="Run"/> allocates nothing. One instance serves one thread at a time.
/// </remarks>
public sealed class FramePreprocessor
{
    private readonly int _sourceHeight;
    private readonly int _sourceWidth;
    private readonly int _height;
    private readonly int _width;
    private readonly int[] _x0;
    private readonly int[] _x1;
    private readonly float[] _wx;
    private readonly int[] _y0;
    private readonly int[] _y1;
    private readonly float[] _wy;
    private readonly int[] _sourceChannel = new int[3];
    private readonly float[] _offset = new float[3];
    private readonly float[] _divisor = new float[3];
    private readonly float[] _sourceRow;
    private readonly byte[] _rgbRow;
    private float[] _upper;
    private float[] _lower;
    private int _upperRow = -1;
    private int _lowerRow = -1;

    public FramePreprocessor(PixelFormat format, int sourceHeight, int sourceWidth, InputContract contract)
    {
        ArgumentNullException.ThrowIfNull(contract);
        if (sourceHeight < 1 || sourceWidth < 1)
        {
            throw new ArgumentException($"a source frame of {sourceWidth}×{sourceHeight} pixels is empty");
        }
        if (format == PixelFormat.Yuyv && sourceWidth % 2 != 0)
        {
            throw new ArgumentException($"a YUYV frame has an even width (two pixels share U and V), got {sourceWidth}");
        }
        Format = format;
        Contract = contract;
        _sourceHeight = sourceHeight;
        _sourceWidth = sourceWidth;
        _height = contract.Height;
        _width = contract.Width;
        (_x0, _x1, _wx) = Taps(sourceWidth, _width);
        (_y0, _y1, _wy) = Taps(sourceHeight, _height);
        for (var c = 0; c < 3; c++)
        {
            _sourceChannel[c] = contract.ChannelOrder == ChannelOrder.Bgr ? 2 - c : c;
            _offset[c] = contract.PixelOffset(c);
            _divisor[c] = contract.PixelDivisor(c);
        }
        _sourceRow = new float[3 * sourceWidth];
        _rgbRow = format == PixelFormat.Yuyv ? new byte[3 * sourceWidth] : [];
        _upper = new float[3 * _width];
        _lower = new float[3 * _width];
    }

    public PixelFormat Format { get; }

    public InputContract Contract { get; }

    /// <summary>Bytes of one source frame.</summary>
    public int SourceBytes => SourceFrameBytes(Format, _sourceHeight, _sourceWidth);

    public static int SourceFrameBytes(PixelFormat format, int height, int width) =>
        checked((format == PixelFormat.Yuyv ? 2 : 3) * height * width);

    /// <summary>Source sample positions for each output position: half-pixel centres, clamped at the borders.</summary>
    public static (int[] First, int[] Second, float[] Weight) Taps(int source, int output)
    {
        var first = new int[output];
        var second = new int[output];
        var weight = new float[output];
        for (var i = 0; i < output; i++)
        {
            // In double: a float coordinate loses 6e-5 of a pixel at x ≈ 600, which on a sharp edge is a visible error.
            var at = Math.Max(((i + 0.5) * source / output) - 0.5, 0.0);
            var low = Math.Min((int)at, source - 1);
            first[i] = low;
            second[i] = Math.Min(low + 1, source - 1);
            weight[i] = (float)(at - low);
        }
        return (first, second, weight);
    }

    /// <summary>Converts <paramref name="frame"/> (<see cref="SourceBytes"/> bytes) into <paramref name="chw"/> (3·H·W floats).</summary>
    public void Run(ReadOnlySpan<byte> frame, Span<float> chw)
    {
        if (frame.Length != SourceBytes)
        {
            throw new ArgumentException($"a {Format} frame of {_sourceWidth}×{_sourceHeight} is {SourceBytes} bytes, got {frame.Length}", nameof(frame));
        }
        if (chw.Length != Contract.FrameFloats)
        {
            throw new ArgumentException($"the model input 3×{_height}×{_width} is {Contract.FrameFloats} floats, the buffer holds {chw.Length}", nameof(chw));
        }
        var plane = _height * _width;
        if (Format == PixelFormat.PlanarRgb && _sourceHeight == _height && _sourceWidth == _width)
        {
            for (var c = 0; c < 3; c++)
            {
                Normalize(frame.Slice(_sourceChannel[c] * plane, plane), chw.Slice(c * plane, plane), _offset[c], _divisor[c]);
            }
            return;
        }

        _upperRow = _lowerRow = -1;
        for (var y = 0; y < _height; y++)
        {
            int top = _y0[y], bottom = _y1[y];
            if (_upperRow != top)
            {
                if (_lowerRow == top)
                {
                    (_upper, _lower) = (_lower, _upper);
                    (_upperRow, _lowerRow) = (_lowerRow, _upperRow);
                }
                else
                {
                    Horizontal(frame, top, _upper);
                    _upperRow = top;
                }
            }
            if (_lowerRow != bottom)
            {
                Horizontal(frame, bottom, _lower);
                _lowerRow = bottom;
            }
            for (var c = 0; c < 3; c++)
            {
                Blend(_upper.AsSpan(c * _width, _width), _lower.AsSpan(c * _width, _width), _wy[y], _offset[c], _divisor[c],
                    chw.Slice((c * plane) + (y * _width), _width));
            }
        }
    }

    /// <summary>One YUYV row into interleaved RGB24: BT.601 limited range in integer arithmetic (ITU-R BT.601 §2.5.3
    /// coefficients scaled by 256, as libv4lconvert and the V4L2 documentation's example).</summary>
    public static void YuyvToRgb24(ReadOnlySpan<byte> yuyv, Span<byte> rgb)
    {
        if (yuyv.Length % 4 != 0 || rgb.Length < yuyv.Length / 2 * 3)
        {
            throw new ArgumentException($"YUYV rows come in 4-byte pixel pairs and need 1.5× their bytes of RGB; got {yuyv.Length} and {rgb.Length}");
        }
        for (int i = 0, o = 0; i < yuyv.Length; i += 4, o += 6)
        {
            int d = yuyv[i + 1] - 128, e = yuyv[i + 3] - 128;
            int red = (409 * e) + 128, green = (-100 * d) - (208 * e) + 128, blue = (516 * d) + 128;
            var c0 = 298 * (yuyv[i] - 16);
            var c1 = 298 * (yuyv[i + 2] - 16);
            rgb[o] = Clamp((c0 + red) >> 8);
            rgb[o + 1] = Clamp((c0 + green) >> 8);
            rgb[o + 2] = Clamp((c0 + blue) >> 8);
            rgb[o + 3] = Clamp((c1 + red) >> 8);
            rgb[o + 4] = Clamp((c1 + green) >> 8);
            rgb[o + 5] = Clamp((c1 + blue) >> 8);
        }
    }

    private static byte Clamp(int value) => (byte)Math.Clamp(value, 0, 255);

    /// <summary>Source row <paramref name="row"/> as float RGB planes, resampled to the output width into <paramref name="destination"/> (model channel order).</summary>
    private void Horizontal(ReadOnlySpan<byte> frame, int row, float[] destination)
    {
        var w = _sourceWidth;
        var source = _sourceRow.AsSpan();
        switch (Format)
        {
            case PixelFormat.PlanarRgb:
                for (var c = 0; c < 3; c++)
                {
                    Widen(frame.Slice((c * _sourceHeight * w) + (row * w), w), source.Slice(c * w, w));
                }
                break;
            case PixelFormat.Yuyv:
                YuyvToRgb24(frame.Slice(row * w * 2, w * 2), _rgbRow);
                Deinterleave(_rgbRow, source, w, red: 0, blue: 2);
                break;
            default:
                var bgr = Format == PixelFormat.Bgr24;
                Deinterleave(frame.Slice(row * w * 3, w * 3), source, w, red: bgr ? 2 : 0, blue: bgr ? 0 : 2);
                break;
        }
        for (var c = 0; c < 3; c++)
        {
            var plane = source.Slice(_sourceChannel[c] * w, w);
            var output = destination.AsSpan(c * _width, _width);
            if (w == _width)
            {
                plane.CopyTo(output);
                continue;
            }
            for (var x = 0; x < output.Length; x++)
            {
                var left = plane[_x0[x]];
                output[x] = left + (_wx[x] * (plane[_x1[x]] - left));
            }
        }
    }

    private static void Deinterleave(ReadOnlySpan<byte> row, Span<float> planes, int width, int red, int blue)
    {
        var r = planes[..width];
        var g = planes.Slice(width, width);
        var b = planes.Slice(2 * width, width);
        for (int x = 0, i = 0; x < width; x++, i += 3)
        {
            r[x] = row[i + red];
            g[x] = row[i + 1];
            b[x] = row[i + blue];
        }
    }

    /// <summary>uint8 → float, 4·<see cref="Vector{T}.Count"/> of <see cref="int"/> lanes at a time.</summary>
    private static void Widen(ReadOnlySpan<byte> bytes, Span<float> floats)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var lanes = Vector<int>.Count;
            for (; i <= bytes.Length - Vector<byte>.Count; i += Vector<byte>.Count)
            {
                Vector.Widen(new Vector<byte>(bytes[i..]), out Vector<ushort> low, out Vector<ushort> high);
                Vector.Widen(low, out Vector<uint> a, out Vector<uint> b);
                Vector.Widen(high, out Vector<uint> c, out Vector<uint> d);
                Vector.ConvertToSingle(Vector.AsVectorInt32(a)).CopyTo(floats[i..]);
                Vector.ConvertToSingle(Vector.AsVectorInt32(b)).CopyTo(floats[(i + lanes)..]);
                Vector.ConvertToSingle(Vector.AsVectorInt32(c)).CopyTo(floats[(i + (2 * lanes))..]);
                Vector.ConvertToSingle(Vector.AsVectorInt32(d)).CopyTo(floats[(i + (3 * lanes))..]);
            }
        }
        for (; i < bytes.Length; i++)
        {
            floats[i] = bytes[i];
        }
    }

    /// <summary>(v − offset) / divisor straight from the bytes: a true division, so the default contract gives value / 255
    /// bit for bit as <see cref="FrameRenderer.ToUnitRange"/> (the bundled models' training convention).</summary>
    private static void Normalize(ReadOnlySpan<byte> bytes, Span<float> output, float offset, float divisor)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var lanes = Vector<int>.Count;
            var off = new Vector<float>(offset);
            var div = new Vector<float>(divisor);
            for (; i <= bytes.Length - Vector<byte>.Count; i += Vector<byte>.Count)
            {
                Vector.Widen(new Vector<byte>(bytes[i..]), out Vector<ushort> low, out Vector<ushort> high);
                Vector.Widen(low, out Vector<uint> a, out Vector<uint> b);
                Vector.Widen(high, out Vector<uint> c, out Vector<uint> d);
                ((Vector.ConvertToSingle(Vector.AsVectorInt32(a)) - off) / div).CopyTo(output[i..]);
                ((Vector.ConvertToSingle(Vector.AsVectorInt32(b)) - off) / div).CopyTo(output[(i + lanes)..]);
                ((Vector.ConvertToSingle(Vector.AsVectorInt32(c)) - off) / div).CopyTo(output[(i + (2 * lanes))..]);
                ((Vector.ConvertToSingle(Vector.AsVectorInt32(d)) - off) / div).CopyTo(output[(i + (3 * lanes))..]);
            }
        }
        for (; i < bytes.Length; i++)
        {
            output[i] = (bytes[i] - offset) / divisor;
        }
    }

    /// <summary>Vertical blend of two resampled rows, then (v − offset) / divisor.</summary>
    private static void Blend(ReadOnlySpan<float> upper, ReadOnlySpan<float> lower, float weight, float offset, float divisor, Span<float> output)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var w = new Vector<float>(weight);
            var off = new Vector<float>(offset);
            var div = new Vector<float>(divisor);
            for (; i <= output.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var a = new Vector<float>(upper[i..]);
                var b = new Vector<float>(lower[i..]);
                ((a + (w * (b - a)) - off) / div).CopyTo(output[i..]);
            }
        }
        for (; i < output.Length; i++)
        {
            var a = upper[i];
            output[i] = (a + (weight * (lower[i] - a)) - offset) / divisor;
        }
    }
}
