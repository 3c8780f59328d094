using Coach.Engine.Data;
using Coach.Engine.Online;

namespace Coach.Engine.Tests.Online;

/// <summary>The exit guards of the stream-fitted scheduler and the stream calibrator's loop on synthetic features.</summary>
public sealed class StreamGuardTests
{
    private static OnlineScheduler Scheduler(SchedulerCalibration calibration)
    {
        var cache = new SemanticCache(3, 3);
        cache.Update(0, [1f, 0f, 0f]);
        cache.Update(1, [0f, 1f, 0f]);
        cache.Update(2, [0f, 0f, 1f]);
        return new OnlineScheduler(cache, calibration, new TransferCostModel(0.01, 0.01, [1000], [2]), new BandwidthEstimator(8, 1e6));
    }

    [Fact]
    public void AFrameExitsOnlyWhenItsNearestLabelIsWhatTheCloudReturnedLast()
    {
        var scheduler = Scheduler(new SchedulerCalibration { ExitThreshold = 1, CloudAgreementFrames = 2 });
        float[] clearZero = [1f, 0.001f, 0.001f];
        Assert.False(scheduler.Decide(clearZero).EarlyExit); // no answer from the cloud yet
        scheduler.Learn(0, clearZero);
        Assert.False(scheduler.Decide(clearZero).EarlyExit); // one answer of label 0, two needed
        scheduler.Learn(0, clearZero);
        Assert.True(scheduler.Decide(clearZero).EarlyExit);
        scheduler.Learn(1, [0f, 1f, 0f]);                    // the scene changed: the last answer is 1
        Assert.False(scheduler.Decide(clearZero).EarlyExit);
        Assert.Equal(1, scheduler.LastCloudLabel);
    }

    [Fact]
    public void AfterTheMostExitsInARowTheNextFrameIsSent()
    {
        var scheduler = Scheduler(new SchedulerCalibration { ExitThreshold = 1, MaxConsecutiveExits = 3 });
        float[] clearZero = [1f, 0.001f, 0.001f];
        bool[] exits = [.. Enumerable.Range(0, 8).Select(_ => scheduler.Decide(clearZero).EarlyExit)];
        Assert.Equal([true, true, true, false, true, true, true, false], exits);
    }

    [Fact]
    public void SimulatedStreamsSendAtTheBitsEquation11PicksWhenGivenTheLink()
    {
        // S_adj allows 2 bits for every frame, where the tail is always wrong; at the plan's 3 bits it is always right.
        var warm = new SemanticCache(2, 2);
        warm.Update(0, [1f, 0f]);
        warm.Update(1, [0f, 1f]);
        const int frames = 50;
        var features = new float[frames * 2];
        for (int i = 0; i < frames; i++)
        {
            features[2 * i] = 1f;
        }

        var truth = new int[frames];
        var wrong = Enumerable.Repeat(1, frames).ToArray();
        var trace = new StreamTrace(StreamCorrelation.High, features, truth, truth, new Dictionary<int, int[]> { [2] = wrong, [3] = truth });
        var calibration = new SchedulerCalibration { PlanBits = 3, MaxBits = 8, BitThresholds = [new BitThreshold(2, -1)] };
        var snapshot = StreamCalibrator.Snapshot(warm);

        var atMinimum = StreamCalibrator.Simulate(trace, snapshot, null, 0, calibration);
        Assert.Equal(frames, atMinimum.Loss);
        Assert.Equal(2L * frames, atMinimum.BitSum);

        // A link with room to spare (T_t at 8 bits far below T_e): eq. 11 raises Q_c, and the answer is the plan's bits'.
        var roomy = (new TransferCostModel(1.0, 0, [2], [2]), 1e6);
        var atEquation11 = StreamCalibrator.Simulate(trace, snapshot, null, 0, calibration, link: roomy);
        Assert.Equal(0, atEquation11.Loss);
        Assert.Equal(3L * frames, atEquation11.BitSum);
    }

    [Fact]
    public void StreamFitKeepsEveryLevelWithinItsBudgetAndPrefersTheWindowWithMoreHighCorrelationExits()
    {
        // Two labels whose samples lie on two arcs; a "high" stream repeats one sample per run, a "low" one draws at random.
        var random = new Random(3);
        float[] Sample(int label) => label == 0
            ? [1f, 0.3f + (0.4f * (float)random.NextDouble()), 0.05f]
            : [0.3f + (0.4f * (float)random.NextDouble()), 1f, 0.05f];
        var warm = new SemanticCache(2, 3);
        for (int i = 0; i < 200; i++)
        {
            warm.Update(i % 2, Sample(i % 2));
        }

        StreamTrace Trace(StreamCorrelation level, int frames)
        {
            var features = new float[frames * 3];
            var truth = new int[frames];
            float[] current = [];
            int label = 0;
            for (int i = 0; i < frames; i++)
            {
                if (level == StreamCorrelation.Low || i % 20 == 0)
                {
                    label = random.Next(2);
                    current = Sample(label);
                }

                current.CopyTo(features.AsSpan(i * 3));
                truth[i] = label;
            }

            // The tail is right on every frame at every width, the full model too: any exit answered wrong is a loss.
            return new StreamTrace(level, features, truth, truth, new Dictionary<int, int[]> { [7] = truth, [8] = truth });
        }

        var traces = new[] { Trace(StreamCorrelation.Low, 600), Trace(StreamCorrelation.High, 600) };
        var fit = StreamCalibrator.Fit(traces, warm, new StreamCalibrationOptions { PlanBits = 8, MinBits = 7, FeedbackDelayFrames = 2, BudgetShare = 1 });
        Assert.NotNull(fit.ExitThreshold);
        Assert.Equal(2, fit.FeedbackDelayFrames);
        Assert.All(fit.Levels, l => Assert.True(l.AccuracyLoss <= 0.005, $"{l.Correlation} loses {l.AccuracyLoss:P2}"));
        Assert.True(fit.Levels[1].EarlyExitRatio > fit.Levels[0].EarlyExitRatio, $"high EER {fit.Levels[1].EarlyExitRatio:P1} vs low {fit.Levels[0].EarlyExitRatio:P1}");
        Assert.True(fit.Levels[1].EarlyExitRatio >= 0.5, $"high EER {fit.Levels[1].EarlyExitRatio:P1}");
    }
}
