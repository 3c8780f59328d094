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
    public void CoachSearchEnumeratesExactlyTheHandCountedPartitionsOfABottleneckResNet(int[] blocksPerStage, long expected)
    {
        Assert.Equal(expected, HandCountedPartitions(blocksPerStage));
        // The speed target (< 20 ms) is measured in tests/Coach.Benchmarks/PlannerBenchmarks.cs; here the work itself: the
        // divide-and-conquer search costs every partition exactly once (never 2^layers subsets), at any bandwidth.
        foreach (double bandwidth in new[] { 10e6, 100e6 })
        {
            var problem = SyntheticNetworks.ResNet(new CostSettings { BandwidthBitsPerSecond = bandwidth }, blocksPerStage, edgeFlops: 200e9);
            var plan = new CoachPlanner().Plan(problem, new FixedBits(6));
            output.WriteLine($"{bandwidth / 1e6} Mbit/s: {plan.CandidatesExamined} candidates ({plan.Note}); {plan.EdgeLayerCount} edge layers, {plan.Cost.ThroughputPerSecond:F1} fps");
            Assert.Equal(expected, plan.PartitionsEnumerated);
            Assert.Equal(ExaminedByBranchAndBound(problem, EnumeratedIdeals(problem), new FixedBits(6)), plan.CandidatesExamined);
            Assert.True(BruteForcePlanner.IsDownwardClosed(problem, plan.OnEdge));
        }
    }

    [Fact]
    public void CoachEnumeratesTheDownwardClosedSetsOfRandomDagsAndEvaluatesOnlyThoseTheBoundKeeps()
    {
        long enumerated = 0;
        long examined = 0;
        for (int seed = 0; seed < 60; seed++)
        {
            var problem = RandomDags.Create(seed);
            long ideals = BruteForcePlanner.AllIdeals(problem).Count;
            var plan = new CoachPlanner().Plan(problem, new HashedBits(seed));
            Assert.True(ideals == plan.PartitionsEnumerated, $"seed {seed}: {plan.PartitionsEnumerated} partitions enumerated, {ideals} downward-closed sets");
            long counted = ExaminedByBranchAndBound(problem, BruteForcePlanner.DeployableIdeals(problem), new HashedBits(seed));
            Assert.True(counted == plan.CandidatesExamined, $"seed {seed}: {plan.CandidatesExamined} candidates examined, branch and bound over the brute-force sets evaluates {counted}");
            enumerated += ideals;
            examined += counted;
        }

        output.WriteLine($"{examined} of {enumerated} partitions evaluated with calibrated bits");
        Assert.True(examined < enumerated / 2, "the lower bound should prune most partitions");
    }

    /// <summary>Every partition of a graph too large for brute force, from the decomposition (checked against brute force on random DAGs).</summary>
    private static List<bool[]> EnumeratedIdeals(PlanningProblem problem)
    {
        var ideals = new List<bool[]>();
        var onEdge = new bool[problem.NodeCount];
        IdealDecomposition.Build(problem).Enumerate(onEdge, () => ideals.Add((bool[])onEdge.Clone()));
        return ideals;
    }

    /// <summary>
    /// The partitions COACH's branch and bound evaluates, counted over a given list of all partitions: visited in order of
    /// their 2-bit bottleneck (a lower bound for any bits), until that bound exceeds the best plan's bottleneck.
    /// </summary>
    private static long ExaminedByBranchAndBound(PlanningProblem problem, IEnumerable<bool[]> partitions, ICutBitsProvider bits)
    {
        var chooser = new BitChooser(problem, bits);
        var byBound = partitions
            .Select(onEdge => (OnEdge: onEdge, Cut: PipelineCostModel.CutTensors(problem, onEdge)))
            .Select(p => (p.OnEdge, Bound: PipelineCostModel.Evaluate(problem, p.OnEdge, p.Cut, PipelineCostModel.UniformBits(p.Cut.Length, 2)).BottleneckSeconds))
            .OrderBy(p => p.Bound);
        PartitionCost? best = null;
        long examined = 0;
        foreach (var (onEdge, bound) in byBound)
        {
            if (best is not null && bound * (1 - 1e-12) > best.BottleneckSeconds)
            {
                break;
            }

            examined++;
            var plan = chooser.Choose("coach", onEdge, out _, best?.BottleneckSeconds ?? double.PositiveInfinity);
            if (plan is not null && (best is null || PartitionCost.CompareObjective(plan.Cost, best) < 0))
            {
                best = plan.Cost;
            }
        }

        return examined;
    }
}
