using Coach.Engine.Graph;
using Coach.Engine.Onnx.Proto;
using Coach.Engine.Planning;
using Coach.Engine.Splitting;
using Coach.Native.OnnxRuntime;
using Google.Protobuf;

namespace Coach.Engine.Tests.Splitting;

/// <summary>Splits a model at given partitions and checks tail(head(x)) against the full model through ONNX Runtime.</summary>
internal static class SplitHarness
{
    private static readonly SessionSettings Cpu = new() { Providers = [ExecutionProvider.Cpu], IntraOpThreads = 1 };

    /// <summary>Every ideal of the model's layer DAG (exhaustive when small).</summary>
    public static List<bool[]> AllPartitions(LayerGraph graph)
    {
        ShapeDiscovery.Complete(graph);
        var problem = UnitProblem(graph);
        var all = new List<bool[]>();
        var onEdge = new bool[problem.NodeCount];
        IdealDecomposition.Build(problem).Enumerate(onEdge, () => all.Add((bool[])onEdge.Clone()));
        return all;
    }

    public static PlanningProblem AllPartitionsProblem(LayerGraph graph)
    {
        ShapeDiscovery.Complete(graph);
        return UnitProblem(graph);
    }

    public static PlanningProblem UnitProblem(LayerGraph graph)
    {
        int n = graph.Nodes.Count;
        var ones = Enumerable.Repeat(1e-3, n).ToArray();
        return PlanningProblem.FromGraph(graph, ones, ones, new CostSettings { BandwidthBitsPerSecond = 1e7 });
    }

    /// <summary>Returns how many partitions were checked; asserts each within <paramref name="tolerance"/>.</summary>
    public static int AssertEveryPartitionMatches(ModelProto model, IEnumerable<bool[]> partitions, NamedTensor[] inputs, double tolerance = 1e-5)
    {
        var graph = LayerGraph.FromModel(model);
        ShapeDiscovery.Complete(graph);
        var problem = UnitProblem(graph);
        using var full = InferenceSession.Open(model.ToByteArray(), Cpu, "full");
        var outputNames = graph.OutputTensors.Select(i => graph.Tensors[i].Name).ToArray();
        var expected = full.Run(inputs, outputNames);
        int checkedCount = 0;
        foreach (var onEdge in partitions)
        {
            var cut = PipelineCostModel.CutTensors(problem, onEdge).Select(k => problem.Tensors[k].Name).ToArray();
            var split = ModelSplitter.Split(graph, cut, onEdge);
            var values = inputs.ToDictionary(x => x.Name, x => x.Tensor, StringComparer.Ordinal);
            if (split.Head is not null)
            {
                using var head = InferenceSession.Open(split.Head.ToByteArray(), Cpu, "head");
                var headInputs = head.Inputs.Select(i => new NamedTensor(i.Name, values[i.Name])).ToArray();
                var produced = head.Run(headInputs, split.HeadOutputs);
                for (int i = 0; i < produced.Length; i++)
                {
                    values[split.HeadOutputs[i]] = produced[i];
                }
            }
            if (split.Tail is not null)
            {
                using var tail = InferenceSession.Open(split.Tail.ToByteArray(), Cpu, "tail");
                Assert.Equal(cut.Order(), tail.Inputs.Select(i => i.Name).Order());
                var tailInputs = tail.Inputs.Select(i => new NamedTensor(i.Name, values[i.Name])).ToArray();
                var tailOutputs = tail.Outputs.Select(o => o.Name).ToArray();
                var produced = tail.Run(tailInputs, tailOutputs);
                for (int i = 0; i < produced.Length; i++)
                {
                    values[tailOutputs[i]] = produced[i];
                }
            }
            for (int o = 0; o < outputNames.Length; o++)
            {
                Assert.True(values.ContainsKey(outputNames[o]), $"output {outputNames[o]} produced by neither side for cut [{string.Join(", ", cut)}]");
                var got = values[outputNames[o]];
                Assert.Equal(expected[o].Shape, got.Shape);
                AssertClose(expected[o], got, tolerance, $"cut [{string.Join(", ", cut)}], output {outputNames[o]}");
            }
            checkedCount++;
        }
        return checkedCount;
    }

    public static void AssertClose(DenseTensor expected, DenseTensor actual, double tolerance, string what)
    {
        if (expected.ElementType != TensorElementType.Float)
        {
            Assert.Equal(expected.Data, actual.Data);
            return;
        }
        var e = expected.AsSpan<float>();
        var a = actual.AsSpan<float>();
        Assert.Equal(e.Length, a.Length);
        for (int i = 0; i < e.Length; i++)
        {
            double diff = Math.Abs(e[i] - a[i]);
            Assert.True(diff <= tolerance * Math.Max(1, Math.Abs(e[i])), $"{what}: element {i} differs by {diff} ({e[i]} vs {a[i]})");
        }
    }

    public static NamedTensor[] RandomInputs(ModelProto model, int batch, int seed)
    {
        using var session = InferenceSession.Open(model.ToByteArray(), Cpu, "inputs");
        var random = new Random(seed);
        return [.. session.Inputs.Select(meta =>
        {
            var shape = meta.Shape.Select(d => d < 0 ? batch : d).ToArray();
            var t = DenseTensor.Create(meta.ElementType, shape);
            if (meta.ElementType == TensorElementType.Float)
            {
                var span = t.AsSpan<float>();
                for (int i = 0; i < span.Length; i++)
                {
                    span[i] = (float)random.NextDouble();
                }
            }
            return new NamedTensor(meta.Name, t);
        })];
    }
}
