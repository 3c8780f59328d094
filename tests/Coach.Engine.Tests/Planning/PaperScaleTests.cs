using Coach.Engine.Planning;

namespace Coach.Engine.Tests.Planning;

public class PaperScaleTests(ITestOutputHelper output)
{
    [Fact]
    public void ResNet101HasThirtyThreeBottleneckBlocksAndFewPartitionsPerBlock()
    {
        var problem = SyntheticNetworks.ResNet(new CostSettings { BandwidthBitsPerSecond = 10e6 });
        Assert.Equal(33, problem.NodeNames.Count(n => n.EndsWith(".add", StringComparison.Ordinal)));
        Assert.Equal(4, problem.NodeNames.Count(n => n.EndsWith(".downsample", StringComparison.Ordinal)));
        var space = PlanExplanation.SearchSpace(problem);
        output.WriteLine($"ResNet-101: {space.Layers} layers, {space.Ideals} partitions, 2^{space.Layers} subsets, {space.SeriesBlocks} top-level blocks, largest {space.LargestBlockIdeals}");
        // 29 identity blocks: prefixes of the 5-layer main branch (6) -> 5 new partitions each beyond the boundary;
        // 4 projection blocks: 6 x 2 with the shortcut conv; counted independently here by chain prefixes.
        Assert.True(space.Ideals > problem.NodeCount && space.Ideals < 2 * problem.NodeCount);
    }

    /// <summary>
    /// The partitions of the synthetic bottleneck ResNet, counted by hand from its structure: the empty set; the stem's
    /// three layers in a chain (3); per block, once its input is on the edge, a prefix of the 5-layer main branch
    /// (conv1, relu1, conv2, relu2, conv3: 6 choices) times the shortcut (identity: 1; projection conv: 2), less the
    /// empty choice already counted, then the add and relu3 (+2): 7 for an identity block, 13 for a projection block;
    /// then avgpool and fc (+2).
    /// </summary>
    private static long HandCountedPartitions(int[] blocksPerStage)
    {
        long blocks = blocksPerStage.Sum();
        long projections = blocksPerStage.Length; // the first block of each stage
        return 1 + 3 + (7 * (blocks - projections)) + (13 * projections) + 2;
    }

    [Theory]
    [InlineData(new[] { 3, 4, 23, 3 }, 261)] // ResNet-101: 29 identity and 4 projection blocks
    [InlineData(new[] { 1, 1 }, 32)]
    [InlineData(new[] { 2, 3, 1 }, 66)]
    public void CoachSearchExaminesExactlyTheHandCountedPartitionsOfABottleneckResNet(int[] blocksPerStage, long expected)
    {
        Assert.Equal(expected, HandCountedPartitions(blocksPerStage));
        // The speed target (< 20 ms) is measured in tests/Coach.Benchmarks/PlannerBenchmarks.cs; here the work itself: the
        // divide-and-conquer search costs every partition exactly once (never 2^layers subsets), at any bandwidth.
        foreach (double bandwidth in new[] { 10e6, 100e6 })
        {
            var problem = SyntheticNetworks.ResNet(new CostSettings { BandwidthBitsPerSecond = bandwidth }, blocksPerStage, edgeFlops: 200e9);
            var plan = new CoachPlanner().Plan(problem, new FixedBits(6));
            output.WriteLine($"{bandwidth / 1e6} Mbit/s: {plan.CandidatesExamined} candidates ({plan.Note}); {plan.EdgeLayerCount} edge layers, {plan.Cost.ThroughputPerSecond:F1} fps");
            Assert.Equal(expected, plan.CandidatesExamined);
            Assert.True(PipelineCostModel.IsDownwardClosed(problem, plan.OnEdge));
        }
    }

    [Fact]
    public void CoachCandidatesEqualTheDownwardClosedSetsOfRandomDags()
    {
        for (int seed = 0; seed < 60; seed++)
        {
            var problem = RandomDags.Create(seed);
            long expected = BruteForcePlanner.AllIdeals(problem).Count();
            var plan = new CoachPlanner().Plan(problem, new FixedBits(6));
            Assert.True(expected == plan.CandidatesExamined, $"seed {seed}: {plan.CandidatesExamined} candidates, {expected} downward-closed sets");
        }
    }
}
