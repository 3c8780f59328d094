using Coach.Engine.DataPlane;
using Coach.Engine.Online;

namespace Coach.Engine.Tests.Online;

public sealed class SchedulerEquationTests
{
    [Fact]
    public void GlobalAveragePoolingAveragesEachChannelOverHeightAndWidth()
    {
        // 2 channels × (2×3)
        float[] tensor = [1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 12];
        var feature = new float[2];
        TaskFeature.GlobalAveragePool(tensor, 2, feature);
        Assert.Equal([3.5f, 2f], feature);

        // Two cut tensors, concatenated.
        float[] both = [1, 3, 10, 20, 30, 40, 50, 60];
        var f = new float[3];
        int written = TaskFeature.GlobalAveragePool(both, [2, 6], [1, 2], f);
        Assert.Equal(3, written);
        Assert.Equal([2f, 20f, 50f], f);
        Assert.Throws<ArgumentException>(() => TaskFeature.GlobalAveragePool(tensor, 5, feature));
    }

    [Fact]
    public void CentreUpdateIsTheRunningMeanOfEquationSeven()
    {
        var cache = new SemanticCache(labelCount: 2, featureLength: 2);
        cache.Update(0, [2f, 4f]);
        Assert.Equal([2f, 4f], cache.Centre(0).ToArray());
        cache.Update(0, [4f, 0f]);            // (1·[2,4] + [4,0]) / 2
        Assert.Equal([3f, 2f], cache.Centre(0).ToArray());
        cache.Update(0, [0f, 2f]);            // (2·[3,2] + [0,2]) / 3
        Assert.Equal(2f, cache.Centre(0)[0], 6);
        Assert.Equal(2f, cache.Centre(0)[1], 6);
        Assert.Equal(3, cache.Count(0));
        Assert.Equal(0, cache.Count(1));
    }

    [Fact]
    public void DecayedCentreFollowsADriftingStream()
    {
        var exact = new SemanticCache(2, 1);
        var decayed = new SemanticCache(2, 1, countCap: 4);
        for (int i = 0; i < 100; i++)
        {
            exact.Update(0, [0f]);
            decayed.Update(0, [0f]);
        }

        for (int i = 0; i < 20; i++)
        {
            exact.Update(0, [1f]);
            decayed.Update(0, [1f]);
        }

        // Exact mean: 20/120. Decayed (weight 1/4): 1 − 0.75^20.
        Assert.Equal(20f / 120f, exact.Centre(0)[0], 5);
        Assert.Equal(1f - MathF.Pow(0.75f, 20), decayed.Centre(0)[0], 4);
    }

    [Fact]
    public void SimilaritiesAreCosinesClampedToTheUnitInterval()
    {
        var cache = new SemanticCache(3, 2);
        cache.Update(0, [1f, 0f]);
        cache.Update(1, [1f, 1f]);
        cache.Update(2, [-1f, 0f]);
        var t = new float[3];
        cache.Similarities([2f, 0f], t);
        Assert.Equal(1f, t[0], 6);
        Assert.Equal(1f / MathF.Sqrt(2f), t[1], 6);
        Assert.Equal(0f, t[2]);               // cos = −1, clamped
    }

    [Fact]
    public void SeparabilityFollowsEquationNineWithTheNormOfTheSimilarityVector()
    {
        float[] t = [0.9f, 0.3f, 0.6f, 0.2f];
        float s = Separability.Compute(t, out int label);
        // ‖T‖₂ = sqrt(0.81 + 0.09 + 0.36 + 0.04) = sqrt(1.3); (t_H − t_SH) = 0.3; t_H / t_SH = 1.5
        Assert.Equal(MathF.Sqrt(1.3f) * 0.3f * 1.5f, s, 5);
        Assert.Equal(0, label);                         // eq. 10

        Assert.Equal(0f, Separability.Compute([0f, 0f, 0f], out _));
        Assert.Equal(0f, Separability.Compute([0.5f, 0.5f], out _)); // a tie is not separable
    }

    [Fact]
    public void EquationElevenPicksTheMostBitsThatKeepTransmissionOffTheBottleneck()
    {
        // 10,000 values of rank 2: bytes(Q) = 1250·Q + 78 header bytes; at 125,000 B/s, T't(Q) = 0.01·Q + 0.000624 s.
        var cost = new TransferCostModel(edgeSeconds: 0.045, cloudSeconds: 0.02, cutTensorLengths: [10_000], cutTensorRanks: [2]);
        Assert.Equal(4, OnlineScheduler.ChooseBits(2, 8, cost, 125_000));   // T't(4) = 0.04 ≤ 0.045 < T't(5)
        Assert.Equal(6, OnlineScheduler.ChooseBits(6, 8, cost, 125_000));   // Q_r already the bottleneck: keep Q_r
        Assert.Equal(8, OnlineScheduler.ChooseBits(2, 8, cost, 1_000_000)); // ample bandwidth
        Assert.Equal(2, OnlineScheduler.ChooseBits(2, 8, cost, 10_000));    // starved link
        Assert.Equal((1250 * 3) + FrameBytes.RequestFixedBytes + FrameBytes.TensorHeaderBytes(2), cost.FrameBytes(3));
    }

