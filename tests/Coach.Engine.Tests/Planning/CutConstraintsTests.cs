using Coach.Engine.Graph;
using Coach.Engine.Onnx.Proto;
using Coach.Engine.Planning;
using Coach.Engine.Tests.Graph;
using Coach.Engine.Tests.Splitting;
using Coach.Native.OnnxRuntime;

namespace Coach.Engine.Tests.Planning;

/// <summary>The deployment constraints on a cut (<see cref="CutConstraints"/>): float32 values only, at most MaxCutTensors tensors.</summary>
public class CutConstraintsTests
{
    /// <summary>
    /// conv → relu (x) → Shape(x) (int64) …; conv → relu → Reshape(·, Shape(x)) → GlobalAveragePool → Flatten → Gemm: the
    /// Shape value is read by a layer three steps later, so a partition can cut it.
    /// </summary>
    private static ModelProto ShapeReshapeModel()
    {
        var b = new TestModelBuilder(4);
        b.Input("frame", 1, 3, 8, 8);
        var x = b.Node("Relu", [b.Conv("frame", 3, 4, 3)]);
        var shape = b.Node("Shape", [x]);
        var y = b.Node("Relu", [b.Conv(x, 4, 4, 3)]);
        var reshaped = b.Node("Reshape", [y, shape]);
        var pooled = b.Node("GlobalAveragePool", [reshaped]);
        var flat = b.Node("Flatten", [pooled]);
        b.NodeTo("Gemm", [flat, b.Weight(5, 4), b.Weight(5)], "logits", ("transB", 1L));
        b.Output("logits", 1, 5);
        return b.Build();
    }

    [Fact]
    public void NonFloatValuesNeverCrossAndThePlannedSplitRunsThroughOnnxRuntime()
    {
        var model = ShapeReshapeModel();
        var graph = LayerGraph.FromModel(model);
        ShapeDiscovery.Complete(graph);
        int n = graph.Nodes.Count;
        int shapeLayer = graph.Nodes.ToList().FindIndex(node => node.OpType == "Shape");
        Assert.True(shapeLayer >= 0, "the Shape node is a layer");
        // The edge is nearly free up to the Shape layer and slow after it; the cloud costs 1 ms a layer and the link is fast:
        // without the constraint the best partition runs conv, relu and Shape on the edge and cuts the int64 shape.
        var te = Enumerable.Range(0, n).Select(i => i <= shapeLayer ? 1e-6 : 1e-1).ToArray();
        var tc = Enumerable.Repeat(1e-3, n).ToArray();
        var problem = PlanningProblem.FromGraph(graph, te, tc, new CostSettings { BandwidthBitsPerSecond = 1e10, FrameOverheadSeconds = 0 });
        int shapeValue = problem.Tensors.Select((t, k) => (t, k)).Single(p => p.t.Producer == shapeLayer).k;
        Assert.False(problem.Tensors[shapeValue].IsFloat);

        var chooser = new BitChooser(problem, new FixedBits(8));
        var unconstrained = BruteForcePlanner.AllIdeals(problem).Select(i => chooser.Choose("x", i, out _)!)
            .Aggregate((a, c) => PartitionCost.CompareObjective(c.Cost, a.Cost) < 0 ? c : a);
        Assert.Contains(shapeValue, unconstrained.CutTensors); // the constraint binds

        var bits = new FixedBits(8);
        var plans = new[] { new CoachPlanner().Plan(problem, bits), new DadsPlanner(DadsLoad.Light).Plan(problem, bits), new DadsPlanner(DadsLoad.Heavy).Plan(problem, bits),
            new JpsPlanner().Plan(problem, bits), new NeurosurgeonPlanner().Plan(problem, bits), new SpinnPlanner().Plan(problem, bits) };
        foreach (var plan in plans)
        {
            Assert.All(plan.CutTensors, k => Assert.True(problem.Tensors[k].IsFloat, $"{plan.Method} cuts {problem.Tensors[k].Name}"));
            Assert.Equal(CutViolation.None, CutConstraints.Check(problem, plan.CutTensors));
        }
        var coach = plans[0];
        var reference = new BruteForcePlanner().Plan(problem, bits);
        Assert.Equal(reference.Cost.BottleneckSeconds, coach.Cost.BottleneckSeconds, 12);
        Assert.True(coach.Cost.BottleneckSeconds > unconstrained.Cost.BottleneckSeconds, "the constrained plan pays for keeping the shape local");
        Assert.Contains(coach.CutTensors, k => problem.Tensors[k].Producer >= 0); // a real split, not cloud-only

        // The split at the chosen partition (ModelSplitter) gives the full model's logits through ONNX Runtime.
        var frame = DenseTensor.Create(TensorElementType.Float, [1, 3, 8, 8]);
        var random = new Random(1);
        var span = frame.AsSpan<float>();
        for (int i = 0; i < span.Length; i++)
        {
            span[i] = (float)random.NextDouble();
        }
        Assert.Equal(1, SplitHarness.AssertEveryPartitionMatches(model, [coach.OnEdge], [new NamedTensor("frame", frame)]));
    }

