using Coach.Engine.Planning;
using Coach.Engine.Planning.MultiStage;

namespace Coach.Engine.Tests.Planning.MultiStage;

/// <summary>Hand-built chains whose best plan is known: device order, memory budgets, refusals, lazy calibration.</summary>
public class DeviceChainScenarioTests
{
    private const double TenMbit = 10e6;

    /// <summary>
    /// A six-layer chain over a 3 MB frame: three heavy layers (10 ms each on the reference device) that keep large
    /// values (1 M floats), then a small value and three light layers (1 ms). Sending the frame or a large value costs
    /// seconds at 10 Mbit/s, so the first device must run the heavy layers.
    /// </summary>
    private static PlanningProblem HeavyFrontChain()
    {
        long[] elements = [3_000_000, 1_000_000, 1_000_000, 1_000, 1_000, 1_000, 10];
        var tensors = new List<PlanTensor>();
        for (int k = 0; k < elements.Length; k++)
        {
            int[] consumers = k < 6 ? [k] : [];
            tensors.Add(new PlanTensor($"t{k}", k - 1, consumers, elements[k], 1, [elements[k]]));
        }
        double[] reference = [10e-3, 10e-3, 10e-3, 1e-3, 1e-3, 1e-3];
        return new PlanningProblem([.. Enumerable.Range(0, 6).Select(i => $"layer{i}")], reference, [.. reference.Select(t => t / 10)], tensors,
            new CostSettings { BandwidthBitsPerSecond = TenMbit });
    }

    private static PipelineDevice Device(string name, PlanningProblem problem, double slowdown, long? memory = null) =>
        new(name, [.. problem.EdgeSeconds.Select(t => t * slowdown)], memory, new DeviceLink(TenMbit));

    [Fact]
    public void FreeOrderPutsTheFasterDeviceFirstWhenTheFirstStageIsTheHeavyOne()
    {
        var problem = HeavyFrontChain();
        var slow = Device("slow", problem, 4);
        var fast = Device("fast", problem, 1);
        var cloud = new PipelineDevice("cloud", problem.CloudSeconds);
        var memory = LayerMemory.None(problem.NodeCount);
        var fixedOrder = new MultiStagePlanner().Plan(problem, new DeviceChain([slow, fast], cloud), memory, new FixedBits(8));
        var freeOrder = new MultiStagePlanner().Plan(problem, new DeviceChain([slow, fast], cloud, OrderIsFree: true), memory, new FixedBits(8));

        Assert.Equal(["slow", "fast", "cloud"], fixedOrder.DeviceOrder);
        Assert.Equal(["fast", "slow", "cloud"], freeOrder.DeviceOrder);
        Assert.Equal(2, freeOrder.OrdersTried);
        // Fast first: the heavy layers take 30 ms there instead of 120 ms on the slow device.
        Assert.Equal(30e-3, freeOrder.BottleneckSeconds, 9);
        Assert.True(fixedOrder.BottleneckSeconds >= 120e-3 - 1e-12, $"fixed order bottleneck {fixedOrder.BottleneckSeconds}");
        Assert.Equal([0, 1, 2], freeOrder.Stages[0].Layers);
    }

    [Fact]
    public void EvenSplitSharesTheLayersByCountWhateverTheyCost()
    {
        var problem = HeavyFrontChain();
        var chain = new DeviceChain([Device("a", problem, 1), Device("b", problem, 1)], new PipelineDevice("cloud", problem.CloudSeconds));
        var memory = LayerMemory.None(problem.NodeCount);
        var even = new MultiStagePlanner().PlanEvenSplit(problem, chain, memory, new FixedBits(8));
        var searched = new MultiStagePlanner().Plan(problem, chain, memory, new FixedBits(8));

        Assert.Equal([0, 1], even.Stages[0].Layers);
        Assert.Equal([2, 3], even.Stages[1].Layers);
        Assert.Equal([4, 5], even.Stages[2].Layers);
        // Its first link carries a 1 M-float value at 10 Mbit/s: the planner's split keeps the heavy layers together instead.
        Assert.True(even.Stages[0].Transfer!.Seconds > 0.5, $"first link {even.Stages[0].Transfer!.Seconds} s");
        Assert.True(even.BottleneckSeconds > 10 * searched.BottleneckSeconds, $"even {even.BottleneckSeconds} s, searched {searched.BottleneckSeconds} s");
    }

