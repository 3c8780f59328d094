using Coach.Engine.Onnx.Proto;
using Coach.Native.OnnxRuntime;
using Google.Protobuf;

namespace Coach.Engine.Graph;

/// <summary>
/// Completes the shapes of a <see cref="LayerGraph"/> whose value_info is incomplete (docs/planner.md §1): one ONNX
/// Runtime run of a copy of the model that exposes every intermediate value as a graph output, on a synthetic
/// frame with batch 1.
/// </summary>
public static class ShapeDiscovery
{
    public static void Complete(LayerGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        if (graph.HasCompleteShapes)
        {
            return;
        }
        var copy = OperatorSupport.WithCanonicalNodeNames(graph.Model);
        var existing = new HashSet<string>(copy.Graph.Output.Select(o => o.Name), StringComparer.Ordinal);
        var wanted = graph.Tensors.Where(t => t.Role == TensorRole.Intermediate && !t.ShapeKnown).ToList();
        foreach (var t in wanted)
        {
            if (existing.Add(t.Name))
            {
                copy.Graph.Output.Add(new ValueInfoProto { Name = t.Name });
            }
        }
        using var session = InferenceSession.Open(copy.ToByteArray(), new SessionSettings
        {
            Providers = [ExecutionProvider.Cpu],
            Optimization = GraphOptimization.Disabled,
        }, "shape discovery");
        var inputs = SyntheticInputs.Create(session.Inputs);
        foreach (var input in graph.InputTensors.Select(i => graph.Tensors[i]).Where(t => !t.ShapeKnown))
        {
            var given = inputs.First(x => x.Name == input.Name).Tensor;
            input.ElementType = (int)given.ElementType;
            input.Shape = given.Shape;
        }
        var names = wanted.Select(t => t.Name).ToArray();
        var results = session.Run(inputs, names);
        for (int i = 0; i < names.Length; i++)
        {
            wanted[i].ElementType = (int)results[i].ElementType;
            wanted[i].Shape = results[i].Shape;
        }
    }
}

/// <summary>Inputs for timing and shape runs: every dynamic dimension 1, floats uniformly random in [0, 1).</summary>
public static class SyntheticInputs
{
    public static NamedTensor[] Create(IReadOnlyList<TensorMetadata> inputs, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var random = new Random(seed);
        var result = new NamedTensor[inputs.Count];
        for (int i = 0; i < inputs.Count; i++)
        {
            var meta = inputs[i];
            var shape = meta.Shape.Select(d => d < 0 ? 1 : d).ToArray();
            var tensor = DenseTensor.Create(meta.ElementType, shape);
            if (meta.ElementType == TensorElementType.Float)
            {
                var span = tensor.AsSpan<float>();
                for (int k = 0; k < span.Length; k++)
                {
                    span[k] = (float)random.NextDouble();
                }
            }
            result[i] = new NamedTensor(meta.Name, tensor);
        }
        return result;
    }
}