    /// <summary>
    /// input → stem → <paramref name="branches"/> parallel layers → concat. The edge runs the stem and branches almost for
    /// free and the concat slowly; the cloud is slow on branches: the cheapest partition cuts every branch output.
    /// </summary>
    private static PlanningProblem WideFan(int branches, CostSettings settings)
    {
        int n = branches + 2;
        var tensors = new List<PlanTensor>
        {
            new("frame", -1, [0], 3 * 32 * 32, 1, [1, 3, 32, 32]),
            new("stem", 0, [.. Enumerable.Range(1, branches)], 64 * 16 * 16, 1, [1, 64, 16, 16]),
        };
        for (int i = 1; i <= branches; i++)
        {
            tensors.Add(new PlanTensor($"branch{i}", i, [n - 1], 64, 1, [1, 64]));
        }
        tensors.Add(new PlanTensor("logits", n - 1, [], 10, 1, [1, 10]));
        var names = Enumerable.Range(0, n).Select(i => i == 0 ? "stem" : i == n - 1 ? "concat" : $"branch{i}").ToArray();
        var te = Enumerable.Range(0, n).Select(i => i == n - 1 ? 5e-2 : 1e-5).ToArray();
        var tc = Enumerable.Range(0, n).Select(i => i == 0 || i == n - 1 ? 1e-4 : 2e-3).ToArray();
        return new PlanningProblem(names, te, tc, tensors, settings);
    }

    [Fact]
    public void APartitionCuttingMoreTensorsThanARequestCarriesIsInfeasible()
    {
        const int branches = 18;
        var settings = new CostSettings { BandwidthBitsPerSecond = 1e9, FrameOverheadSeconds = 1e-5 };
        Assert.Equal(CutConstraints.MaxTensorsPerFrame, settings.MaxCutTensors);
        // One constant for both layers: the wire's default limit is the planner's.
        Assert.Equal(CutConstraints.MaxTensorsPerFrame, Coach.Transport.Protocol.WireLimits.Default.MaxTensorsPerFrame);
        var unlimited = WideFan(branches, settings with { MaxCutTensors = 100 });
        var cheapest = new CoachPlanner().Plan(unlimited, new FixedBits(8));
        Assert.Equal(branches, cheapest.CutTensors.Length); // every branch output crosses

        var limited = WideFan(branches, settings);
        var plan = new CoachPlanner().Plan(limited, new FixedBits(8));
        Assert.True(plan.CutTensors.Length <= CutConstraints.MaxTensorsPerFrame, $"{plan.CutTensors.Length} cut tensors");
        Assert.True(plan.Cost.BottleneckSeconds > cheapest.Cost.BottleneckSeconds);
        var reference = new BruteForcePlanner().Plan(limited, new FixedBits(8));
        Assert.Equal(reference.Cost.BottleneckSeconds, plan.Cost.BottleneckSeconds, 12);
        Assert.Equal(CutViolation.TooManyTensors, CutConstraints.Check(limited, cheapest.CutTensors));

        // A T_max only the 18-tensor cut meets: infeasible, and the message says the tensor limit bound.
        var tight = WideFan(branches, settings with { LatencyBudgetSeconds = cheapest.Cost.LatencySeconds * 1.001 });
        var e = Assert.Throws<PlanInfeasibleException>(() => new CoachPlanner().Plan(tight, new FixedBits(8)));
        Assert.Contains($"more than {CutConstraints.MaxTensorsPerFrame} tensors", e.Message);
        Assert.Contains("the limit binds", e.Message);

        // plan.json states the limit.
        var doc = PlanWriter.Describe(null, limited, plan, new PlanContext("wide-fan", null, null, null, 1, 0.005));
        Assert.Equal(CutConstraints.MaxTensorsPerFrame, doc.MaxCutTensors);
        Assert.Contains("\"max_cut_tensors\": 16", doc.ToJson());
        Assert.Throws<ArgumentException>(() => WideFan(2, settings with { MaxCutTensors = 0 }));
    }
}