    [Fact]
    public void EvenSplitOfRandomGraphsIsNoBetterThanThePlannersAndCoversEveryLayerOnce()
    {
        int checkedPlans = 0, refused = 0;
        for (int seed = 0; seed < 40; seed++)
        {
            var (problem, random, _) = MultiStagePlannerTests.RandomChain(seed, edgeDevices: 2, maxLayers: 12);
            if (problem.NodeCount < 3)
            {
                continue;
            }
            // Neither split is bounded by memory or latency here: the bottlenecks compare the splits alone.
            var chain = new DeviceChain([.. random.EdgeDevices.Select(d => d with { MemoryBudgetBytes = null })], random.Cloud with { MemoryBudgetBytes = null });
            var memory = LayerMemory.None(problem.NodeCount);
            MultiStagePlan even;
            try
            {
                even = new MultiStagePlanner().PlanEvenSplit(problem, chain, memory, new FixedBits(6));
            }
            catch (PlanInfeasibleException)
            {
                // A graph whose deployable cuts leave no three non-empty nested stages: refused with the reason.
                refused++;
                continue;
            }
            checkedPlans++;
            var searched = new MultiStagePlanner().Plan(problem, chain, memory, new FixedBits(6));
            Assert.True(even.BottleneckSeconds >= searched.BottleneckSeconds - 1e-12, $"seed {seed}: even {even.BottleneckSeconds}, searched {searched.BottleneckSeconds}");
            Assert.All(even.Stages, s => Assert.NotEmpty(s.Layers));
            Assert.Equal(Enumerable.Range(0, problem.NodeCount), even.Stages.SelectMany(s => s.Layers).Order());
        }
        Assert.True(checkedPlans >= 25, $"{checkedPlans} even splits formed, {refused} refused");
    }

    [Fact]
    public void FreeOrderKeepsTheOrderGivenWhenNoOtherIsBetter()
    {
        var problem = HeavyFrontChain();
        var chain = new DeviceChain([Device("a", problem, 1), Device("b", problem, 1)], new PipelineDevice("cloud", problem.CloudSeconds), OrderIsFree: true);
        var plan = new MultiStagePlanner().Plan(problem, chain, LayerMemory.None(problem.NodeCount), new FixedBits(8));
        Assert.Equal(["a", "b", "cloud"], plan.DeviceOrder);
    }

    [Fact]
    public void AValueReadTwoStagesLaterCrossesBothLinks()
    {
        // frame → layer0 → layer1 → layer2, and layer2 reads the frame again (a skip from the model input).
        PlanTensor[] tensors =
        [
            new("frame", -1, [0, 2], 1_000, 1, [1_000]),
            new("t0", 0, [1], 1_000, 1, [1_000]),
            new("t1", 1, [2], 1_000, 1, [1_000]),
            new("logits", 2, [], 10, 1, [10]),
        ];
        var problem = new PlanningProblem(["layer0", "layer1", "layer2"], [1e-3, 1e-3, 1e-3], [1e-3, 1e-3, 1e-3], tensors, new CostSettings { BandwidthBitsPerSecond = 1e9 });
        // Each device is fast on one layer only, so each layer gets its own stage.
        var chain = new DeviceChain(
            [new PipelineDevice("a", [1e-3, 0.1, 0.1], null, new DeviceLink(1e9)), new PipelineDevice("b", [0.1, 1e-3, 0.1], null, new DeviceLink(1e9))],
            new PipelineDevice("cloud", [0.1, 0.1, 1e-3]));
        var plan = new MultiStagePlanner().Plan(problem, chain, LayerMemory.None(3), new FixedBits(8));
        Assert.Equal([[0], [1], [2]], plan.Stages.Select(s => s.Layers));
        Assert.Equal([0, 1], plan.Stages[0].Transfer!.CutTensors); // the frame and t0
        Assert.Equal([0, 2], plan.Stages[1].Transfer!.CutTensors); // the frame again, relayed by 'b', and t1
        // 'b' holds what it receives (the frame it relays and t0) and what it produces (t1), as float32.
        Assert.Equal((1_000 + 1_000 + 1_000) * 4, plan.Stages[1].ActivationBytes);
    }

