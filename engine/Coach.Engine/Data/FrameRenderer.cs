using System.Buffers.Binary;
using System.Numerics;

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
    /// <remarks>
    /// The same arithmetic as the specification, arranged for speed (it runs on the edge for every frame, inside the
    /// device's CPU budget): <see cref="Mix"/>'s first two rounds depend on (seed, salt, column) only, so they are hashed
    /// once per column and only the last round runs per pixel, eight lanes at a time; the texture, which does not
    /// depend on the channel, is hashed once per pixel rather than once per channel; the bilinear background is
    /// interpolated along the row first (the same integer sum, regrouped); the noise's remainder is taken in
    /// float32 on 16-bit halves, exactly (see <see cref="Remainders"/>).
    /// </remarks>
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
        bool noisy = jitter.NoiseAmplitude > 0;
        uint span = (uint)((2 * jitter.NoiseAmplitude) + 1);

        Span<int> objectColour = stackalloc int[Channels];
        Span<int> baseColour = stackalloc int[Channels];
        Span<int> grid = stackalloc int[Channels * GridPoints * GridPoints];
        for (int c = 0; c < Channels; c++)
        {
            objectColour[c] = 96 + (int)(Mix(seed, (uint)c, 0, SaltObject) % 160);
            baseColour[c] = 16 + (int)(Mix(seed, (uint)c, 0, SaltBase) % 48);
            for (int j = 0; j < GridPoints; j++)
            {
                for (int i = 0; i < GridPoints; i++)
                {
                    grid[(((c * GridPoints) + j) * GridPoints) + i] = (int)(Mix(seed, (uint)i, (uint)j, SaltGrid + (uint)c) % 64);
                }
            }
        }

        Span<uint> textureColumns = stackalloc uint[Size];
        ColumnHashes(seed, SaltTexture, textureColumns);
        Span<uint> noiseColumns = stackalloc uint[Channels * Size];
        if (noisy)
        {
            for (int c = 0; c < Channels; c++)
            {
                ColumnHashes(jitter.NoiseSeed, SaltNoise + (uint)c, noiseColumns.Slice(c * Size, Size));
            }
        }

        Span<uint> hashes = stackalloc uint[Size];
        Span<int> texture = stackalloc int[Size];
        Span<int> noise = stackalloc int[Size];
        Span<int> coverage = stackalloc int[Size];
        Span<int> pixels = stackalloc int[Size];
        Span<int> rowGrid = stackalloc int[GridPoints];
        for (int y = 0; y < Size; y++)
        {
            uint rowTerm = ((uint)y * 0xC2B2AE3D) + 0x27D4EB2F;
            HashRow(textureColumns, rowTerm, hashes);
            for (int x = 0; x < Size; x++)
            {
                texture[x] = (int)(hashes[x] & 15);
            }

            // The object's row under the jitter (the 28×28 source upscaled 4× by nearest neighbour), 0 outside it.
            int sy = y - jitter.Dy;
            coverage.Clear();
            if (sy is >= 0 and < Size)
            {
                ReadOnlySpan<byte> sourceRow = source.Slice((sy >> 2) * SourceSize, SourceSize);
                int from = Math.Max(0, jitter.Dx), to = Math.Min(Size, Size + jitter.Dx);
                for (int x = from; x < to; x++)
                {
                    coverage[x] = sourceRow[(x - jitter.Dx) >> 2];
                }
            }

            int cellY = y >> 4, fy = y & 15;
            for (int c = 0; c < Channels; c++)
            {
                // g(column) = g00·(16 − fy) + g01·fy; the pattern is ((16 − fx)·g(cx) + fx·g(cx + 1)) >> 8 (cellY ≤ 6).
                ReadOnlySpan<int> channelGrid = grid.Slice(c * GridPoints * GridPoints, GridPoints * GridPoints);
                for (int i = 0; i < GridPoints; i++)
                {
                    rowGrid[i] = (channelGrid[(cellY * GridPoints) + i] * (16 - fy)) + (channelGrid[((cellY + 1) * GridPoints) + i] * fy);
                }

                if (noisy)
                {
                    HashRow(noiseColumns.Slice(c * Size, Size), rowTerm, hashes);
                    Remainders(hashes, span, noise);
                }

                ComposeRow(rowGrid, texture, coverage, noisy ? noise : default, objectColour[c], baseColour[c], jitter.NoiseAmplitude, pixels);
                Span<byte> row = rgb.Slice((c * Size * Size) + (y * Size), Size);
                for (int x = 0; x < Size; x++)
                {
                    row[x] = (byte)pixels[x];
                }
            }
        }
    }

    /// <summary>0, 1, …, Vector&lt;int&gt;.Count − 1: each lane's offset from the first column of a vector.</summary>
    private static readonly Vector<int> LaneOffsets = Vector.CreateSequence(0, 1);

    /// <summary>
    /// One row of one channel: p = (object·coverage + background·(255 − coverage) + 127) / 255 with background =
    /// base + pattern + texture, then + noise − amplitude clamped to a byte when <paramref name="noise"/> is given.
    /// </summary>
    private static void ComposeRow(ReadOnlySpan<int> rowGrid, ReadOnlySpan<int> texture, ReadOnlySpan<int> coverage, ReadOnlySpan<int> noise,
        int objectColour, int baseColour, int amplitude, Span<int> pixels)
    {
        int x = 0;
        if (Vector.IsHardwareAccelerated && Vector<int>.Count <= 16)
        {
            // A vector never straddles a 16-px background cell (Size and 16 are multiples of the lane count).
            var lanes = LaneOffsets;
            var sixteen = new Vector<int>(16);
            var full = new Vector<int>(255);
            var objectC = new Vector<int>(objectColour);
            var baseC = new Vector<int>(baseColour);
            var amplitudeV = new Vector<int>(amplitude);
            for (; x <= Size - Vector<int>.Count; x += Vector<int>.Count)
            {
                int cellX = x >> 4;
                var fx = new Vector<int>(x & 15) + lanes;
                var pattern = ((new Vector<int>(rowGrid[cellX]) * (sixteen - fx)) + (new Vector<int>(rowGrid[cellX + 1]) * fx)) >> 8;
                var background = baseC + pattern + new Vector<int>(texture.Slice(x));
                var cover = new Vector<int>(coverage.Slice(x));
                var n = (objectC * cover) + (background * (full - cover)) + new Vector<int>(127);
                var p = (n + Vector<int>.One + (n >> 8)) >> 8; // n / 255, exact for 0 ≤ n ≤ 65,535
                if (!noise.IsEmpty)
                {
                    p = Vector.Min(Vector.Max(p + new Vector<int>(noise.Slice(x)) - amplitudeV, Vector<int>.Zero), full);
                }

                p.CopyTo(pixels.Slice(x));
            }
        }

        for (; x < Size; x++)
        {
            int cellX = x >> 4, fx = x & 15;
            int pattern = ((rowGrid[cellX] * (16 - fx)) + (rowGrid[cellX + 1] * fx)) >> 8;
            int background = baseColour + pattern + texture[x];
            int p = ((objectColour * coverage[x]) + (background * (255 - coverage[x])) + 127) / 255;
            pixels[x] = noise.IsEmpty ? p : Math.Clamp(p + noise[x] - amplitude, 0, 255);
        }
    }

    /// <summary>
    /// remainders[i] = hashes[i] % divisor for a divisor of at most 255, exactly: h = hi·65536 + lo, and each of the
    /// two remainders on the way is taken on integers below 2^17 in float32, where the quotient's estimate is off by at
    /// most one and one correction makes the remainder exact.
    /// </summary>
    private static void Remainders(ReadOnlySpan<uint> hashes, uint divisor, Span<int> remainders)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var d = new Vector<float>(divisor);
            var inverse = new Vector<float>(1f / divisor);
            var wrap = new Vector<float>(65536 % divisor);
            var low16 = new Vector<uint>(0xFFFF);
            for (; i <= hashes.Length - Vector<uint>.Count; i += Vector<uint>.Count)
            {
                var h = new Vector<uint>(hashes.Slice(i));
                var high = Vector.ConvertToSingle(Vector.AsVectorInt32(h >>> 16));
                var low = Vector.ConvertToSingle(Vector.AsVectorInt32(h & low16));
                var r = SmallRemainder(high, d, inverse);
                r = SmallRemainder((r * wrap) + low, d, inverse);
                Vector.ConvertToInt32(r).CopyTo(remainders.Slice(i));
            }
        }

        for (; i < hashes.Length; i++)
        {
            remainders[i] = (int)(hashes[i] % divisor);
        }
    }

    private static Vector<float> SmallRemainder(Vector<float> x, Vector<float> d, Vector<float> inverse)
    {
        var r = x - (Vector.Floor(x * inverse) * d);
        r += Vector.ConditionalSelect(Vector.LessThan(r, Vector<float>.Zero), d, Vector<float>.Zero);
        return r - Vector.ConditionalSelect(Vector.GreaterThanOrEqual(r, d), d, Vector<float>.Zero);
    }

    /// <summary>The first two rounds of <see cref="Mix"/>(seed, x, ·, salt) for every column x.</summary>
    private static void ColumnHashes(uint seed, uint salt, Span<uint> columns)
    {
        uint h = Fmix32((salt * 0x9E3779B1) ^ seed);
        for (int x = 0; x < columns.Length; x++)
        {
            columns[x] = Fmix32(h ^ ((uint)x * 0x85EBCA77));
        }
    }

    /// <summary><see cref="Mix"/>'s last round for a row: dest[x] = Fmix32(columns[x] ^ rowTerm).</summary>
    private static void HashRow(ReadOnlySpan<uint> columns, uint rowTerm, Span<uint> dest)
    {
        int x = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var term = new Vector<uint>(rowTerm);
            for (; x <= columns.Length - Vector<uint>.Count; x += Vector<uint>.Count)
            {
                Fmix32(new Vector<uint>(columns.Slice(x)) ^ term).CopyTo(dest.Slice(x));
            }
        }

        for (; x < columns.Length; x++)
        {
            dest[x] = Fmix32(columns[x] ^ rowTerm);
        }
    }

    private static Vector<uint> Fmix32(Vector<uint> h)
    {
        h ^= h >>> 16;
        h *= 0x85EBCA6B;
        h ^= h >>> 13;
        h *= 0xC2B2AE35;
        return h ^ (h >>> 16);
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

    /// <summary>uint8 → float32 value / 255, the models' input convention (a true division, as the training script's).</summary>
    public static void ToUnitRange(ReadOnlySpan<byte> rgb, Span<float> chw)
    {
        if (chw.Length < rgb.Length)
        {
            throw new ArgumentException($"destination holds {chw.Length} floats, the frame has {rgb.Length}", nameof(chw));
        }

        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var divisor = new Vector<float>(255f);
            int lanes = Vector<int>.Count;
            for (; i <= rgb.Length - Vector<byte>.Count; i += Vector<byte>.Count)
            {
                Vector.Widen(new Vector<byte>(rgb.Slice(i)), out Vector<ushort> low, out Vector<ushort> high);
                Vector.Widen(low, out Vector<uint> a, out Vector<uint> b);
                Vector.Widen(high, out Vector<uint> c, out Vector<uint> d);
                (Vector.ConvertToSingle(Vector.AsVectorInt32(a)) / divisor).CopyTo(chw.Slice(i));
                (Vector.ConvertToSingle(Vector.AsVectorInt32(b)) / divisor).CopyTo(chw.Slice(i + lanes));
                (Vector.ConvertToSingle(Vector.AsVectorInt32(c)) / divisor).CopyTo(chw.Slice(i + (2 * lanes)));
                (Vector.ConvertToSingle(Vector.AsVectorInt32(d)) / divisor).CopyTo(chw.Slice(i + (3 * lanes)));
            }
        }

        for (; i < rgb.Length; i++)
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
