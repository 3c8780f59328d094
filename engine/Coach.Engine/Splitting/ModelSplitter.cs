using Coach.Engine.Graph;
using Coach.Engine.Onnx.Proto;

namespace Coach.Engine.Splitting;

/// <summary>The two halves of a split model.</summary>
/// <param name="Head">Model inputs → cut tensors (and any model output produced on the edge); null when nothing runs on the edge.</param>
/// <param name="Tail">Cut tensors → model outputs; null when nothing runs in the cloud.</param>
/// <param name="HeadOutputs">Names the head produces, cut tensors first.</param>
/// <param name="TailInputs">Names the tail reads: the cut tensors.</param>
public sealed record SplitModels(ModelProto? Head, ModelProto? Tail, IReadOnlyList<string> HeadOutputs, IReadOnlyList<string> TailInputs);

/// <summary>One stage of a multi-stage split: its model (null for a stage without layers), the values it reads and those it produces for later stages and as model outputs.</summary>
public sealed record StageModel(ModelProto? Model, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs);

/// <summary>The requested cut does not separate the model; the message names the value at fault.</summary>
public sealed class InvalidCutException : Exception
{
    public InvalidCutException(string message) : base(message) { }
    public InvalidCutException() { }
    public InvalidCutException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// Writes head.onnx (model inputs → cut tensors) and tail.onnx (cut tensors → outputs) for a cut (docs/planner.md
/// §7). The head holds exactly the layers the cut tensors need; the tail the layers the outputs need once the cut
/// tensors are given; initializers and Constant nodes go to whichever side reads them (both if both). A model input
/// the tail reads (a skip connection from the input across the cut) must itself be a cut tensor.
/// </summary>
public static class ModelSplitter
{
    public static SplitModels Split(ModelProto model, IReadOnlyList<string> cutTensors) =>
        Split(LayerGraph.FromModel(model), cutTensors);

    /// <summary>
    /// Splits at <paramref name="cutTensors"/>. With <paramref name="edgeLayers"/> (a plan's V_e, by topological
    /// index) the head holds exactly those layers and also returns the model outputs they produce; without it the
    /// head holds the layers the cut tensors need.
    /// </summary>
    public static SplitModels Split(LayerGraph graph, IReadOnlyList<string> cutTensors, IReadOnlyList<bool>? edgeLayers = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(cutTensors);
        var cut = new List<GraphTensor>();
        foreach (var name in cutTensors)
        {
            var t = graph.Tensor(name);
            if (t.Role == TensorRole.Parameter)
            {
                throw new InvalidCutException($"'{name}' is a parameter (initializer or Constant): weights are copied to both sides, never cut");
            }
            if (!cut.Contains(t))
            {
                cut.Add(t);
            }
        }
        var isCut = new HashSet<int>(cut.Select(t => t.Index));

        // Head: the plan's edge layers, or every layer a cut tensor depends on.
        var head = new bool[graph.Nodes.Count];
        var stack = new Stack<int>(cut.Where(t => t.Producer >= 0).Select(t => t.Producer));
        if (edgeLayers is not null)
        {
            if (edgeLayers.Count != head.Length)
            {
                throw new ArgumentException($"expected {head.Length} edge-layer flags, got {edgeLayers.Count}");
            }
            foreach (var node in graph.Nodes.Where(n => edgeLayers[n.Index]))
            {
                head[node.Index] = true;
                var missing = node.Predecessors.FirstOrDefault(p => !edgeLayers[p], -1);
                if (missing >= 0)
                {
                    throw new InvalidCutException($"edge layer '{node.Name}' reads from '{graph.Nodes[missing].Name}', which is not on the edge: the edge set must be downward closed");
                }
            }
            foreach (var t in cut.Where(t => t.Producer >= 0 && !edgeLayers[t.Producer]))
            {
                throw new InvalidCutException($"cut tensor '{t.Name}' is produced by '{graph.Nodes[t.Producer].Name}', which is not on the edge");
            }
            stack.Clear();
        }
        while (stack.Count > 0)
        {
            int v = stack.Pop();
            if (head[v])
            {
                continue;
            }
            head[v] = true;
            foreach (var p in graph.Nodes[v].Predecessors)
            {
                stack.Push(p);
            }
        }

        // Outputs: produced on the edge side, passed through as a cut tensor, or computed in the tail.
        var tail = new bool[graph.Nodes.Count];
        var edgeOutputs = new List<GraphTensor>();
        var tailOutputs = new List<GraphTensor>();
        foreach (var o in graph.OutputTensors.Select(i => graph.Tensors[i]))
        {
            if (isCut.Contains(o.Index))
            {
                tailOutputs.Add(o);
            }
            else if (o.Producer >= 0 && head[o.Producer])
            {
                edgeOutputs.Add(o);
            }
            else
            {
                tailOutputs.Add(o);
                if (o.Producer >= 0)
                {
                    stack.Push(o.Producer);
                }
                else
                {
                    throw new InvalidCutException($"model output '{o.Name}' is a model input or parameter, not computed by the tail; make it a cut tensor");
                }
            }
        }
        while (stack.Count > 0)
        {
            int v = stack.Pop();
            if (tail[v])
            {
                continue;
            }
            tail[v] = true;
            var node = graph.Nodes[v];
            foreach (var k in node.Inputs)
            {
                var t = graph.Tensors[k];
                if (isCut.Contains(k))
                {
                    continue;
                }
                if (t.Role == TensorRole.ModelInput)
                {
                    throw new InvalidCutException(
                        $"layer '{node.Name}' in the cloud part reads model input '{t.Name}', which is not a cut tensor: a value read on both sides of the cut must cross it, so add '{t.Name}' to the cut tensors");
                }
                if (head[t.Producer])
                {
                    throw new InvalidCutException(
                        $"layer '{node.Name}' in the cloud part reads '{t.Name}', produced on the edge side by '{graph.Nodes[t.Producer].Name}', but '{t.Name}' is not a cut tensor: the cut does not separate the model");
                }
                stack.Push(t.Producer);
            }
        }
        if (!cut.Any() && tailOutputs.Count > 0)
        {
            throw new InvalidCutException("no cut tensors given, but the model's outputs need layers in the cloud part");
        }

        bool anyHead = head.Any(x => x);
        bool anyTail = tail.Any(x => x) || tailOutputs.Any(o => isCut.Contains(o.Index));
        bool batchDynamic = graph.InputTensors.Any(i => graph.Tensors[i].DynamicBatch);
        var headInputs = graph.InputTensors.Select(i => graph.Tensors[i])
            .Where(t => isCut.Contains(t.Index) || t.Consumers.Any(c => head[c])).ToList();
        var headOutputs = cut.Concat(edgeOutputs).ToList();

        ModelProto? headModel = anyHead || edgeOutputs.Count > 0
            ? BuildPart(graph, head, headInputs, headOutputs, "head", batchDynamic)
            : null;
        ModelProto? tailModel = anyTail
            ? BuildPart(graph, tail, cut, tailOutputs, "tail", batchDynamic)
            : null;
        return new SplitModels(headModel, tailModel, [.. headOutputs.Select(t => t.Name)], [.. cut.Select(t => t.Name)]);
    }

