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
        var scheduler = new OnlineScheduler(cache, calibration, new TransferCostModel(0.004, 0.002, [channels * spatial]), bandwidth);

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
