using Coach.Engine.Online;
using Coach.Native.OnnxRuntime;
using Coach.Transport.Edge;

namespace Coach.Transport.Tests;

/// <summary>
/// The online scheduler as the edge pipeline's schedule stage: early exit, eq. 11 bits from fed bandwidth samples, delayed
/// eq. 7 updates keyed by frame id, plan/state mismatch checks, and no allocation per frame.
/// </summary>
public sealed class OnlineFrameSchedulerTests : IDisposable
{
    private const int Channels = 4;
    private const int Spatial = 4;
    private const int Labels = 10;
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"coach-online-{Guid.NewGuid():N}");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>
    /// Label prototypes in 4-D: label j is a distinct non-negative direction, so a frame equal to a prototype is far more
    /// similar to its own centre than to any other.
    /// </summary>
    private static float[] Prototype(int label) =>
    [
        1f + (label % 3), 0.2f + (label % 4), 0.5f + (2 * (label % 2)), 0.1f + (label / 3f),
    ];

    private static void Fill(PinnedTensor tensor, ReadOnlySpan<float> channelValues, float jitter, int seed)
    {
        Span<float> values = tensor.AsSpan<float>();
        for (int c = 0; c < Channels; c++)
        {
            for (int s = 0; s < Spatial; s++)
            {
                float wobble = jitter * ((((seed * 31) + (c * 7) + s) % 5) - 2) / 2f;
                values[(c * Spatial) + s] = Math.Max(0f, channelValues[c] + wobble);
            }
        }
    }

    private PlanDirectory WritePlan(double bandwidthBps, double edgeMs = 5, double cloudMs = 2)
    {
        string dir = TinyModels.WritePlan(_root, $"plan-{Guid.NewGuid():N}", TinyModels.Head(), TinyModels.Tail(), bits: 4);
        File.WriteAllText(Path.Combine(dir, "plan.json"),
            $"{{\"id\":\"online-test\",\"method\":\"coach\",\"bandwidth_bps\":{bandwidthBps},\"t_edge_ms\":{edgeMs},\"t_cloud_ms\":{cloudMs},\"frame_overhead_ms\":0," +
            "\"cut_tensors\":[{\"name\":\"cut\",\"shape\":[1,4,2,2],\"bits\":4}],\"bits\":[4]}");
        return PlanDirectory.Load(dir);
    }

    private static SchedulerState WarmState(PlanDirectory plan, double? exitThreshold, int planBits = 4)
    {
        var cache = new SemanticCache(Labels, Channels);
        for (int j = 0; j < Labels; j++)
        {
            cache.Update(j, Prototype(j));
        }

        var calibration = new SchedulerCalibration { ExitThreshold = exitThreshold, PlanBits = planBits, MaxBits = 8 };
        var state = SchedulerState.Create(calibration, cache, [new SchedulerCutTensor("cut", Channels)], centreWindow: 32);
        state.TailSha256 = plan.PlanHashHex;
        return state;
    }

    private static float SeparabilityOf(ReadOnlySpan<float> feature, SemanticCache cache)
    {
        Span<float> similarities = stackalloc float[Labels];
        cache.Similarities(feature, similarities);
        return Separability.Compute(similarities, out _);
    }

    [Fact]
    public void AFrameAtItsCentreExitsWithThatLabelAndAnAmbiguousOneIsSentAndLearntFromTheCloudLabel()
    {
        PlanDirectory plan = WritePlan(20e6);
        SchedulerState probe = WarmState(plan, exitThreshold: null);
        SemanticCache centres = probe.CreateCache();
        float[] ambiguous = [.. Prototype(2).Zip(Prototype(5), (a, b) => (a + b) / 2)];
        float atCentre = SeparabilityOf(Prototype(7), centres);
        float between = SeparabilityOf(ambiguous, centres);
        Assert.True(atCentre > between, $"S at a centre ({atCentre}) must exceed S between two centres ({between})");
        var scheduler = new OnlineFrameScheduler(plan, WarmState(plan, exitThreshold: (atCentre + between) / 2));

        using var tensor = PinnedTensor.Create(TensorElementType.Float, [1, Channels, 2, 2]);
        PinnedTensor[] cut = [tensor];
        Fill(tensor, Prototype(7), jitter: 0, seed: 0);
        SchedulingDecision exit = scheduler.Decide(0, cut, 0.004);
        Assert.True(exit.EarlyExit);
        Assert.Equal(7, exit.Label);

        Fill(tensor, ambiguous, jitter: 0, seed: 0);
        SchedulingDecision sent = scheduler.Decide(1, cut, 0.004);
        Assert.False(sent.EarlyExit);
        Assert.InRange(sent.Bits, 4, 8);
        long before = scheduler.Scheduler!.Cache.Count(5);
        scheduler.OnCloudLabel(99, 5); // never sent: nothing to learn
        Assert.Equal(0, scheduler.CentreUpdates);
        scheduler.OnCloudLabel(1, 5);
        Assert.Equal(1, scheduler.CentreUpdates);
        Assert.Equal(before + 1, scheduler.Scheduler!.Cache.Count(5));
        scheduler.OnCloudLabel(1, 5); // a duplicate answer is not learnt twice
        Assert.Equal(1, scheduler.CentreUpdates);
        Assert.Equal(1, scheduler.EarlyExits);
        Assert.Equal(1, scheduler.FramesSent);
    }

    [Fact]
    public void BitsFollowTheLiveBandwidthEstimate()
    {
        // 16 values and a frame header: at 20 Mbit/s transmission is far below T_e = 5 ms, so eq. 11 raises the bits to the
        // maximum; at a measured 2 kB/s it is the bottleneck and Q_c falls to Q_r (the plan's 4 bits).
        PlanDirectory plan = WritePlan(20e6);
        var scheduler = new OnlineFrameScheduler(plan, WarmState(plan, exitThreshold: null));
        using var tensor = PinnedTensor.Create(TensorElementType.Float, [1, Channels, 2, 2]);
        PinnedTensor[] cut = [tensor];
        Fill(tensor, Prototype(3), jitter: 0.3f, seed: 1);
        Assert.Equal(8, scheduler.Decide(0, cut, 0.005).Bits);
        for (int i = 0; i < 64; i++)
        {
            scheduler.OnTransferSample(100, 0.05);
        }

        Assert.InRange(scheduler.Bandwidth.BytesPerSecond, 1_000, 4_000);
        Assert.Equal(4, scheduler.Decide(1, cut, 0.005).Bits);
    }

    [Fact]
    public void WhenFramesDoNotQueueTheSpareLinkTimeIsNotSpentOnBits()
    {
        // The same fast link as above: saturated, eq. 11 fills the bubble with 8 bits; camera-paced frames that never queue
        // have no bubble to fill, so they go at Q_r (the plan's 4 bits) and each frame's transmission stays short.
        PlanDirectory plan = WritePlan(20e6);
        var scheduler = new OnlineFrameScheduler(plan, WarmState(plan, exitThreshold: null));
        using var tensor = PinnedTensor.Create(TensorElementType.Float, [1, Channels, 2, 2]);
        PinnedTensor[] cut = [tensor];
        Fill(tensor, Prototype(3), jitter: 0.3f, seed: 1);
        IFrameScheduler asInterface = scheduler;
        asInterface.OnLoad(saturated: false);
        Assert.Equal(4, scheduler.Decide(0, cut, 0.005).Bits);
        asInterface.OnLoad(saturated: true);
        Assert.Equal(8, scheduler.Decide(1, cut, 0.005).Bits);
    }

    [Fact]
    public void AStateCalibratedForAnotherTailOrCutIsRefusedWithTheFix()
    {
        PlanDirectory plan = WritePlan(20e6);
        SchedulerState other = WarmState(plan, exitThreshold: 1);
        other.TailSha256 = new string('0', 64);
        var e = Assert.Throws<InvalidDataException>(() => new OnlineFrameScheduler(plan, other));
        Assert.Contains("coach calibrate-online", e.Message, StringComparison.Ordinal);

        var cache = new SemanticCache(Labels, 3);
        for (int j = 0; j < Labels; j++)
        {
            cache.Update(j, Prototype(j).AsSpan(0, 3));
        }

        SchedulerState wrongCut = SchedulerState.Create(new SchedulerCalibration { PlanBits = 4 }, cache, [new SchedulerCutTensor("cut", 3)], null);
        wrongCut.TailSha256 = plan.PlanHashHex;
        e = Assert.Throws<InvalidDataException>(() => new OnlineFrameScheduler(plan, wrongCut));
        Assert.Contains("3 channels", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheSchedulerStateRoundTripsThroughScheduler_jsonWithTheSameDecisions()
    {
        PlanDirectory plan = WritePlan(20e6);
        SchedulerState state = WarmState(plan, exitThreshold: 0.5);
        state.Save(plan.DirectoryPath);
        SchedulerState loaded = SchedulerState.TryLoad(plan.DirectoryPath)!;
        Assert.Equal(state.ToJson(), loaded.ToJson());
        var a = new OnlineFrameScheduler(plan, state);
        var b = new OnlineFrameScheduler(plan, loaded);
        using var tensor = PinnedTensor.Create(TensorElementType.Float, [1, Channels, 2, 2]);
        PinnedTensor[] cut = [tensor];
        for (int i = 0; i < 50; i++)
        {
            Fill(tensor, Prototype(i % Labels), jitter: 0.4f, seed: i);
            Assert.Equal(a.Decide(i, cut, 0.004), b.Decide(i, cut, 0.004));
        }
    }

    [Fact]
    public void DecidingLearningAndBandwidthFeedbackAllocateNothingOverTenThousandFrames()
    {
        PlanDirectory plan = WritePlan(20e6);
        SchedulerState probe = WarmState(plan, exitThreshold: null);
        SemanticCache centres = probe.CreateCache();
        // S_ext at the median S of the jittered frames, so both paths (exit and send + learn) run in the loop.
        var separabilities = new List<float>();
        var jittered = new float[Channels];
        for (int i = 0; i < 200; i++)
        {
            float[] p = Prototype(i % Labels);
            for (int c = 0; c < Channels; c++)
            {
                jittered[c] = p[c] + (0.6f * ((((i * 31) + (c * 7)) % 5) - 2) / 2f);
            }

            separabilities.Add(SeparabilityOf(jittered, centres));
        }

        separabilities.Sort();
        var scheduler = new OnlineFrameScheduler(plan, WarmState(plan, exitThreshold: separabilities[separabilities.Count / 2]), pendingCapacity: 64);
        using var tensor = PinnedTensor.Create(TensorElementType.Float, [1, Channels, 2, 2]);
        PinnedTensor[] cut = [tensor];
        var sentLabels = new int[8];
        var sentIds = new int[8];
        float[][] prototypes = [.. Enumerable.Range(0, Labels).Select(Prototype)];
        int pending = 0;

        void Frame(int i)
        {
            int label = i % Labels;
            Fill(tensor, prototypes[label], jitter: 0.6f, seed: i);
            SchedulingDecision d = scheduler.Decide(i, cut, 0.004 + ((i % 7) * 1e-4));
            if (!d.EarlyExit)
            {
                // The cloud's answer for a frame arrives a few frames later (ring of 8 outstanding requests).
                int slot = pending++ % sentIds.Length;
                if (pending > sentIds.Length)
                {
                    scheduler.OnCloudLabel(sentIds[slot], sentLabels[slot]);
                }

                sentIds[slot] = i;
                sentLabels[slot] = label;
                scheduler.OnTransferSample(60 + d.Bits, 0.0002 + ((i % 5) * 1e-5));
            }
        }

        for (int i = 0; i < 200; i++)
        {
            Frame(i);
        }

        long exitsBefore = scheduler.EarlyExits;
        long updatesBefore = scheduler.CentreUpdates;
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 200; i < 10_200; i++)
        {
            Frame(i);
        }

        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.Equal(0, allocated);
        Assert.True(scheduler.EarlyExits > exitsBefore, "no frame exited early: the loop did not exercise eq. 10");
        Assert.True(scheduler.CentreUpdates > updatesBefore + 1000, "the cloud labels were not learnt: the loop did not exercise eq. 7");
    }
}
