using Coach.Engine.Calibration;
using Coach.Engine.Data;
using Coach.Engine.Graph;
using Coach.Engine.Planning;
using Coach.Engine.Planning.MultiStage;
using Coach.Engine.Profiling;

namespace Coach.Engine.Tests.Planning.MultiStage;

/// <summary>The bundled models with their committed profiles (docs/planner.md §9): the edge 8× slower, 10 Mbit/s.</summary>
public class BundledModelMultiStageTests(ITestOutputHelper output)
{
    [Theory]
    [MemberData(nameof(BundledModelPlanTests.Models), MemberType = typeof(BundledModelPlanTests))]
    public void OneEdgeAndTheCloudGiveCoachsCutAndBits(string name)
    {
        var (graph, problem, bits) = Load(name);
        var coach = new CoachPlanner().Plan(problem, bits);
        var plan = new MultiStagePlanner().Plan(problem, DeviceChain.EdgeAndCloud(problem), LayerMemory.FromGraph(graph), bits);
        var edge = plan.Stages[0];
        output.WriteLine($"{name}: cut [{string.Join(", ", edge.Transfer!.CutTensors.Select(k => problem.Tensors[k].Name))}] at [{string.Join(",", edge.Transfer.Bits)}] bits, {plan.ThroughputPerSecond:F1} frames/s; {plan.Ideals} ideals, {plan.CutsCalibrated} cuts calibrated, {plan.PlannerMilliseconds:F1} ms");
        Assert.Equal(coach.OnEdge, edge.IdealThroughHere);
        Assert.Equal(coach.CutTensors, edge.Transfer.CutTensors);
        Assert.Equal(coach.Bits, edge.Transfer.Bits);
        Assert.Equal(coach.Cost.BottleneckSeconds, plan.BottleneckSeconds, 12);
    }

    [Theory]
    [MemberData(nameof(BundledModelPlanTests.Models), MemberType = typeof(BundledModelPlanTests))]
    public void ASecondEdgeDeviceRaisesThroughputAndEveryStageKeepsItsWeights(string name)
    {
        var (graph, problem, bits) = Load(name);
        var memory = LayerMemory.FromGraph(graph);
        var twoStage = new MultiStagePlanner().Plan(problem, DeviceChain.EdgeAndCloud(problem), memory, bits);
        var first = DeviceChain.EdgeAndCloud(problem).EdgeDevices[0];
        // A second device of the same speed, on a fast local link, between the edge and the 10 Mbit/s uplink.
        var chain = new DeviceChain(
            [first with { Name = "edge-1", Uplink = new DeviceLink(1e9) }, first with { Name = "edge-2" }],
            new PipelineDevice("cloud", problem.CloudSeconds));
        var plan = new MultiStagePlanner().Plan(problem, chain, memory, bits);
        output.WriteLine($"{name}: {twoStage.ThroughputPerSecond:F1} frames/s on one edge, {plan.ThroughputPerSecond:F1} on two; layers per stage {string.Join(" / ", plan.Stages.Select(s => s.Layers.Length))}");
        Assert.True(plan.ThroughputPerSecond > twoStage.ThroughputPerSecond * 1.05, "a second edge device should take part of the edge's work");
        Assert.Equal(memory.TotalWeightBytes, plan.Stages.Sum(s => s.WeightBytes));
        Assert.True(memory.TotalWeightBytes > 0);
    }

    private static (LayerGraph Graph, PlanningProblem Problem, ICutBitsProvider Bits) Load(string name)
    {
        var path = Path.Combine(ModelCatalog.RepositoryRoot, "models", $"{name}.onnx");
        var graph = LayerGraph.Load(path);
        ShapeDiscovery.Complete(graph);
        var profile = LayerProfile.Load(BundledModelPlanTests.ProfilePath(name));
        Assert.True(profile.ModelSha256 == graph.Sha256, $"the committed profile of {name} belongs to another export");
        var problem = PlanningProblem.FromGraph(graph, profile, profile, new CostSettings { BandwidthBitsPerSecond = BundledModelPlanTests.TenMbit }, BundledModelPlanTests.EdgeSlowdown);
        return (graph, problem, new CommittedBits(CalibrationResults.TryLoad(BundledModelPlanTests.CalibrationPath(name))));
    }

    /// <summary>The committed calibration results; a cut they lack gets 8 bits (both planners ask the same provider).</summary>
    private sealed class CommittedBits(CalibrationResults? committed) : ICutBitsProvider
    {
        public int MinimumBits(PlanningProblem problem, IReadOnlyList<int> cutTensors) =>
            committed is not null && committed.Cuts.TryGetValue(CalibrationResults.Key(cutTensors.Select(k => problem.Tensors[k].Name)), out var c) ? c.Bits : 8;
    }
}
