using Coach.Engine.Graph;
using Coach.Engine.Onnx.Proto;
using Coach.Engine.Splitting;

namespace Coach.Engine.Coded;

/// <summary>
/// A chain model cut around the convolutions that are coded (docs/coded.md §4): segment 0 runs from the model's input
/// to the first coded layer's input, segment i from coded layer i's output to layer i + 1's input, the last from the
/// last coded layer's output to the model's outputs. The master runs the segments; the workers the coded layers. The
/// cuts are <see cref="ModelSplitter"/>'s, so a model whose coded layer's input is also read past its output (a
/// residual connection) is refused with the value at fault.
/// </summary>
public sealed class CodedModelSegments
{
    private CodedModelSegments(IReadOnlyList<LayerRun> layers, IReadOnlyList<ModelProto?> segments)
    {
        Layers = layers;
        Segments = segments;
    }

    /// <summary>The coded convolutions, in order.</summary>
    public IReadOnlyList<LayerRun> Layers { get; }

    /// <summary>Layers.Count + 1 segments; null where a coded layer's output is the next one's input.</summary>
    public IReadOnlyList<ModelProto?> Segments { get; }

    /// <summary>Cuts <paramref name="graph"/> (shapes complete, batch 1 frames) around the convolutions named.</summary>
    public static CodedModelSegments Cut(LayerGraph graph, IReadOnlyList<string> convolutions)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(convolutions);
        if (convolutions.Count == 0)
        {
            throw new ArgumentException("name at least one convolution to code", nameof(convolutions));
        }

        var nodes = convolutions.Select(name => graph.Nodes.FirstOrDefault(n => n.Name == name)
            ?? throw new SpatialSplitException($"the model has no layer '{name}'; its convolutions are {string.Join(", ", graph.Nodes.Where(n => n.OpType == "Conv").Select(n => n.Name))}")).ToList();
        if (nodes.Select(n => n.Index).Zip(nodes.Skip(1).Select(n => n.Index)).Any(p => p.First >= p.Second))
        {
            throw new SpatialSplitException("name the coded convolutions in the model's order");
        }

        var layers = nodes.Select(n =>
        {
            var input = graph.Tensor(n.Proto.Input[0]);
            if (!input.ShapeKnown)
            {
                throw new ModelGraphException($"the shape of '{input.Name}' is unknown; run ShapeDiscovery.Complete first");
            }

            var shape = (long[])input.Shape!.Clone();
            shape[0] = 1;
            return LayerRun.FromModel(graph.Model, [n.Name], shape);
        }).ToList();

        var segments = new List<ModelProto?> { ModelSplitter.Split(graph, [layers[0].InputName]).Head };
        for (int i = 0; i < layers.Count; i++)
        {
            var tail = ModelSplitter.Split(graph, [layers[i].OutputName]).Tail
                ?? throw new SpatialSplitException($"nothing follows '{layers[i].OutputName}'");
            if (i + 1 < layers.Count)
            {
                if (layers[i + 1].InputName == layers[i].OutputName)
                {
                    segments.Add(null);
                    continue;
                }

                var tailGraph = LayerGraph.FromModel(tail);
                ShapeDiscovery.Complete(tailGraph);
                segments.Add(ModelSplitter.Split(tailGraph, [layers[i + 1].InputName]).Head);
            }
            else
            {
                segments.Add(tail);
            }
        }

        return new CodedModelSegments(layers, segments);
    }
}
