using Coach.Engine.Planning;
using Coach.Engine.Planning.MultiStage;

namespace Coach.Engine.Tests.Planning.MultiStage;

public class MultiStagePlannerTests(ITestOutputHelper output)
{
    /// <summary>A random DAG on a chain of <paramref name="edgeDevices"/> heterogeneous devices, with weights and, for some seeds, budgets.</summary>
    internal static (PlanningProblem Problem, DeviceChain Chain, LayerMemory Memory) RandomChain(int seed, int edgeDevices, int maxLayers)
    {
        var problem = RandomDags.Create(seed, maxLayers);
        var random = new Random(seed * 7 + 1);
        int n = problem.NodeCount;
        var memory = new LayerMemory([.. Enumerable.Range(0, n).Select(_ => (long)random.Next(0, 100_000))]);
        long everything = memory.TotalWeightBytes + problem.Tensors.Sum(t => t.RawBytes);
        bool budgets = random.Next(0, 3) == 0;
        long? Budget() => budgets ? (long)(everything * (0.15 + 0.8 * random.NextDouble())) : null;
        var devices = new List<PipelineDevice>();
        for (int d = 0; d < edgeDevices; d++)
        {
            double factor = 0.3 + 3 * random.NextDouble();
            var times = problem.EdgeSeconds.Select(t => t * factor * (0.5 + random.NextDouble())).ToArray();
            var link = new DeviceLink(random.Next(1, 100) * 1e6, random.NextDouble() * 1e-3, random.Next(0, 3) * 500);
            devices.Add(new PipelineDevice($"device{d}", times, Budget(), link, random.Next(0, 3) == 0 ? random.NextDouble() * 5e-4 : 0));
        }
        var cloud = new PipelineDevice("cloud", problem.CloudSeconds, random.Next(0, 2) == 0 ? Budget() : null);
        double? latencyBudget = random.Next(0, 4) == 0 ? problem.EdgeSeconds.Sum() * (0.3 + random.NextDouble()) : null;
        return (problem, new DeviceChain(devices, cloud, false, latencyBudget), memory);
    }

    [Theory]
    [InlineData(2, 10, 120)]
    [InlineData(3, 9, 40)]
    public void PlanEqualsBruteForceOverAllChainsOfIdeals(int edgeDevices, int maxLayers, int seeds)
    {
        int planned = 0;
        int refused = 0;
        for (int seed = 1; seed <= seeds; seed++)
        {
            var (problem, chain, memory) = RandomChain(seed, edgeDevices, maxLayers);
            var reference = BruteForceStageChains.Best(problem, chain, memory, new HashedBits(seed));
            if (reference is null)
            {
                refused++;
                bool fitsWithoutLatencyBudget = BruteForceStageChains.Best(problem, chain with { LatencyBudgetSeconds = null }, memory, new HashedBits(seed)) is not null;
                var e = Assert.ThrowsAny<Exception>(() => new MultiStagePlanner().Plan(problem, chain, memory, new HashedBits(seed)));
                Assert.IsType(fitsWithoutLatencyBudget ? typeof(PlanInfeasibleException) : typeof(MemoryBudgetException), e);
                continue;
            }
            planned++;
            var plan = new MultiStagePlanner().Plan(problem, chain, memory, new HashedBits(seed));
            double tolerance = 1e-9 * reference.Bottleneck;
            Assert.True(Math.Abs(plan.BottleneckSeconds - reference.Bottleneck) <= tolerance,
                $"seed {seed}: bottleneck {plan.BottleneckSeconds} against the brute force's {reference.Bottleneck}");
            double serial = BruteForceStageChains.SerialLatencyAtMinimumBits(plan, problem, chain);
            Assert.True(Math.Abs(serial - reference.SerialLatency) <= 1e-9 * reference.SerialLatency,
                $"seed {seed}: serial latency {serial} against the brute force's {reference.SerialLatency}");
            AssertStagesAreNestedIdealsWithinBudgets(problem, chain, memory, plan);
        }
        output.WriteLine($"{planned} planned, {refused} refused by the budgets");
        Assert.True(planned >= seeds / 2 && refused > 0, $"{planned} planned, {refused} refused: the seeds should exercise both");
    }

