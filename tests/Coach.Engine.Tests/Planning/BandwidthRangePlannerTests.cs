using Coach.Engine.Planning;

namespace Coach.Engine.Tests.Planning;

public class BandwidthRangePlannerTests
{
    private static readonly double[] Rates = [20e6, 10e6, 5e6];

    /// <summary>Mean predicted throughput of a partition over the rates, with the bits it gets at each.</summary>
    private static double MeanThroughput(PlanningProblem problem, bool[] onEdge, ICutBitsProvider bits) => Rates.Average(rate =>
        new BitChooser(problem.WithSettings(problem.Settings with { BandwidthBitsPerSecond = rate }), bits).Choose("coach", onEdge, out _)?.Cost.ThroughputPerSecond ?? 0);

    [Fact]
    public void ChoosesTheSingleRateOptimumWithTheHighestMeanThroughputAndBitsForTheNominalRate()
    {
        int differed = 0;
        for (int seed = 0; seed < 120; seed++)
        {
            var problem = RandomDags.Create(seed, settings: new CostSettings { BandwidthBitsPerSecond = Rates[0], FrameOverheadSeconds = 2e-4 });
            var bits = new HashedBits(seed);
            var range = new BandwidthRangePlanner(new CoachPlanner(), Rates).Plan(problem, bits);
            double chosen = MeanThroughput(problem, range.OnEdge, bits);
            foreach (var rate in Rates)
            {
                var single = new CoachPlanner().Plan(problem.WithSettings(problem.Settings with { BandwidthBitsPerSecond = rate }), bits);
                Assert.True(chosen >= MeanThroughput(problem, single.OnEdge, bits) * (1 - 1e-9), $"seed {seed}: the {rate / 1e6} Mbit/s optimum has a higher mean throughput than the range plan");
            }

            // The bits are those the nominal rate's eq. 11 gives that partition.
            var atNominal = new BitChooser(problem, bits).Choose("coach", range.OnEdge, out _);
            Assert.NotNull(atNominal);
            Assert.Equal(atNominal.Bits, range.Bits);
            Assert.Equal(atNominal.Cost.BottleneckSeconds, range.Cost.BottleneckSeconds, 12);
            Assert.Contains("planned for 20 Mbit/s, 10 Mbit/s, 5 Mbit/s", range.Note, StringComparison.Ordinal);
            var nominal = new CoachPlanner().Plan(problem, bits);
            if (!nominal.OnEdge.AsSpan().SequenceEqual(range.OnEdge))
            {
                differed++;
                Assert.True(chosen > MeanThroughput(problem, nominal.OnEdge, bits), $"seed {seed}: a different partition was chosen without a higher mean");
            }
        }

        // The random DAGs must exercise the case the planner exists for.
        Assert.True(differed > 0, "no random DAG had a range plan other than its nominal-rate plan");
    }

    [Fact]
    public void KeepsAChainPipelineFullWhenTheLinkHalvesWhereTheSingleRatePlanDoesNot()
    {
        // input → a → b → c → logits, shaped like the bundled ResNet's stem and first blocks on an 8x slower edge: cutting
        // after a is cheapest on the edge (3.0 ms) but needs 5 bits (7.8 KB: 3.1 ms at 20 Mbit/s, 6.3 ms at 10); after b the
        // same-sized tensor is safe at 3 bits (4.7 KB: 1.9 ms, 3.8 ms) for 0.7 ms more edge time.
        var tensors = new List<PlanTensor>
        {
            new("input", -1, [0], 3 * 112 * 112, 1, [1, 3, 112, 112]),
            new("a", 0, [1], 16 * 28 * 28, 1, [1, 16, 28, 28]),
            new("b", 1, [2], 16 * 28 * 28, 1, [1, 16, 28, 28]),
            new("c", 2, [3], 32 * 14 * 14, 1, [1, 32, 14, 14]),
            new("logits", 3, [], 10, 1, [1, 10]),
        };
        double[] edge = [3.0e-3, 0.7e-3, 2.0e-3, 0.1e-3];
        double[] cloud = [0.3e-3, 0.07e-3, 0.2e-3, 0.01e-3];
        var problem = new PlanningProblem(["a", "b", "c", "fc"], edge, cloud, tensors, new CostSettings { BandwidthBitsPerSecond = 20e6, FrameOverheadSeconds = 0 });
        var bits = new PerTensorBits(new Dictionary<string, int> { ["input"] = 8, ["a"] = 5, ["b"] = 3, ["c"] = 2, ["logits"] = 2 });

        var single = new CoachPlanner().Plan(problem, bits);
        var range = new BandwidthRangePlanner(new CoachPlanner(), Rates).Plan(problem, bits);
        Assert.Equal(["a"], single.CutTensors.Select(k => tensors[k].Name));
        Assert.Equal(["b"], range.CutTensors.Select(k => tensors[k].Name));

        double Throughput(PartitionPlan plan, double rate) =>
            new BitChooser(problem.WithSettings(problem.Settings with { BandwidthBitsPerSecond = rate }), bits).Choose("coach", plan.OnEdge, out _)!.Cost.ThroughputPerSecond;
        Assert.True(Throughput(single, 10e6) / Throughput(single, 20e6) < 0.6, "the single-rate plan is transmission-bound once the link halves");
        Assert.True(Throughput(range, 10e6) / Throughput(range, 20e6) > 0.95, "the range plan keeps its throughput at 10 Mbit/s");
    }

    [Fact]
    public void RefusesAnEmptyOrNonPositiveRateList()
    {
        Assert.Throws<ArgumentException>(() => new BandwidthRangePlanner(new CoachPlanner(), []));
        Assert.Throws<ArgumentException>(() => new BandwidthRangePlanner(new CoachPlanner(), [10e6, 0]));
        Assert.Throws<ArgumentException>(() => new BandwidthRangePlanner(new CoachPlanner(), [double.NaN]));
    }

    private sealed class PerTensorBits(Dictionary<string, int> bits) : ICutBitsProvider
    {
        public int MinimumBits(PlanningProblem problem, IReadOnlyList<int> cutTensors) => cutTensors.Max(k => bits[problem.Tensors[k].Name]);
    }
}
