using Coach.Engine.Planning;

namespace Coach.Engine.Tests.Planning;

/// <summary>COACH's compressed input cut (docs/planner.md §5.4): the frame through the input codec is a candidate beside the
/// layer cuts, and the better of the two by the planner's objective wins.</summary>
public class CodecCutTests
{
    private static InputCodecModel Jpeg(double bytes = 1100, double encodeSeconds = 0.1e-3) => new("jpeg", 40, bytes, encodeSeconds, 0.926, 0.923, 1000);

    /// <summary>frame → L0 → a → L1 → logits at 10 Mbit/s; <paramref name="aElements"/> sets how much the layer cut sends.</summary>
    private static PlanningProblem Chain(InputCodecModel? codec, long aElements, double edgeL0, double edgeL1) => new(
        ["L0", "L1"], [edgeL0, edgeL1], [1e-4, 1e-4],
        [
            new PlanTensor("frame", -1, [0], 3 * 112 * 112, 1, [1, 3, 112, 112]),
            new PlanTensor("a", 0, [1], aElements, 1, [1, aElements]),
            new PlanTensor("logits", 1, [], 10, 1, [1, 10]),
        ],
        new CostSettings { BandwidthBitsPerSecond = 10e6, FrameOverheadSeconds = 5e-4, InputCodec = codec });

    [Fact]
    public void TheCodecCutWinsWhenTheFrameIsCheaperThanEveryLayerCut()
    {
        // The layer cut sends 64×28×28 values (25 KB at 4 bits, 20 ms at 10 Mbit/s); edge-only takes 4 ms; the JPEG frame 1.5 ms.
        var problem = Chain(Jpeg(), 64 * 28 * 28, 2e-3, 2e-3);
        var plan = new CoachPlanner().Plan(problem, new FixedBits(4));
        var layer = new CoachPlanner().Plan(problem.WithSettings(problem.Settings with { InputCodec = null }), new FixedBits(4));
        var cloudJpeg = new CloudOnlyPlanner("cloud-jpeg").Plan(problem, new FixedBits(32));

        Assert.Equal(0, plan.EdgeLayerCount);
        Assert.Equal("coach", plan.Method);
        Assert.Equal(cloudJpeg.Cost, plan.Cost);
        var choice = plan.CutChoice!;
        Assert.True(choice.CodecCutWon);
        Assert.Equal(cloudJpeg.Cost.ThroughputPerSecond, choice.CodecCutFps, 9);
        Assert.Equal(layer.Cost.ThroughputPerSecond, choice.LayerCutFps, 9);
        Assert.True(choice.CodecCutFps > 2 * choice.LayerCutFps, $"codec {choice.CodecCutFps:F1}, layer {choice.LayerCutFps:F1}");
        Assert.StartsWith("the compressed input cut", choice.Reason);
        Assert.Contains("wins", choice.Reason);

        var document = PlanWriter.Describe(null, problem, plan, new PlanContext("chain", null, null, null, 1, 0.005));
        Assert.Equal(40, document.InputCodec!.Quality);
        Assert.True(document.CutChoice!.CodecCutWon);
        var json = document.ToJson();
        Assert.Contains("\"cut_choice\"", json);
        Assert.Contains("\"codec_cut_fps\"", json);
        Assert.Contains("\"layer_cut_fps\"", json);
    }

    [Fact]
    public void ALayerCutWinsWhenItSendsLessThanTheCodedFrame()
    {
        // A 16-value cut after a fast first layer: the link carries ~0.5 ms; the JPEG frame still costs 1.5 ms; L1 on the edge is slow.
        var problem = Chain(Jpeg(), 16, 1e-4, 5e-3);
        var plan = new CoachPlanner().Plan(problem, new FixedBits(8));

        Assert.Equal(1, plan.EdgeLayerCount);
        var choice = plan.CutChoice!;
        Assert.False(choice.CodecCutWon);
        Assert.Equal(plan.Cost.ThroughputPerSecond, choice.LayerCutFps, 9);
        Assert.True(choice.LayerCutFps > choice.CodecCutFps);
        Assert.Equal("a@8b", choice.LayerCut);
        Assert.StartsWith("the best layer cut", choice.Reason);
        var document = PlanWriter.Describe(null, problem.WithSettings(problem.Settings with { InputCodec = null }), plan, new PlanContext("chain", null, null, null, 1, 0.005));
        Assert.Null(document.InputCodec);
        Assert.False(document.CutChoice!.CodecCutWon);
    }

    [Fact]
    public void ACodecCutThatBreaksTheLatencyBudgetIsNotChosen()
    {
        // A slow encoder (30 ms) makes the coded frame's latency exceed T_max = 10 ms; the layer cut meets it.
        var problem = Chain(Jpeg(1100, 30e-3), 16, 1e-4, 5e-3);
        problem = problem.WithSettings(problem.Settings with { LatencyBudgetSeconds = 10e-3 });
        var plan = new CoachPlanner().Plan(problem, new FixedBits(8));
        Assert.Equal(1, plan.EdgeLayerCount);
        Assert.Contains("breaks T_max", plan.CutChoice!.Reason);
    }

    [Fact]
    public void WithACodecCoachIsNeverBelowTheCodecsCloudOnlyPlanOrItsOwnLayerCuts()
    {
        int coded = 0;
        for (int seed = 0; seed < 60; seed++)
        {
            var plain = RandomDags.Create(seed);
            var problem = plain.WithSettings(plain.Settings with { InputCodec = Jpeg(800 + (seed * 97 % 4000), 0.05e-3 * (seed % 5)) });
            var plan = new CoachPlanner().Plan(problem, new HashedBits(seed));
            var layer = new CoachPlanner().Plan(plain, new HashedBits(seed));
            var inputs = problem.Tensors.Where(t => t.Producer < 0 && t.Consumers.Length > 0).ToList();
            if (inputs.Count == 1 && inputs[0].IsFloat)
            {
                var cloudJpeg = new CloudOnlyPlanner("cloud-jpeg").Plan(problem, new FixedBits(32));
                Assert.True(plan.Cost.ThroughputPerSecond >= cloudJpeg.Cost.ThroughputPerSecond * (1 - 1e-12), $"seed {seed}: cloud-jpeg beats COACH");
                coded += plan.CutChoice!.CodecCutWon ? 1 : 0;
            }

            if (layer.EdgeLayerCount > 0)
            {
                Assert.True(plan.Cost.ThroughputPerSecond >= layer.Cost.ThroughputPerSecond * (1 - 1e-12), $"seed {seed}: the codec made COACH slower");
            }
        }

        Assert.InRange(coded, 1, 59);
    }
}
