using Coach.Engine.Graph;

namespace Coach.Engine.Planning.MultiStage;

/// <summary>
/// Bytes of parameters (weights, biases, constants) each layer reads, by topological index: what a stage must hold
/// besides its activations (docs/edgepipe.md §1). A parameter read by several layers is counted with each of them,
/// which overstates a stage that holds two of its readers: the budget check errs on the side of fitting.
/// </summary>
public sealed class LayerMemory
{
    public LayerMemory(long[] weightBytes)
    {
        ArgumentNullException.ThrowIfNull(weightBytes);
        if (weightBytes.Any(b => b < 0))
        {
            throw new ArgumentException("a layer's weight bytes cannot be negative", nameof(weightBytes));
        }
        WeightBytes = weightBytes;
    }

    public long[] WeightBytes { get; }

    public long TotalWeightBytes => WeightBytes.Sum();

    /// <summary>No weights at all: only activations count against the budgets.</summary>
    public static LayerMemory None(int layerCount) => new(new long[layerCount]);

    /// <summary>The parameter bytes each layer of <paramref name="graph"/> reads (shapes must be known).</summary>
    public static LayerMemory FromGraph(LayerGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var parameters = graph.Tensors.Where(t => t.Role == TensorRole.Parameter && t.ShapeKnown)
            .ToDictionary(t => t.Name, t => t.ByteCount, StringComparer.Ordinal);
        var bytes = new long[graph.Nodes.Count];
        for (int i = 0; i < bytes.Length; i++)
        {
            // A layer's Inputs list only the values that can cross a cut; its parameters are read by name.
            foreach (var name in graph.Nodes[i].Proto.Input.Where(x => x.Length > 0).Distinct(StringComparer.Ordinal))
            {
                bytes[i] += parameters.GetValueOrDefault(name);
            }
        }
        return new LayerMemory(bytes);
    }
}
