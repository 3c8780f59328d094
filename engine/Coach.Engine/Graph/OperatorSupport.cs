using Coach.Engine.Onnx.Proto;

namespace Coach.Engine.Graph;

/// <summary>
/// Which ONNX nodes Coach can plan around. Any operator ONNX Runtime runs is a layer, provided it lives in a
/// domain ONNX Runtime implements; control flow (If/Loop/Scan) carries sub-graphs whose inner values cannot be
/// cut or timed as one layer, so such models are refused with the node named.
/// </summary>
public static class OperatorSupport
{
    /// <summary>Operator domains ONNX Runtime's CPU build implements.</summary>
    public static readonly IReadOnlyList<string> SupportedDomains = ["", "ai.onnx", "ai.onnx.ml", "com.microsoft"];

    /// <summary>Operators with sub-graphs: refused.</summary>
    public static readonly IReadOnlyList<string> ControlFlowOperators = ["If", "Loop", "Scan", "SequenceMap"];

    public static void Check(NodeProto node, string name)
    {
        if (!SupportedDomains.Contains(node.Domain))
        {
            throw new ModelGraphException(
                $"node '{name}' ({node.OpType}) is in operator domain '{node.Domain}', which Coach does not support (supported: {string.Join(", ", SupportedDomains.Select(d => d.Length == 0 ? "ai.onnx" : d))}); export the model with standard ONNX operators");
        }
        if (ControlFlowOperators.Contains(node.OpType))
        {
            throw new ModelGraphException(
                $"node '{name}' is a control-flow operator ({node.OpType}) with a sub-graph; Coach plans over a static layer DAG and cannot time or cut inside it. Export the model without control flow (unrolled loops, resolved branches)");
        }
        foreach (var attribute in node.Attribute)
        {
            if (attribute.G is not null || attribute.Graphs.Count > 0)
            {
                throw new ModelGraphException($"node '{name}' ({node.OpType}) carries a sub-graph in attribute '{attribute.Name}'; Coach cannot plan around sub-graphs");
            }
        }
    }

    public static bool IsConstant(NodeProto node) =>
        node.OpType == "Constant" && (node.Domain.Length == 0 || node.Domain == "ai.onnx");

    /// <summary>Names of all nodes of a graph in file order: the node's own, made unique, or OpType_position.</summary>
    public static string[] CanonicalNodeNames(GraphProto graph)
    {
        var names = new string[graph.Node.Count];
        var used = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < names.Length; i++)
        {
            var name = LayerGraph.NodeName(graph.Node[i], i);
            if (!used.Add(name))
            {
                name = $"{name}_{i}";
                used.Add(name);
            }
            names[i] = name;
        }
        return names;
    }

    /// <summary>A copy of the model whose nodes all carry their canonical names (so profiler events match layers).</summary>
    public static ModelProto WithCanonicalNodeNames(ModelProto model)
    {
        var copy = model.Clone();
        var names = CanonicalNodeNames(copy.Graph);
        for (int i = 0; i < names.Length; i++)
        {
            copy.Graph.Node[i].Name = names[i];
        }
        return copy;
    }

    internal static void FillConstantShape(NodeProto node, GraphTensor t)
    {
        if (!IsConstant(node))
        {
            return; // a node over parameters: its shape does not matter to planning
        }
        foreach (var a in node.Attribute)
        {
            if (a.Name == "value" && a.T is not null)
            {
                t.ElementType = a.T.DataType;
                t.Shape = [.. a.T.Dims];
                return;
            }
        }
    }
}