    internal static void AssertStagesAreNestedIdealsWithinBudgets(PlanningProblem problem, DeviceChain chain, LayerMemory memory, MultiStagePlan plan)
    {
        Assert.Equal(chain.StageCount, plan.Stages.Count);
        var previous = new bool[problem.NodeCount];
        var seen = new HashSet<int>();
        foreach (var stage in plan.Stages)
        {
            Assert.True(BruteForcePlanner.IsDownwardClosed(problem, stage.IdealThroughHere));
            Assert.All(Enumerable.Range(0, problem.NodeCount), v => Assert.True(!previous[v] || stage.IdealThroughHere[v]));
            Assert.All(stage.Layers, v => Assert.True(seen.Add(v) && stage.IdealThroughHere[v] && !previous[v]));
            long bytes = BruteForceStageChains.StageMemory(problem, memory, previous, stage.IdealThroughHere);
            Assert.Equal(bytes, stage.MemoryBytes);
            Assert.True(stage.MemoryBudgetBytes is not { } budget || bytes <= budget, $"stage on {stage.Device} takes {bytes} bytes over its budget {stage.MemoryBudgetBytes}");
            if (stage.Transfer is { } t)
            {
                Assert.Equal(PipelineCostModel.CutTensors(problem, stage.IdealThroughHere), t.CutTensors);
                Assert.True(t.Seconds <= plan.BottleneckSeconds * (1 + 1e-12));
                Assert.All(Enumerable.Range(0, t.Bits.Length), i => Assert.True(t.Bits[i] >= t.MinimumBits[i]));
            }
            previous = stage.IdealThroughHere;
        }
        Assert.Equal(problem.NodeCount, seen.Count);
        if (chain.LatencyBudgetSeconds is { } limit)
        {
            Assert.True(plan.SerialLatencySeconds <= limit * (1 + 1e-12), $"serial latency {plan.SerialLatencySeconds} over the budget {limit}");
        }
    }

    [Fact]
    public void WithOneEdgeAndTheCloudThePlanIsCoachsPartitionAndBits()
    {
        int same = 0;
        const int Seeds = 150;
        for (int seed = 1; seed <= Seeds; seed++)
        {
            var problem = RandomDags.Create(seed, 14);
            var coach = new CoachPlanner().Plan(problem, new HashedBits(seed));
            var chain = DeviceChain.EdgeAndCloud(problem);
            var plan = new MultiStagePlanner().Plan(problem, chain, LayerMemory.None(problem.NodeCount), new HashedBits(seed));
            Assert.True(Math.Abs(plan.BottleneckSeconds - coach.Cost.BottleneckSeconds) <= 1e-9 * coach.Cost.BottleneckSeconds,
                $"seed {seed}: bottleneck {plan.BottleneckSeconds} against COACH's {coach.Cost.BottleneckSeconds}");
            var edge = plan.Stages[0];
            if (edge.IdealThroughHere.SequenceEqual(coach.OnEdge))
            {
                same++;
                Assert.Equal(coach.CutTensors, edge.Transfer!.CutTensors);
                Assert.Equal(coach.Bits, edge.Transfer.Bits);
                Assert.Equal(coach.MinimumBits, edge.Transfer.MinimumBits);
                Assert.Equal(coach.Cost.TransmissionSeconds, edge.Transfer.Seconds, 12);
            }
            else
            {
                // A tie on the bottleneck: COACH breaks it by bubbles (eq. 5), the multi-stage plan by serial latency.
                var coachSerial = PipelineCostModel.Evaluate(problem, coach.OnEdge, coach.CutTensors, coach.MinimumBits!).SerialLatencySeconds;
                Assert.True(BruteForceStageChains.SerialLatencyAtMinimumBits(plan, problem, chain) <= coachSerial * (1 + 1e-12), $"seed {seed}");
            }
        }
        output.WriteLine($"{same} of {Seeds} plans chose COACH's partition; the others tie on the bottleneck");
        Assert.True(same >= Seeds * 3 / 4, $"only {same} of {Seeds} plans chose COACH's partition");
    }
}

public class DeviceChainValidationTests
{
    private static readonly PlanningProblem Problem = RandomDags.Create(5, 8);

    private static PipelineDevice Edge(string name, DeviceLink? link = null) =>
        new(name, Problem.EdgeSeconds, null, link ?? new DeviceLink(10e6));

    private static string Refusal(DeviceChain chain) =>
        Assert.Throws<ArgumentException>(() => new MultiStagePlanner().Plan(Problem, chain, LayerMemory.None(Problem.NodeCount), new FixedBits(8))).Message;

    private static PipelineDevice Cloud => new("cloud", Problem.CloudSeconds);

    [Fact]
    public void AChainWithoutEdgeDevicesIsRefused() =>
        Assert.Contains("no edge device", Refusal(new DeviceChain([], Cloud)));

    [Fact]
    public void AnEdgeDeviceWithoutALinkIsRefusedByName() =>
        Assert.Contains("edge device 'b' needs a link", Refusal(new DeviceChain([Edge("a"), new PipelineDevice("b", Problem.EdgeSeconds)], Cloud)));

    [Fact]
    public void LayerTimesOfAnotherModelAreRefused() =>
        Assert.Contains("device 'a' has 3 layer times", Refusal(new DeviceChain([new PipelineDevice("a", [1, 2, 3], null, new DeviceLink(1e6))], Cloud)));

    [Fact]
    public void DuplicateDeviceNamesAreRefused() =>
        Assert.Contains("names must be distinct", Refusal(new DeviceChain([Edge("a"), Edge("a")], Cloud)));

    [Fact]
    public void AFreeOrderOfMoreThanFiveDevicesIsRefused() =>
        Assert.Contains("6! orders", Refusal(new DeviceChain([.. Enumerable.Range(0, 6).Select(i => Edge($"d{i}"))], Cloud, OrderIsFree: true)));
}
