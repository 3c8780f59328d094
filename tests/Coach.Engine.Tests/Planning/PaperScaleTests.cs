using System.Diagnostics;
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

    [Fact]
    public void CoachSearchOnResNet101ExaminesNoMoreCandidatesThanValidPartitions()
    {
        // The speed target (< 20 ms) is measured in tests/Coach.Benchmarks/PlannerBenchmarks.cs; here the work itself
        // is bounded: the divide-and-conquer search looks at each valid partition at most once, never at 2^layers subsets.
        foreach (double bandwidth in new[] { 10e6, 100e6 })
        {
            var problem = SyntheticNetworks.ResNet(new CostSettings { BandwidthBitsPerSecond = bandwidth }, edgeFlops: 200e9);
            var space = PlanExplanation.SearchSpace(problem);
            var plan = new CoachPlanner().Plan(problem, new FixedBits(6));
            output.WriteLine($"{bandwidth / 1e6} Mbit/s: {plan.CandidatesExamined} candidates of {space.Ideals} partitions; {plan.EdgeLayerCount} edge layers, {plan.Cost.ThroughputPerSecond:F1} fps");
            Assert.InRange(plan.CandidatesExamined, 1, (long)space.Ideals);
            Assert.True(PipelineCostModel.IsDownwardClosed(problem, plan.OnEdge));
        }
    }
}

