using System.Numerics;
using System.Runtime.InteropServices;

namespace Coach.Engine.Online;

/// <summary>
/// Task feature F of a frame (paper §III-C): global average pooling of each cut tensor over H×W, the per-tensor
/// vectors of C values concatenated in cut-tensor order.
/// </summary>
public static class TaskFeature
{
    /// <summary>GAP of one [channels, H·W] tensor (batch 1, channel-major) into <paramref name="feature"/>[0..channels).</summary>
    public static void GlobalAveragePool(ReadOnlySpan<float> tensor, int channels, Span<float> feature)
    {
        if (channels < 1 || tensor.Length % channels != 0)
        {
            throw new ArgumentException($"A cut tensor of {tensor.Length} values cannot be split into {channels} channels of H×W values.", nameof(channels));
        }

        if (feature.Length < channels)
        {
            throw new ArgumentException($"feature holds {feature.Length} values but the tensor has {channels} channels.", nameof(feature));
        }

        int spatial = tensor.Length / channels;
        float inverse = 1f / spatial;
        for (int c = 0; c < channels; c++)
        {
            feature[c] = Sum(tensor.Slice(c * spatial, spatial)) * inverse;
        }
    }

    /// <summary>GAP of several cut tensors, concatenated: tensor k fills the next <paramref name="channels"/>[k] entries.</summary>
    /// <returns>The feature length written.</returns>
    public static int GlobalAveragePool(ReadOnlySpan<float> concatenatedTensors, ReadOnlySpan<int> tensorLengths, ReadOnlySpan<int> channels, Span<float> feature)
    {
        if (tensorLengths.Length != channels.Length)
        {
            throw new ArgumentException("tensorLengths and channels must have one entry per cut tensor.", nameof(channels));
        }

        int offset = 0;
        int written = 0;
        for (int k = 0; k < channels.Length; k++)
        {
            GlobalAveragePool(concatenatedTensors.Slice(offset, tensorLengths[k]), channels[k], feature[written..]);
            offset += tensorLengths[k];
            written += channels[k];
        }

        return written;
    }

    /// <summary>
    /// Band pooling of one [channels, H·W] tensor: each channel's H·W values (row-major) are cut into
    /// <paramref name="bands"/> contiguous runs — horizontal bands of the feature map when H is a multiple of the band
    /// count — and each run is averaged, so channel c fills <c>feature[c·bands … c·bands + bands)</c>. One band is GAP.
    /// </summary>
    /// <remarks>
    /// GAP throws away where in the frame a channel fires; at early cuts, whose channels are generic edge and texture
    /// detectors, that is most of what tells labels apart (a shoe and a shirt excite the same detectors in different rows).
    /// A few bands keep the coarse layout at a few times the feature length; a departure from the paper's plain GAP.
    /// </remarks>
    public static void BandPool(ReadOnlySpan<float> tensor, int channels, int bands, Span<float> feature)
    {
        if (bands == 1)
        {
            GlobalAveragePool(tensor, channels, feature);
            return;
        }

        if (channels < 1 || tensor.Length % channels != 0)
        {
            throw new ArgumentException($"A cut tensor of {tensor.Length} values cannot be split into {channels} channels of H×W values.", nameof(channels));
        }

        int spatial = tensor.Length / channels;
        if (bands < 1 || bands > spatial)
        {
            throw new ArgumentOutOfRangeException(nameof(bands), bands, $"Band pooling needs 1 to {spatial} bands (the H×W values of a channel).");
        }

        if (feature.Length < channels * bands)
        {
            throw new ArgumentException($"feature holds {feature.Length} values but {channels} channels × {bands} bands need {channels * bands}.", nameof(feature));
        }

        for (int c = 0; c < channels; c++)
        {
            var map = tensor.Slice(c * spatial, spatial);
            for (int b = 0; b < bands; b++)
            {
                int from = (int)((long)b * spatial / bands);
                int to = (int)((long)(b + 1) * spatial / bands);
                feature[(c * bands) + b] = Sum(map[from..to]) / (to - from);
            }
        }
    }

    /// <summary>Band pooling of several cut tensors, concatenated: tensor k fills the next <paramref name="channels"/>[k]·bands entries.</summary>
    /// <returns>The feature length written.</returns>
    public static int BandPool(ReadOnlySpan<float> concatenatedTensors, ReadOnlySpan<int> tensorLengths, ReadOnlySpan<int> channels, int bands, Span<float> feature)
    {
        if (tensorLengths.Length != channels.Length)
        {
            throw new ArgumentException("tensorLengths and channels must have one entry per cut tensor.", nameof(channels));
        }

        int offset = 0;
        int written = 0;
        for (int k = 0; k < channels.Length; k++)
        {
            BandPool(concatenatedTensors.Slice(offset, tensorLengths[k]), channels[k], bands, feature[written..]);
            offset += tensorLengths[k];
            written += channels[k] * bands;
        }

        return written;
    }

    internal static float Sum(ReadOnlySpan<float> values)
    {
        var lanes = MemoryMarshal.Cast<float, Vector<float>>(values);
        var total = Vector<float>.Zero;
        foreach (var v in lanes)
        {
            total += v;
        }

        float sum = Vector.Sum(total);
        foreach (float x in values[(lanes.Length * Vector<float>.Count)..])
        {
            sum += x;
        }

        return sum;
    }

    internal static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var va = MemoryMarshal.Cast<float, Vector<float>>(a);
        var vb = MemoryMarshal.Cast<float, Vector<float>>(b[..a.Length]);
        var total = Vector<float>.Zero;
        for (int i = 0; i < va.Length; i++)
        {
            total += va[i] * vb[i];
        }

        float sum = Vector.Sum(total);
        for (int i = va.Length * Vector<float>.Count; i < a.Length; i++)
        {
            sum += a[i] * b[i];
        }

        return sum;
    }
}
