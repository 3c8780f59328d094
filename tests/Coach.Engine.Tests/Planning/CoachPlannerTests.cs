using Coach.Engine.Planning;

namespace Coach.Engine.Tests.Planning;

public class CoachPlannerTests(ITestOutputHelper output)
{
    private const int Seeds = 240;

    private static void AssertSameObjective(PartitionCost expected, PartitionCost actual, int seed)
    {
        Assert.True(Math.Abs(expected.BottleneckSeconds - actual.BottleneckSeconds) <= 1e-12 + 1e-9 * expected.BottleneckSeconds,
            $"seed {seed}: bottleneck {actual.BottleneckSeconds} vs brute force {expected.BottleneckSeconds}");
        Assert.True(Math.Abs(expected.BubbleSeconds - actual.BubbleSeconds) <= 1e-12 + 1e-9 * Math.Max(1e-3, expected.BubbleSeconds),
            $"seed {seed}: bubbles {actual.BubbleSeconds} vs brute force {expected.BubbleSeconds}");
    }

    [Fact]
    public void DecompositionCountsAndEnumeratesExactlyTheIdealsOfRandomDags()
    {
        var counts = new List<int>();
        for (int seed = 0; seed < Seeds; seed++)
        {
            var problem = RandomDags.Create(seed);
            var expected = BruteForcePlanner.AllIdeals(problem).Select(Key).ToHashSet();
            var decomposition = IdealDecomposition.Build(problem);
            var seen = new HashSet<string>();
            var onEdge = new bool[problem.NodeCount];
            decomposition.Enumerate(onEdge, () =>
            {
                Assert.True(BruteForcePlanner.IsDownwardClosed(problem, onEdge), $"seed {seed}: not downward closed");
                Assert.True(seen.Add(Key(onEdge)), $"seed {seed}: ideal enumerated twice");
            });
            Assert.Equal(expected.Count, (int)decomposition.CountIdeals());
            counts.Add(expected.Count);
            Assert.True(expected.SetEquals(seen), $"seed {seed}: enumerated ideals differ from brute force");
        }
        output.WriteLine($"ideals per random DAG: min {counts.Min()}, median {counts.Order().ElementAt(counts.Count / 2)}, max {counts.Max()}");
        Assert.True(counts.Max() >= 5 * counts.Min(), "the random DAGs should vary in width");
    }

    [Fact]
    public void CoachObjectiveEqualsBruteForceOverAllDownwardClosedSets()
    {
        int withBudget = 0;
        for (int seed = 0; seed < Seeds; seed++)
        {
            var problem = RandomDags.Create(seed);
            if (seed % 3 == 2)
            {
                // A T_max that rules out some partitions: the median single-task latency (at calibrated bits) of the
                // partitions the data plane can carry.
                var minimum = new BitChooser(problem, new HashedBits(seed));
                var latencies = BruteForcePlanner.DeployableIdeals(problem)
                    .Select(i => PipelineCostModel.Evaluate(problem, i, PipelineCostModel.CutTensors(problem, i), minimum.MinimumBitsPerTensor(PipelineCostModel.CutTensors(problem, i))).LatencySeconds)
                    .Order().ToArray();
                problem = problem.WithSettings(problem.Settings with { LatencyBudgetSeconds = latencies[latencies.Length / 2] });
                withBudget++;
            }
            var expected = new BruteForcePlanner().Plan(problem, new HashedBits(seed));
            var actual = new CoachPlanner().Plan(problem, new HashedBits(seed));
            AssertSameObjective(expected.Cost, actual.Cost, seed);
            Assert.True(BruteForcePlanner.IsDownwardClosed(problem, actual.OnEdge));
            if (problem.Settings.LatencyBudgetSeconds is { } tmax)
            {
                Assert.True(actual.Cost.LatencySeconds <= tmax, $"seed {seed}: latency above T_max");
            }
        }
        Assert.True(withBudget >= 50);
    }

