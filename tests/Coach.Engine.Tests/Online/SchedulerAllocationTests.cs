using Coach.Engine.DataPlane;
using Coach.Engine.Online;

namespace Coach.Engine.Tests.Online;

public sealed class SchedulerAllocationTests
{
    [Fact]
    public void PerFrameDecisionPathAllocatesNothingOverTenThousandFrames()
    {
        const int channels = 64;
        const int spatial = 14 * 14;
        const int labels = 10;
        var random = new Random(1);
        var prototypes = new float[labels * channels];
        for (int i = 0; i < prototypes.Length; i++)
        {
            prototypes[i] = random.NextSingle();
        }

        var cache = new SemanticCache(labels, channels, countCap: 256);
        for (int j = 0; j < labels; j++)
        {
            cache.Update(j, prototypes.AsSpan(j * channels, channels));
        }

        // A small pool of distinct cut tensors, rendered up front.
        var tensors = new float[16][];
        for (int k = 0; k < tensors.Length; k++)
        {
            tensors[k] = new float[channels * spatial];
            int label = k % labels;
            for (int c = 0; c < channels; c++)
            {
                for (int s = 0; s < spatial; s++)
                {
                    tensors[k][(c * spatial) + s] = Math.Max(0f, prototypes[(label * channels) + c] + ((random.NextSingle() - 0.5f) * (k % 3)));
                }
            }
        }

        var calibration = new SchedulerCalibration
        {
            ExitThreshold = MedianSeparability(cache, tensors, channels),
            BitThresholds = [new BitThreshold(6, 0.5), new BitThreshold(4, 1.0), new BitThreshold(2, 2.0)],
            PlanBits = 8,
        };
        var bandwidth = new BandwidthEstimator(16, 2e6);
        var scheduler = new OnlineScheduler(cache, calibration, new TransferCostModel(0.004, 0.002, [channels * spatial], [4]), bandwidth);

        var packed = new byte[Uaq.PackedByteCount(channels * spatial, 8)];
        int exits = 0;
        long bytes = 0;
        void Frame(int i)
        {
            var tensor = tensors[i % tensors.Length];
            var decision = scheduler.DecideFromCutTensor(tensor, channels);
            if (decision.EarlyExit)
            {
                exits++;
                return;
            }

            var p = Uaq.QuantizePack(tensor, decision.Bits, packed);
            bytes += Uaq.PackedByteCount(tensor.Length, p.Bits);
            bandwidth.AddSample(Uaq.PackedByteCount(tensor.Length, p.Bits), 0.001);
            scheduler.Learn(decision.Label, scheduler.LastFeature);
        }

        for (int i = 0; i < 200; i++)
        {
            Frame(i);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            Frame(i);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.True(exits > 0 && bytes > 0, $"the loop should take both paths (exits {exits}, bytes {bytes})");
    }

    [Fact]
    public void BandPooledStandardisedDecisionPathAllocatesNothingOverTenThousandFrames()
    {
        const int channels = 16, spatial = 28 * 28, bands = 4, labels = 4, length = channels * bands;
        var random = new Random(2);
        var tensors = new float[20][];
        var features = new float[tensors.Length * length];
        for (int k = 0; k < tensors.Length; k++)
        {
            tensors[k] = new float[channels * spatial];
            for (int i = 0; i < tensors[k].Length; i++)
            {
                // Label k % 4 lights up its own band of each channel.
                int band = i % spatial * bands / spatial;
                tensors[k][i] = Math.Max(0f, (band == k % labels ? 1f : 0.2f) + ((random.NextSingle() - 0.5f) * 0.3f));
            }

            TaskFeature.BandPool(tensors[k], channels, bands, features.AsSpan(k * length, length));
        }

        var cache = new SemanticCache(labels, length, countCap: 16, FeatureStandardisation.Fit(features, length));
        for (int k = 0; k < tensors.Length; k++)
        {
            cache.Update(k % labels, features.AsSpan(k * length, length));
        }

        var calibration = new SchedulerCalibration { ExitThreshold = 0.2, ReuseThreshold = 0.9, BitThresholds = [new BitThreshold(4, 0.1)], PlanBits = 6, CloudAgreementFrames = 1, MaxConsecutiveExits = 3 };
        var bandwidth = new BandwidthEstimator(16, 2e6);
        var scheduler = new OnlineScheduler(cache, calibration, new TransferCostModel(0.004, 0.002, [channels * spatial], [4]), bandwidth);
        var feature = new float[length];
        var packed = new byte[Uaq.PackedByteCount(channels * spatial, 8)];
        int exits = 0, sent = 0;
        void Frame(int i)
        {
            // Runs of 10 frames of one sample, as in a correlated stream, so the exit guards can pass.
            int sample = i / 10 % tensors.Length;
            var tensor = tensors[sample];
            TaskFeature.BandPool(tensor, channels, bands, feature);
            var decision = scheduler.Decide(feature);
            if (decision.EarlyExit)
            {
                exits++;
                return;
            }

            Uaq.QuantizePack(tensor, decision.Bits, packed);
            sent++;
            scheduler.Learn(sample % labels, feature);
        }

        for (int i = 0; i < 200; i++)
        {
            Frame(i);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            Frame(i);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(exits > 0 && sent > 0, $"the loop should take both paths (exits {exits}, sent {sent})");
    }

    [Fact]
    public void BandPoolingAveragesContiguousRunsOfEachChannelAndOneBandIsGap()
    {
        // 2 channels of 2×3 values: bands of a channel are its rows when H is the band count.
        float[] tensor = [1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60];
        var banded = new float[4];
        TaskFeature.BandPool(tensor, 2, 2, banded);
        Assert.Equal([2f, 5f, 20f, 50f], banded);
        var gap = new float[2];
        TaskFeature.BandPool(tensor, 2, 1, gap);
        Assert.Equal([3.5f, 35f], gap);
        Assert.Throws<ArgumentOutOfRangeException>(() => TaskFeature.BandPool(tensor, 2, 7, new float[14]));
    }

    [Fact]
    public void StandardisedSimilaritiesSeparateLabelsThatRawCosinesCannot()
    {
        // Two labels whose raw features differ only slightly on top of a large common offset (post-ReLU features).
        float[] a = [10f, 10.2f, 10f], b = [10.2f, 10f, 10f];
        float[] samples = [.. a, .. b, 10.05f, 10.2f, 10.01f, 10.2f, 10.05f, 9.99f];
        var raw = new SemanticCache(2, 3);
        var standardised = new SemanticCache(2, 3, null, FeatureStandardisation.Fit(samples, 3));
        foreach (var cache in new[] { raw, standardised })
        {
            cache.Update(0, a);
            cache.Update(1, b);
        }

        var t = new float[2];
        raw.Similarities(a, t);
        float rawGap = t[0] - t[1];
        standardised.Similarities(a, t);
        float standardisedGap = t[0] - t[1];
        Assert.True(rawGap < 0.001f, $"raw cosines {rawGap}");
        Assert.True(standardisedGap > 0.5f, $"standardised similarities {standardisedGap}");
        Assert.Throws<ArgumentException>(() => new SemanticCache(2, 4, null, FeatureStandardisation.Fit(samples, 3)));
    }

    private static double MedianSeparability(SemanticCache cache, float[][] tensors, int channels)
    {
        var feature = new float[channels];
        var similarities = new float[cache.LabelCount];
        var values = new List<float>();
        foreach (var tensor in tensors)
        {
            TaskFeature.GlobalAveragePool(tensor, channels, feature);
            cache.Similarities(feature, similarities);
            values.Add(Separability.Compute(similarities, out _));
        }

        values.Sort();
        return values[values.Count / 2];
    }
}