    [Fact]
    public void BandwidthEstimateIsTheHarmonicMeanOfRecentRates()
    {
        var estimator = new BandwidthEstimator(window: 4, priorBytesPerSecond: 1e6);
        Assert.Equal(1e6, estimator.BytesPerSecond);
        estimator.AddSample(1000, 0.001);   // 1e6
        estimator.AddSample(2000, 0.001);   // 2e6
        Assert.Equal(2.0 / ((1 / 1e6) + (1 / 2e6)), estimator.BytesPerSecond, 3);
        Assert.False(estimator.AddSample(0, 1));
        Assert.False(estimator.AddSample(10, 0));
        Assert.False(estimator.AddSample(10, double.NaN));

        // A burst at 1000× the rate is clamped to 16× and barely moves the harmonic mean.
        estimator.AddSample(1000, 0.001);
        estimator.AddSample(1000, 0.001);
        double before = estimator.BytesPerSecond;
        estimator.AddSample(1_000_000, 0.001);
        Assert.InRange(estimator.BytesPerSecond, before * 0.9, before * 1.4);

        // A real drop shows once the window has turned over.
        for (int i = 0; i < 4; i++)
        {
            estimator.AddSample(100, 0.001);
        }

        Assert.InRange(estimator.BytesPerSecond, 0.99e5, 1.01e5);
    }

    [Fact]
    public void SchedulerExitsEarlyAboveTheExitThresholdAndLowersBitsWithSeparability()
    {
        var cache = new SemanticCache(3, 3);
        cache.Update(0, [1f, 0f, 0f]);
        cache.Update(1, [0f, 1f, 0f]);
        cache.Update(2, [0f, 0f, 1f]);
        var calibration = new SchedulerCalibration
        {
            ExitThreshold = 50,
            BitThresholds = [new BitThreshold(6, 0.5), new BitThreshold(4, 2.0)],
            PlanBits = 8,
        };
        var cost = new TransferCostModel(0.01, 0.01, [1_000_000], [2]);
        var scheduler = new OnlineScheduler(cache, calibration, cost, new BandwidthEstimator(8, 1000)); // starved: Q_c = Q_r

        var clear = scheduler.Decide([1f, 0.001f, 0.001f]);
        Assert.True(clear.EarlyExit);
        Assert.Equal(0, clear.Label);
        Assert.Equal(0, clear.Bits);

        var ambiguous = scheduler.Decide([1f, 1f, 0f]);    // t = (0.707, 0.707, 0): S = 0
        Assert.False(ambiguous.EarlyExit);
        Assert.Equal(8, ambiguous.Bits);

        var middling = scheduler.Decide([1f, 0.5f, 0f]);   // t = (0.894, 0.447, 0): S = 1.0·0.447·2 = 0.894
        Assert.Equal(6, middling.MinimumBits);
        Assert.Equal(6, middling.Bits);

        var fairlyClear = scheduler.Decide([1f, 0.2f, 0f]); // S ≈ 3.8
        Assert.Equal(4, fairlyClear.Bits);
        Assert.Equal(1, scheduler.Decide([0f, 1f, 0.01f]).Label);
    }

    [Fact]
    public void CalibrationRoundTripsThroughJson()
    {
        var calibration = new SchedulerCalibration
        {
            ExitThreshold = 12.5,
            BitThresholds = [new BitThreshold(4, 1.25), new BitThreshold(2, 7.5)],
            PlanBits = 6,
            MaxBits = 8,
            SampleCount = 1000,
            FullAccuracy = 0.9,
            PolicyAccuracy = 0.898,
            ExitRatio = 0.2,
            MeanBits = 4.5,
        };
        var back = SchedulerCalibration.FromJson(calibration.ToJson());
        Assert.Equal(12.5, back.ExitThreshold);
        Assert.Equal(calibration.BitThresholds, back.BitThresholds);
        Assert.Equal(6, back.PlanBits);
        Assert.Equal(0.898, back.PolicyAccuracy);
        Assert.Contains("\"exitThreshold\"", calibration.ToJson());
        Assert.Null(SchedulerCalibration.FromJson("{\"planBits\": 8}").ExitThreshold);
        Assert.Throws<InvalidDataException>(() => SchedulerCalibration.FromJson("{\"planBits\": 4, \"bitThresholds\": [{\"bits\": 6, \"minSeparability\": 1}]}"));
    }

    [Fact]
    public void CalibrationKeepsTheLossWithinEpsilonAndExitsTheClearSamples()
    {
        // Two well separated clusters plus a band of ambiguous samples; the ambiguous ones are wrong at low bits and on exit.
        var random = new Random(7);
        const int n = 2000;
        var features = new float[n * 4];
        var labels = new int[n];
        var full = new bool[n];
        var correct = new Dictionary<int, bool[]>();
        for (int b = 2; b <= 8; b++)
        {
            correct[b] = new bool[n];
        }

        for (int i = 0; i < n; i++)
        {
            int y = i % 2;
            labels[i] = y;
            bool ambiguous = i % 5 == 0;
            float mix = ambiguous ? 0.45f + (0.1f * random.NextSingle()) : 0.02f * random.NextSingle();
            features[(i * 4) + y] = 1f - mix;
            features[(i * 4) + (1 - y)] = mix;
            features[(i * 4) + 2] = 0.1f * random.NextSingle();
            full[i] = true;
            for (int b = 2; b <= 8; b++)
            {
                correct[b][i] = !ambiguous || b >= 6;
            }
        }

        var calibration = SchedulerCalibrator.Calibrate(new CalibrationSamples(features, labels, 2, full, correct), new SchedulerCalibrationOptions { PlanBits = 6 });
        Assert.NotNull(calibration.ExitThreshold);
        Assert.InRange(calibration.ExitRatio, 0.5, 0.81);
        Assert.True(calibration.FullAccuracy - calibration.PolicyAccuracy <= 0.005);
        Assert.Equal(6, calibration.PlanBits);
    }
}
