using Coach.Engine.Data;
using Coach.Engine.Online;

namespace Coach.Engine.Tests.Online;

/// <summary>Temporal reuse: a frame close to the last frame the cloud answered takes that answer (SchedulerCalibration.ReuseThreshold).</summary>
public sealed class TemporalReuseTests
{
    private static OnlineScheduler Scheduler(SchedulerCalibration calibration)
    {
        // No S_ext threshold: only reuse can exit.
        var cache = new SemanticCache(3, 4);
        cache.Update(0, [1f, 0f, 0f, 0f]);
        cache.Update(1, [0f, 1f, 0f, 0f]);
        cache.Update(2, [0f, 0f, 1f, 0f]);
        return new OnlineScheduler(cache, calibration, new TransferCostModel(0.01, 0.01, [1000], [2]), new BandwidthEstimator(8, 1e6));
    }

    [Fact]
    public void ANearRepeatOfTheLastAnsweredFrameTakesTheCloudsAnswer()
    {
        var scheduler = Scheduler(new SchedulerCalibration { ReuseThreshold = 0.99 });
        float[] answered = [0.6f, 0.5f, 0.1f, 0.3f];
        float[] repeat = [0.61f, 0.5f, 0.1f, 0.29f];
        float[] other = [0.1f, 0.2f, 0.9f, 0.3f];
        var before = scheduler.Decide(repeat);
        Assert.False(before.EarlyExit); // nothing answered yet
        Assert.Equal(-1f, before.Resemblance);

        // The cloud answered label 2 for `answered` even though its nearest centre is 0: reuse repeats the cloud, not the centre.
        scheduler.Learn(2, answered);
        var decision = scheduler.Decide(repeat);
        Assert.True(decision.EarlyExit);
        Assert.True(decision.Reused);
        Assert.Equal(2, decision.Label);
        Assert.True(decision.Resemblance > 0.99f, $"resemblance {decision.Resemblance}");

        var different = scheduler.Decide(other);
        Assert.False(different.EarlyExit);
        Assert.True(different.Resemblance < 0.99f);
    }

    [Fact]
    public void ReuseIsOffWithoutAThresholdAndCappedByTheMostExitsInARow()
    {
        float[] frame = [0.6f, 0.5f, 0.1f, 0.3f];
        var off = Scheduler(new SchedulerCalibration());
        off.Learn(1, frame);
        Assert.False(off.Decide(frame).EarlyExit);

        var capped = Scheduler(new SchedulerCalibration { ReuseThreshold = 0.5, MaxConsecutiveExits = 2 });
        capped.Learn(1, frame);
        bool[] exits = [.. Enumerable.Range(0, 6).Select(_ => capped.Decide(frame).EarlyExit)];
        Assert.Equal([true, true, false, true, true, false], exits);
    }

    [Fact]
    public void ReuseWaitsUntilTheCloudsLastAnswersAgree()
    {
        // One answer that quantization flipped on a borderline frame must not be copied over the rest of the run.
        float[] frame = [0.6f, 0.5f, 0.1f, 0.3f];
        var scheduler = Scheduler(new SchedulerCalibration { ReuseThreshold = 0.5, CloudAgreementFrames = 2 });
        scheduler.Learn(0, frame);
        scheduler.Learn(0, frame);
        Assert.True(scheduler.Decide(frame).EarlyExit);
        scheduler.Learn(2, frame); // the flipped answer: one of label 2
        Assert.False(scheduler.Decide(frame).EarlyExit);
        scheduler.Learn(2, frame); // twice: the cloud has settled on 2
        var settled = scheduler.Decide(frame);
        Assert.True(settled.EarlyExit);
        Assert.Equal(2, settled.Label);
    }

    [Fact]
    public void TheThresholdRoundTripsThroughJsonAndMustBeACosine()
    {
        var calibration = new SchedulerCalibration { ReuseThreshold = 0.93, PlanBits = 4 };
        Assert.Equal(0.93, SchedulerCalibration.FromJson(calibration.ToJson()).ReuseThreshold);
        Assert.Null(SchedulerCalibration.FromJson("{\"planBits\": 8}").ReuseThreshold);
        var error = Assert.Throws<InvalidDataException>(() => SchedulerCalibration.FromJson("{\"planBits\": 8, \"reuseThreshold\": 1.5}"));
        Assert.Contains("[-1, 1]", error.Message);
    }

    [Fact]
    public void TheStreamFitFindsAReuseThresholdThatExitsOnRepeatsWithinTheBudget()
    {
        // Three labels whose samples overlap (a class centre cannot tell them apart safely), and a high-correlation stream of
        // runs of one jittered sample: reuse can exit inside a run, S_ext hardly ever.
        var random = new Random(11);
        float[] Sample(int label)
        {
            var f = new float[6];
            for (int k = 0; k < f.Length; k++)
            {
                f[k] = (float)random.NextDouble();
            }

            f[label] += 0.3f;
            return f;
        }

        float[] Jitter(float[] f) => [.. f.Select(v => v + (0.01f * (float)(random.NextDouble() - 0.5)))];
        var warm = new SemanticCache(3, 6);
        for (int i = 0; i < 300; i++)
        {
            warm.Update(i % 3, Sample(i % 3));
        }

        StreamTrace Trace(StreamCorrelation level, int frames)
        {
            var features = new float[frames * 6];
            var truth = new int[frames];
            float[] current = [];
            int label = 0;
            for (int i = 0; i < frames; i++)
            {
                if (level == StreamCorrelation.Low || i % 30 == 0)
                {
                    label = random.Next(3);
                    current = Sample(label);
                }

                Jitter(current).CopyTo(features.AsSpan(i * 6));
                truth[i] = label;
            }

            return new StreamTrace(level, features, truth, truth, new Dictionary<int, int[]> { [7] = truth, [8] = truth });
        }

        var traces = new[] { Trace(StreamCorrelation.Low, 900), Trace(StreamCorrelation.High, 900) };
        var options = new StreamCalibrationOptions { PlanBits = 8, MinBits = 7, FeedbackDelayFrames = 3, BudgetShare = 1, WindowCandidates = [null] };
        var withReuse = StreamCalibrator.Fit(traces, warm, options);
        var without = StreamCalibrator.Fit(traces, warm, options with { FitReuse = false });
        Assert.NotNull(withReuse.ReuseThreshold);
        Assert.Null(without.ReuseThreshold);
        Assert.All(withReuse.Levels, l => Assert.True(l.AccuracyLoss <= 0.005, $"{l.Correlation} loses {l.AccuracyLoss:P2}"));
        Assert.True(withReuse.Levels[1].EarlyExitRatio >= 0.5, $"high EER with reuse {withReuse.Levels[1].EarlyExitRatio:P1}");
        Assert.True(withReuse.Levels[1].EarlyExitRatio > without.Levels[1].EarlyExitRatio + 0.2,
            $"high EER {withReuse.Levels[1].EarlyExitRatio:P1} with reuse vs {without.Levels[1].EarlyExitRatio:P1} without");
        Assert.True(withReuse.Levels[0].EarlyExitRatio < 0.05, $"low EER {withReuse.Levels[0].EarlyExitRatio:P1}");
    }
}
