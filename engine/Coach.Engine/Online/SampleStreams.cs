using Coach.Engine.Data;

namespace Coach.Engine.Online;

/// <summary>
/// Simulated correlated streams over frames that are not the bundled set (the user's images or video, docs/data.md), built
/// from what the calibration already recorded per frame (task feature, label, the full model's label and the tail's label at
/// every bit width), so the streams cost no inference. The bundled set's streams (<see cref="TaskStream"/>) jitter a 28×28
/// source per frame; decoded frames have no source to jitter, so the levels are drawn from the frames themselves:
/// </summary>
/// <remarks>
/// Low: frames in random order. Medium: runs of <c>runLength</c> frames of one label, each a random frame of that label. High:
/// the frames in the order they were given — for a video the real temporal correlation of consecutive frames, for an image
/// folder its class-by-class order.
/// </remarks>
public static class SampleStreams
{
    /// <param name="features">Row-major [samples, featureLength] task features of all calibration frames.</param>
    /// <param name="pool">The samples the streams draw from, in the order given (the calibration's cross-fit half).</param>
    public static StreamTrace Build(StreamCorrelation level, float[] features, int featureLength, int[] truth, int[] fullLabels,
        IReadOnlyDictionary<int, int[]> labelAtBits, IReadOnlyList<int> pool, int streamFrames, int runLength, int seed)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(truth);
        ArgumentNullException.ThrowIfNull(fullLabels);
        ArgumentNullException.ThrowIfNull(labelAtBits);
        ArgumentNullException.ThrowIfNull(pool);
        int count = pool.Count;
        if (count < 1 || pool.Any(i => (uint)i >= (uint)truth.Length) || streamFrames < 1 || runLength < 1)
        {
            throw new ArgumentException($"a stream needs ≥ 1 sample among the {truth.Length} recorded and ≥ 1 frame per stream and run; got {count} samples, {streamFrames} frames, run length {runLength}.");
        }

        var random = new Random(seed + (int)level);
        int n = level == StreamCorrelation.High ? Math.Min(count, streamFrames) : streamFrames;
        var samples = new int[n];
        if (level == StreamCorrelation.High)
        {
            for (int i = 0; i < n; i++)
            {
                samples[i] = pool[i];
            }
        }
        else if (level == StreamCorrelation.Low)
        {
            for (int i = 0; i < n; i++)
            {
                samples[i] = pool[random.Next(count)];
            }
        }
        else
        {
            var byLabel = pool.GroupBy(i => truth[i]).Select(g => g.ToArray()).ToArray();
            for (int i = 0; i < n; i++)
            {
                int[] run = byLabel[random.Next(byLabel.Length)];
                for (int k = 0; k < runLength && i < n; k++, i++)
                {
                    samples[i] = run[random.Next(run.Length)];
                }

                i--;
            }
        }

        var streamFeatures = new float[n * featureLength];
        var streamTruth = new int[n];
        var streamFull = new int[n];
        var atBits = labelAtBits.ToDictionary(p => p.Key, _ => new int[n]);
        for (int i = 0; i < n; i++)
        {
            int s = samples[i];
            features.AsSpan(s * featureLength, featureLength).CopyTo(streamFeatures.AsSpan(i * featureLength));
            streamTruth[i] = truth[s];
            streamFull[i] = fullLabels[s];
            foreach (var (bits, labels) in labelAtBits)
            {
                atBits[bits][i] = labels[s];
            }
        }

        return new StreamTrace(level, streamFeatures, streamTruth, streamFull, atBits);
    }
}
