using SkiaSharp;

namespace Coach.Engine.Data.Media;

/// <summary>Planar RGB frames to and from encoded images with Skia, in memory.</summary>
public static class ImageCodec
{
    /// <summary>Encodes planar RGB (C×H×W) as <paramref name="format"/>; quality 0–100 for lossy formats.</summary>
    public static SKData Encode(ReadOnlySpan<byte> planar, int height, int width, SKEncodedImageFormat format, int quality)
    {
        var pixels = height * width;
        if (planar.Length != 3 * pixels)
        {
            throw new ArgumentException($"a 3×{height}×{width} frame is {3 * pixels} bytes, got {planar.Length}", nameof(planar));
        }
        using var frame = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        unsafe
        {
            var rgba = new Span<byte>((void*)frame.GetPixels(), 4 * pixels);
            for (var i = 0; i < pixels; i++)
            {
                rgba[4 * i] = planar[i];
                rgba[(4 * i) + 1] = planar[pixels + i];
                rgba[(4 * i) + 2] = planar[(2 * pixels) + i];
                rgba[(4 * i) + 3] = 255;
            }
        }
        return frame.Encode(format, quality) ?? throw new InvalidOperationException($"Skia could not encode a {width}×{height} frame as {format}");
    }

    /// <summary>Decodes an encoded image into planar RGB at <paramref name="height"/>×<paramref name="width"/>.</summary>
    public static void Decode(ReadOnlySpan<byte> encoded, int height, int width, Span<byte> planar)
    {
        using var decoded = SKBitmap.Decode(encoded)
            ?? throw new InvalidDataException($"{encoded.Length} bytes are not a decodable image");
        ToPlanar(decoded, height, width, planar, "the image");
    }

    /// <summary>Converts (and when the size differs, resizes bilinearly with mipmaps; no crop) a decoded bitmap into planar RGB.</summary>
    internal static void ToPlanar(SKBitmap decoded, int height, int width, Span<byte> planar, string what)
    {
        using var frame = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        if (!decoded.ScalePixels(frame, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear)))
        {
            throw new InvalidDataException($"{what}: Skia could not convert the {decoded.Width}×{decoded.Height} {decoded.ColorType} image to {width}×{height} RGBA");
        }
        DecodedFrames.ToPlanar(frame.GetPixelSpan(), 4, planar);
    }
}