    [Fact]
    public void MemoryBudgetMovesLayersToTheNextDevice()
    {
        var problem = HeavyFrontChain();
        // 40 MB of weights on each heavy layer, 1 MB on each light one.
        var memory = new LayerMemory([40_000_000, 40_000_000, 40_000_000, 1_000_000, 1_000_000, 1_000_000]);
        var cloud = new PipelineDevice("cloud", problem.CloudSeconds);
        var unbounded = new MultiStagePlanner().Plan(problem, new DeviceChain([Device("a", problem, 1), Device("b", problem, 1)], cloud), memory, new FixedBits(8));
        Assert.True(unbounded.Stages[0].Layers.Length >= 3);

        // 'a' holds at most two heavy layers with their values (2 × 40 MB + frame and activations ≈ 100 MB): the third goes to 'b'.
        // 'b' is the slower device, so of the splits whose link carries one large value 'a' keeps the most layers.
        const long Budget = 110_000_000;
        var bounded = new MultiStagePlanner().Plan(problem, new DeviceChain([Device("a", problem, 1, Budget), Device("b", problem, 2, Budget)], cloud), memory, new FixedBits(8));
        Assert.All(bounded.Stages.Take(2), s => Assert.True(s.MemoryBytes <= Budget, $"{s.Device}: {s.MemoryBytes} bytes"));
        Assert.Equal([0, 1], bounded.Stages[0].Layers);
        Assert.Contains(2, bounded.Stages[1].Layers);
        Assert.True(bounded.BottleneckSeconds > unbounded.BottleneckSeconds, "a binding budget costs throughput here");
    }

    [Fact]
    public void WeightsLargerThanEveryBudgetAreRefusedWithTheirSize()
    {
        var problem = HeavyFrontChain();
        var memory = new LayerMemory([40_000_000, 40_000_000, 40_000_000, 1_000_000, 1_000_000, 1_000_000]);
        var chain = new DeviceChain([Device("a", problem, 1, 30_000_000), Device("b", problem, 1, 30_000_000)], new PipelineDevice("cloud", problem.CloudSeconds, 30_000_000));
        var e = Assert.Throws<MemoryBudgetException>(() => new MultiStagePlanner().Plan(problem, chain, memory, new FixedBits(8)));
        Assert.Contains("the model's weights 123 MB exceed every device's budget", e.Message);
        Assert.Contains("'a' 30 MB", e.Message);
    }

    [Fact]
    public void ALayerLargerThanTheLargestBudgetIsNamed()
    {
        var problem = HeavyFrontChain();
        var memory = new LayerMemory([1_000_000, 90_000_000, 1_000_000, 1_000_000, 1_000_000, 1_000_000]);
        var chain = new DeviceChain([Device("a", problem, 1, 60_000_000), Device("b", problem, 1, 60_000_000)], new PipelineDevice("cloud", problem.CloudSeconds, 60_000_000));
        var e = Assert.Throws<MemoryBudgetException>(() => new MultiStagePlanner().Plan(problem, chain, memory, new FixedBits(8)));
        Assert.Contains("layer 'layer1' alone needs", e.Message);
    }