    /// <summary>
    /// One stage of a multi-stage plan (docs/edgepipe.md §1): the layers of <paramref name="through"/> not in
    /// <paramref name="before"/>, two nested ideals. Its inputs are the values its layers read that earlier stages
    /// produced (or model inputs); its outputs the values it produces that a later stage reads, then the model outputs
    /// it produces. Values produced earlier and read later pass it by: the relay forwards them as received, they are not
    /// outputs of its model. A stage without layers has no model.
    /// </summary>
    public static StageModel SplitStage(LayerGraph graph, IReadOnlyList<bool> before, IReadOnlyList<bool> through, string part)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(through);
        int n = graph.Nodes.Count;
        if (before.Count != n || through.Count != n)
        {
            throw new ArgumentException($"expected {n} layer flags for each ideal, got {before.Count} and {through.Count}");
        }
        var stage = new bool[n];
        foreach (var node in graph.Nodes)
        {
            if (before[node.Index] && !through[node.Index])
            {
                throw new InvalidCutException($"layer '{node.Name}' is in the earlier ideal but not in the later one: the stage's ideals must be nested");
            }
            foreach (var p in node.Predecessors)
            {
                if (through[node.Index] && !through[p])
                {
                    throw new InvalidCutException($"layer '{node.Name}' reads from '{graph.Nodes[p].Name}', which comes after its stage: the ideal must be downward closed");
                }
                if (before[node.Index] && !before[p])
                {
                    throw new InvalidCutException($"layer '{node.Name}' reads from '{graph.Nodes[p].Name}', which comes after its stage: the earlier ideal must be downward closed");
                }
            }
            stage[node.Index] = through[node.Index] && !before[node.Index];
        }
        var inputs = new SortedSet<int>();
        var outputs = new SortedSet<int>();
        var modelOutputs = new HashSet<int>(graph.OutputTensors);
        foreach (var node in graph.Nodes.Where(x => stage[x.Index]))
        {
            foreach (var k in node.Inputs)
            {
                var t = graph.Tensors[k];
                if (t.Role == TensorRole.ModelInput || (t.Role != TensorRole.Parameter && t.Producer >= 0 && !stage[t.Producer]))
                {
                    inputs.Add(k);
                }
            }
        }
        foreach (var t in graph.Tensors.Where(t => t.Producer >= 0 && t.Role != TensorRole.Parameter && stage[t.Producer]))
        {
            if (t.Consumers.Any(c => !through[c]))
            {
                outputs.Add(t.Index);
            }
        }
        var ordered = outputs.Concat(graph.OutputTensors.Where(k => graph.Tensors[k].Producer >= 0 && stage[graph.Tensors[k].Producer] && !outputs.Contains(k))).ToList();
        if (!stage.Any(x => x))
        {
            return new StageModel(null, [], []);
        }
        bool batchDynamic = graph.InputTensors.Any(i => graph.Tensors[i].DynamicBatch);
        var model = BuildPart(graph, stage, [.. inputs.Select(k => graph.Tensors[k])], [.. ordered.Select(k => graph.Tensors[k])], part, batchDynamic);
        return new StageModel(model, [.. inputs.Select(k => graph.Tensors[k].Name)], [.. ordered.Select(k => graph.Tensors[k].Name)]);
    }