    [Fact]
    public void BranchAndBoundAsksCalibrationForFewPartitions()
    {
        var problem = RandomDags.Create(7, maxLayers: 20);
        var bits = new HashedBits(7);
        var plan = new CoachPlanner().Plan(problem, bits);
        Assert.True(bits.Calls <= plan.CandidatesExamined && plan.CandidatesExamined < plan.PartitionsEnumerated, $"{bits.Calls} calibrations, {plan.CandidatesExamined} partitions evaluated of {plan.PartitionsEnumerated}");

        // An impossible T_max costs few calibrations too.
        var impossible = problem.WithSettings(problem.Settings with { LatencyBudgetSeconds = 1e-9 });
        var counting = new HashedBits(7);
        Assert.Throws<PlanInfeasibleException>(() => new CoachPlanner().Plan(impossible, counting));
        Assert.True(counting.Calls < plan.PartitionsEnumerated / 2, $"{counting.Calls} calibrations for an impossible T_max");
    }

    [Fact]
    public void DadsLightLoadLatencyEqualsBruteForceLatencyOptimum()
    {
        for (int seed = 0; seed < Seeds; seed++)
        {
            var problem = RandomDags.Create(seed);
            var dads = new DadsPlanner(DadsLoad.Light).Plan(problem, new FixedBits(32));
            double best = BruteForcePlanner.MinimumSerialLatency(problem);
            Assert.True(BruteForcePlanner.IsDownwardClosed(problem, dads.OnEdge), $"seed {seed}: DADS cut not downward closed");
            Assert.True(Math.Abs(dads.Cost.SerialLatencySeconds - best) <= 1e-9 * best + 1e-12,
                $"seed {seed}: DADS {dads.Cost.SerialLatencySeconds * 1e3} ms vs optimum {best * 1e3} ms");
        }
    }

    [Fact]
    public void CoachThroughputIsAtLeastEveryUnquantizedBaselineOnRandomDags()
    {
        IPartitionPlanner[] baselines = [new EdgeOnlyPlanner(), new CloudOnlyPlanner(), new NeurosurgeonPlanner(), new DadsPlanner(DadsLoad.Light), new DadsPlanner(DadsLoad.Heavy), new JpsPlanner()];
        for (int seed = 0; seed < 60; seed++)
        {
            var problem = RandomDags.Create(seed);
            var coach = new CoachPlanner().Plan(problem, new HashedBits(seed));
            foreach (var b in baselines)
            {
                var plan = b.Plan(problem, new FixedBits(32));
                Assert.True(coach.Cost.ThroughputPerSecond >= plan.Cost.ThroughputPerSecond * (1 - 1e-12), $"seed {seed}: {b.Method} beats COACH");
            }
        }
    }

    [Fact]
    public void ImpossibleLatencyBudgetNamesTheBestAchievableLatency()
    {
        var problem = RandomDags.Create(3);
        problem = problem.WithSettings(problem.Settings with { LatencyBudgetSeconds = 1e-9 });
        var e = Assert.Throws<PlanInfeasibleException>(() => new CoachPlanner().Plan(problem, new HashedBits(3)));
        Assert.Contains("lowest latency any partition reaches", e.Message);
        var chooser = new BitChooser(problem, new HashedBits(3));
        var bestLatency = BruteForcePlanner.AllIdeals(problem).Min(i =>
        {
            var cut = PipelineCostModel.CutTensors(problem, i);
            return PipelineCostModel.Evaluate(problem, i, cut, chooser.MinimumBits(cut)).LatencySeconds;
        });
        Assert.Equal(bestLatency, e.BestLatencySeconds, 12);
    }

    [Fact]
    public void RaisedBitsNeverLengthenTheBottleneck()
    {
        for (int seed = 0; seed < 60; seed++)
        {
            var problem = RandomDags.Create(seed);
            var plan = new CoachPlanner().Plan(problem, new HashedBits(seed));
            if (plan.MinimumBits is null || plan.CutTensors.Length == 0)
            {
                continue;
            }
            var atMinimum = PipelineCostModel.Evaluate(problem, plan.OnEdge, plan.CutTensors, plan.MinimumBits);
            Assert.Equal(atMinimum.BottleneckSeconds, plan.Cost.BottleneckSeconds, 12);
            Assert.True(plan.Bits[0] >= plan.MinimumBits[0]);
            Assert.True(plan.Cost.TransmissionBubbleSeconds <= atMinimum.TransmissionBubbleSeconds + 1e-12 || plan.Bits[0] == plan.MinimumBits[0]);
        }
    }

    private static string Key(bool[] onEdge) => new([.. onEdge.Select(b => b ? '1' : '0')]);
}
