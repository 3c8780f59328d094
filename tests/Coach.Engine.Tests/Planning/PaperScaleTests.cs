using System.Diagnostics;
using Coach.Engine.Planning;
using Xunit.Abstractions;

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
    public void CoachPlansResNet101InUnderTwentyMilliseconds()
    {
        foreach (double bandwidth in new[] { 10e6, 100e6 })
        {
            var problem = SyntheticNetworks.ResNet(new CostSettings { BandwidthBitsPerSecond = bandwidth }, edgeFlops: 200e9);
            var planner = new CoachPlanner();
            var bits = new FixedBits(6);
            for (int i = 0; i < 5; i++)
            {
                planner.Plan(problem, bits); // warm-up (JIT)
            }
            var times = new List<double>();
            PartitionPlan plan = null!;
            for (int i = 0; i < 21; i++)
            {
                var clock = Stopwatch.StartNew();
                plan = planner.Plan(problem, bits);
                times.Add(clock.Elapsed.TotalMilliseconds);
            }
            double median = times.Order().ElementAt(times.Count / 2);
            output.WriteLine($"{bandwidth / 1e6} Mbit/s: median {median:F3} ms over {times.Count} runs; {plan.EdgeLayerCount} edge layers, {plan.Cost.ThroughputPerSecond:F1} fps");
            Assert.True(median < 20, $"planner median {median:F3} ms");
        }
    }
}

public class PlannerPhaseTimings(ITestOutputHelper output)
{
    [Fact]
    public void PhasesOfTheResNet101Search()
    {
        var problem = SyntheticNetworks.ResNet(new CostSettings { BandwidthBitsPerSecond = 10e6 }, edgeFlops: 200e9);
        double Median(Action a)
        {
            for (int i = 0; i < 5; i++) a();
            var t = new List<double>();
            for (int i = 0; i < 21; i++) { var c = Stopwatch.StartNew(); a(); t.Add(c.Elapsed.TotalMilliseconds); }
            return t.Order().ElementAt(10);
        }
        var onEdge = new bool[problem.NodeCount];
        double build = Median(() => IdealDecomposition.Build(problem));
        var d = IdealDecomposition.Build(problem);
        double enumerate = Median(() => d.Enumerate(onEdge, () => { }));
        double cut = Median(() => d.Enumerate(onEdge, () => PipelineCostModel.CutTensors(problem, onEdge)));
        var ideal = new bool[problem.NodeCount];
        for (int i = 0; i < 120; i++) ideal[i] = true;
        var cutSet = PipelineCostModel.CutTensors(problem, ideal);
        double evaluate = Median(() => { for (int i = 0; i < 100; i++) PipelineCostModel.Evaluate(problem, ideal, cutSet, 6); });
        double plan = Median(() => new CoachPlanner().Plan(problem, new FixedBits(6)));
        output.WriteLine($"build {build:F3} ms, enumerate {enumerate:F3} ms, enumerate+cut {cut:F3} ms, 100 evaluations {evaluate:F3} ms, plan {plan:F3} ms");
        Assert.True(plan > 0);
    }
}
