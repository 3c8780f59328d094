using System.Buffers.Binary;

namespace Coach.Engine.Data;

/// <summary>Small per-frame disturbance of a video-like stream: the object moves by (Dx, Dy) pixels and
/// every pixel gets seeded noise in [-NoiseAmplitude, +NoiseAmplitude].</summary>
public readonly record struct FrameJitter(int Dx, int Dy, uint NoiseSeed, int NoiseAmplitude)
{
    public static FrameJitter None => default;
}

/// <summary>
/// Renders a 28×28 Fashion-MNIST image into a camera-sized 3×112×112 RGB frame: 4× nearest-neighbour
/// upscale, a per-sample object colour and a textured background, optional jitter.
/// </summary>
/// <remarks>
/// The definition is shared bit for bit with <c>scripts/models/frames.py</c>, which rendered the frames the
/// bundled models were trained on; it is integer arithmetic on wrapping uint32 values only, so both sides
/// agree exactly. The docstring of that script is the specification.
/// </remarks>
public static class FrameRenderer
{
    public const int Size = 112;
    public const int Channels = 3;
    public const int SourceSize = 28;
    public const int SourcePixels = SourceSize * SourceSize;
    public const int PixelCount = Channels * Size * Size;   // 37,632 bytes as uint8

    private const uint SaltObject = 1;
    private const uint SaltBase = 2;
    private const uint SaltGrid = 16;     // + channel
    private const uint SaltTexture = 32;
    private const uint SaltNoise = 48;    // + channel
    private const int GridPoints = 8;     // corner points of the 16-px background cells

    /// <summary>murmur3's 32-bit finaliser.</summary>
    public static uint Fmix32(uint h)
    {
        h ^= h >> 16;
        h *= 0x85EBCA6B;
        h ^= h >> 13;
        h *= 0xC2B2AE35;
        h ^= h >> 16;
        return h;
    }

    /// <summary>Integer hash of (seed, a, b, salt).</summary>
    public static uint Mix(uint seed, uint a, uint b, uint salt)
    {
        uint h = Fmix32((salt * 0x9E3779B1) ^ seed);
        h = Fmix32(h ^ (a * 0x85EBCA77));
        return Fmix32(h ^ ((b * 0xC2B2AE3D) + 0x27D4EB2F));
    }

    /// <summary>The seed of a sample: a hash of its 784 pixels (never of its label).</summary>
    public static uint SampleSeed(ReadOnlySpan<byte> source)
    {
        CheckSource(source);
        uint h = 0x811C9DC5;
        for (int k = 0; k < SourcePixels; k += 4)
        {
            h = Fmix32(h ^ BinaryPrimitives.ReadUInt32LittleEndian(source.Slice(k, 4)));
        }

        return h;
    }

    /// <summary>Renders into <paramref name="rgb"/> (planar [3, 112, 112], uint8).</summary>
    public static void Render(ReadOnlySpan<byte> source, Span<byte> rgb, FrameJitter jitter = default)
    {
        CheckSource(source);
        if (rgb.Length != PixelCount)
        {
            throw new ArgumentException($"a frame needs exactly {PixelCount} bytes (3×112×112), got {rgb.Length}", nameof(rgb));
        }

        if (jitter.NoiseAmplitude is < 0 or > 127)
        {
            throw new ArgumentOutOfRangeException(nameof(jitter), jitter.NoiseAmplitude, "noise amplitude must be within 0..127");
        }

        uint seed = SampleSeed(source);
        Span<int> grid = stackalloc int[GridPoints * GridPoints];
        for (int c = 0; c < Channels; c++)
        {
            int objectColour = 96 + (int)(Mix(seed, (uint)c, 0, SaltObject) % 160);
            int baseColour = 16 + (int)(Mix(seed, (uint)c, 0, SaltBase) % 48);
            for (int j = 0; j < GridPoints; j++)
            {
                for (int i = 0; i < GridPoints; i++)
                {
                    grid[(j * GridPoints) + i] = (int)(Mix(seed, (uint)i, (uint)j, SaltGrid + (uint)c) % 64);
                }
            }

            Span<byte> plane = rgb.Slice(c * Size * Size, Size * Size);
            for (int y = 0; y < Size; y++)
            {
                int cellY = y >> 4, fy = y & 15;
                int sy = y - jitter.Dy;
                bool rowInside = sy is >= 0 and < Size;
                for (int x = 0; x < Size; x++)
                {
                    int cellX = x >> 4, fx = x & 15;
                    int g00 = grid[(cellY * GridPoints) + cellX];
                    int g10 = grid[(cellY * GridPoints) + cellX + 1];
                    int g01 = grid[((cellY + 1) * GridPoints) + cellX];
                    int g11 = grid[((cellY + 1) * GridPoints) + cellX + 1];
                    // bilinear interpolation in integers: weights sum to 256
                    int pattern = ((g00 * (16 - fx) * (16 - fy)) + (g10 * fx * (16 - fy))
                                   + (g01 * (16 - fx) * fy) + (g11 * fx * fy)) >> 8;
                    int texture = (int)(Mix(seed, (uint)x, (uint)y, SaltTexture) % 16);
                    int background = baseColour + pattern + texture;

                    int sx = x - jitter.Dx;
                    int coverage = rowInside && sx is >= 0 and < Size ? source[((sy >> 2) * SourceSize) + (sx >> 2)] : 0;
                    int p = ((objectColour * coverage) + (background * (255 - coverage)) + 127) / 255;
                    if (jitter.NoiseAmplitude > 0)
                    {
                        int span = (2 * jitter.NoiseAmplitude) + 1;
                        int noise = (int)(Mix(jitter.NoiseSeed, (uint)x, (uint)y, SaltNoise + (uint)c) % (uint)span) - jitter.NoiseAmplitude;
                        p = Math.Clamp(p + noise, 0, 255);
                    }

                    plane[(y * Size) + x] = (byte)p;
                }
            }
        }
    }

    /// <summary>Renders straight into the model's input layout: planar float32 in [0, 1] (value / 255).</summary>
    public static void Render(ReadOnlySpan<byte> source, Span<float> chw, FrameJitter jitter = default)
    {
        if (chw.Length != PixelCount)
        {
            throw new ArgumentException($"a frame needs exactly {PixelCount} floats (3×112×112), got {chw.Length}", nameof(chw));
        }

        Span<byte> rgb = stackalloc byte[PixelCount];
        Render(source, rgb, jitter);
        ToUnitRange(rgb, chw);
    }

    /// <summary>uint8 → float32 value / 255, the models' input convention.</summary>
    public static void ToUnitRange(ReadOnlySpan<byte> rgb, Span<float> chw)
    {
        if (chw.Length < rgb.Length)
        {
            throw new ArgumentException($"destination holds {chw.Length} floats, the frame has {rgb.Length}", nameof(chw));
        }

        for (int i = 0; i < rgb.Length; i++)
        {
            chw[i] = rgb[i] / 255f;
        }
    }

    private static void CheckSource(ReadOnlySpan<byte> source)
    {
        if (source.Length != SourcePixels)
        {
            throw new ArgumentException($"a Fashion-MNIST source image is 28×28 = {SourcePixels} bytes, got {source.Length}", nameof(source));
        }
    }
}
