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