    private static ModelProto BuildPart(LayerGraph graph, bool[] layers, IReadOnlyList<GraphTensor> inputs, IReadOnlyList<GraphTensor> outputs, string part, bool batchDynamic)
    {
        var source = graph.Model;
        var g = new GraphProto { Name = $"{source.Graph.Name}_{part}" };
        var declared = source.Graph.Input.Concat(source.Graph.Output).Concat(source.Graph.ValueInfo)
            .GroupBy(v => v.Name, StringComparer.Ordinal).ToDictionary(x => x.Key, x => x.First(), StringComparer.Ordinal);

        // Parameters read by this part's layers.
        var used = new HashSet<string>(StringComparer.Ordinal);
        var layerSet = new HashSet<NodeProto>(graph.Nodes.Where(n => layers[n.Index]).Select(n => n.Proto), ReferenceEqualityComparer.Instance);
        for (int i = 0; i < source.Graph.Node.Count; i++)
        {
            var node = source.Graph.Node[i];
            if (layerSet.Contains(node))
            {
                foreach (var input in node.Input)
                {
                    used.Add(input);
                }
            }
        }
        // Constant nodes first (in file order), then the layers in file order (which is topological for valid ONNX,
        // and re-sorted below otherwise).
        // Parameter nodes may read each other's outputs: walk them backwards to take what the used ones need.
        var neededConstants = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        for (int i = graph.ConstantNodes.Count - 1; i >= 0; i--)
        {
            var constant = graph.ConstantNodes[i];
            if (constant.Output.Any(used.Contains))
            {
                neededConstants.Add(constant);
                foreach (var input in constant.Input)
                {
                    used.Add(input);
                }
            }
        }
        foreach (var constant in graph.ConstantNodes.Where(neededConstants.Contains))
        {
            g.Node.Add(constant.Clone());
        }
        foreach (var n in graph.Nodes.Where(n => layers[n.Index]).OrderBy(n => n.Index))
        {
            var copy = n.Proto.Clone();
            copy.Name = n.Name;
            g.Node.Add(copy);
        }
        foreach (var init in source.Graph.Initializer)
        {
            if (used.Contains(init.Name))
            {
                g.Initializer.Add(init.Clone());
            }
        }
        foreach (var t in inputs)
        {
            g.Input.Add(ValueInfo(t, declared, batchDynamic));
        }
        foreach (var t in outputs)
        {
            g.Output.Add(ValueInfo(t, declared, batchDynamic));
        }
        var produced = new HashSet<string>(g.Node.SelectMany(n => n.Output), StringComparer.Ordinal);
        var boundary = new HashSet<string>(inputs.Concat(outputs).Select(t => t.Name), StringComparer.Ordinal);
        foreach (var vi in source.Graph.ValueInfo)
        {
            if (produced.Contains(vi.Name) && !boundary.Contains(vi.Name))
            {
                g.ValueInfo.Add(vi.Clone());
            }
        }
        var model = new ModelProto
        {
            IrVersion = source.IrVersion,
            ProducerName = "coach",
            ProducerVersion = "0.1",
            Domain = source.Domain,
            ModelVersion = source.ModelVersion,
            DocString = $"{part} of a Coach split",
            Graph = g,
        };
        model.OpsetImport.AddRange(source.OpsetImport.Select(o => o.Clone()));
        model.MetadataProps.Add(new StringStringEntryProto { Key = "coach.part", Value = part });
        model.MetadataProps.Add(new StringStringEntryProto { Key = "coach.source_sha256", Value = graph.Sha256 });
        return model;
    }

    /// <summary>The declared value_info (keeps dim_params such as a dynamic batch) or one built from the known shape.</summary>
    private static ValueInfoProto ValueInfo(GraphTensor t, Dictionary<string, ValueInfoProto> declared, bool batchDynamic)
    {
        if (declared.TryGetValue(t.Name, out var vi) && vi.Type?.TensorType?.Shape is not null && vi.Type.TensorType.HasElemType)
        {
            return vi.Clone();
        }
        if (!t.ShapeKnown)
        {
            throw new ModelGraphException($"the shape of cut tensor '{t.Name}' is unknown; run ShapeDiscovery.Complete on the graph before splitting");
        }
        var shape = new TensorShapeProto();
        for (int i = 0; i < t.Shape!.Length; i++)
        {
            var d = new TensorShapeProto.Types.Dimension();
            if (i == 0 && (t.DynamicBatch || (batchDynamic && t.Shape.Length >= 2 && t.Shape[0] == 1)))
            {
                d.DimParam = "N";
            }
            else
            {
                d.DimValue = t.Shape[i];
            }
            shape.Dim.Add(d);
        }
        return new ValueInfoProto
        {
            Name = t.Name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = t.ElementType, Shape = shape } },
        };
    }
}