    [Fact]
    public void AnUnreachableLatencyBudgetIsRefusedWithTheLowestLatency()
    {
        var problem = HeavyFrontChain();
        var chain = new DeviceChain([Device("a", problem, 1)], new PipelineDevice("cloud", problem.CloudSeconds), LatencyBudgetSeconds: 10e-3);
        var e = Assert.Throws<PlanInfeasibleException>(() => new MultiStagePlanner().Plan(problem, chain, LayerMemory.None(problem.NodeCount), new FixedBits(8)));
        Assert.True(e.BestLatencySeconds > 30e-3, $"{e.BestLatencySeconds}");
        Assert.Contains("latency budget of 10.000 ms", e.Message);
    }

    [Fact]
    public void CalibrationIsAskedOnlyForTheCutsTheSearchCouldChoose()
    {
        var problem = SyntheticNetworks.ResNet(new CostSettings { BandwidthBitsPerSecond = 20e6 }, [2, 2, 2, 2]);
        var chain = new DeviceChain(
            [new PipelineDevice("jetson", [.. problem.EdgeSeconds], null, new DeviceLink(50e6)), new PipelineDevice("gateway", [.. problem.EdgeSeconds.Select(t => t / 4)], null, new DeviceLink(20e6))],
            new PipelineDevice("cloud", problem.CloudSeconds));
        var bits = new HashedBits(3);
        var plan = new MultiStagePlanner().Plan(problem, chain, LayerMemory.None(problem.NodeCount), bits);
        Assert.True(plan.CutsCalibrated < plan.Ideals / 2, $"{plan.CutsCalibrated} of {plan.Ideals} cuts calibrated");
        Assert.True(bits.Calls <= plan.CutsCalibrated, $"{bits.Calls} calls for {plan.CutsCalibrated} cuts");
        Assert.True(plan.PlannerMilliseconds > 0);
    }
}

/// <summary>The search on a paper-scale graph: the work it reports, counted independently.</summary>
public class PaperScaleMultiStageTests(ITestOutputHelper output)
{
    [Fact]
    public void ResNet101OnThreeEdgeDevicesCountsEveryNestedPairOfItsIdeals()
    {
        var problem = SyntheticNetworks.ResNet(new CostSettings { BandwidthBitsPerSecond = 50e6 });
        var ideals = new List<bool[]>();
        var onEdge = new bool[problem.NodeCount];
        IdealDecomposition.Build(problem).Enumerate(onEdge, () => ideals.Add((bool[])onEdge.Clone()));
        long pairs = ideals.Sum(outer => ideals.Count(inner => inner.Select((x, v) => !x || outer[v]).All(ok => ok)));
        var devices = new[] { 1.0, 0.5, 2.0 }.Select((factor, d) =>
            new PipelineDevice($"edge-{d}", [.. problem.EdgeSeconds.Select(t => t * factor)], null, new DeviceLink(d == 2 ? 20e6 : 200e6))).ToList();
        var plan = new MultiStagePlanner().Plan(problem, new DeviceChain(devices, new PipelineDevice("cloud", problem.CloudSeconds)), LayerMemory.None(problem.NodeCount), new FixedBits(6));
        output.WriteLine($"{plan.Ideals} ideals, {plan.NestedPairs} nested pairs, {plan.CutsCalibrated} cuts calibrated, {plan.PlannerMilliseconds:F1} ms; layers per stage {string.Join(" / ", plan.Stages.Select(s => s.Layers.Length))}, {plan.ThroughputPerSecond:F1} frames/s");
        Assert.Equal(ideals.Count, plan.Ideals);
        Assert.Equal(pairs, plan.NestedPairs);
        MultiStagePlannerTests.AssertStagesAreNestedIdealsWithinBudgets(problem, new DeviceChain(devices, new PipelineDevice("cloud", problem.CloudSeconds)), LayerMemory.None(problem.NodeCount), plan);
    }
}
