using Coach.Engine.Onnx.Proto;

namespace Coach.Engine.Graph;

/// <summary>Turns a ModelProto into a <see cref="LayerGraph"/>: roles, shapes, edges, topological order, checks.</summary>
internal static class LayerGraphBuilder
{
    public static LayerGraph Build(ModelProto model, string sha256)
    {
        var graph = model.Graph ?? throw new ModelGraphException("the model has no graph");
        var names = OperatorSupport.CanonicalNodeNames(graph);

        var tensors = new List<GraphTensor>();
        var byName = new Dictionary<string, GraphTensor>(StringComparer.Ordinal);
        GraphTensor Add(string name, TensorRole role)
        {
            var t = new GraphTensor(tensors.Count, name, role);
            tensors.Add(t);
            byName.Add(name, t);
            return t;
        }

        foreach (var init in graph.Initializer)
        {
            if (byName.ContainsKey(init.Name))
            {
                continue;
            }
            var t = Add(init.Name, TensorRole.Parameter);
            t.ElementType = init.DataType;
            t.Shape = [.. init.Dims];
        }

        var inputs = new List<int>();
        foreach (var vi in graph.Input)
        {
            if (byName.ContainsKey(vi.Name))
            {
                continue; // IR < 4 lists initializers among the inputs: they stay parameters
            }
            var t = Add(vi.Name, TensorRole.ModelInput);
            inputs.Add(t.Index);
        }
        if (inputs.Count == 0)
        {
            throw new ModelGraphException("the model has no graph input (only initializers): there is nothing to feed a frame into");
        }

        var constantNodes = new List<NodeProto>();
        var layerProtos = new List<(NodeProto Proto, string Name)>();
        for (int i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            OperatorSupport.Check(node, names[i]);
            if (OperatorSupport.IsConstant(node) || ReadsOnlyParameters(node, byName))
            {
                constantNodes.Add(node);
                foreach (var o in node.Output)
                {
                    if (string.IsNullOrEmpty(o))
                    {
                        continue;
                    }
                    if (byName.ContainsKey(o))
                    {
                        throw new ModelGraphException($"value '{o}' is produced twice (again by Constant node '{names[i]}'): an ONNX graph assigns each value once");
                    }
                    var t = Add(o, TensorRole.Parameter);
                    OperatorSupport.FillConstantShape(node, t);
                }
                continue;
            }
            layerProtos.Add((node, names[i]));
        }

        // Layers in file order first; re-ordered topologically below.
        var nodes = new List<LayerNode>(layerProtos.Count);
        for (int i = 0; i < layerProtos.Count; i++)
        {
            var (proto, name) = layerProtos[i];
            var node = new LayerNode(i, proto, name);
            nodes.Add(node);
            foreach (var o in proto.Output)
            {
                if (string.IsNullOrEmpty(o))
                {
                    continue;
                }
                if (byName.ContainsKey(o))
                {
                    throw new ModelGraphException($"value '{o}' is produced twice (again by node '{name}' ({proto.OpType})): an ONNX graph assigns each value once");
                }
                var t = Add(o, TensorRole.Intermediate);
                t.Producer = i;
                node.OutputList.Add(t.Index);
            }
        }

        foreach (var node in nodes)
        {
            foreach (var input in node.Proto.Input)
            {
                if (string.IsNullOrEmpty(input))
                {
                    continue; // omitted optional input
                }
                if (!byName.TryGetValue(input, out var t))
                {
                    throw new ModelGraphException($"node '{node.Name}' ({node.OpType}) reads '{input}', which no node, graph input or initializer provides");
                }
                if (t.Role == TensorRole.Parameter || node.InputList.Contains(t.Index))
                {
                    continue;
                }
                node.InputList.Add(t.Index);
                t.ConsumerList.Add(node.Index);
                if (t.Producer >= 0 && !node.PredecessorList.Contains(t.Producer))
                {
                    node.PredecessorList.Add(t.Producer);
                    nodes[t.Producer].SuccessorList.Add(node.Index);
                }
            }
        }

        var outputs = new List<int>();
        foreach (var vi in graph.Output)
        {
            if (!byName.TryGetValue(vi.Name, out var t))
            {
                throw new ModelGraphException($"graph output '{vi.Name}' is produced by no node and is no input or initializer");
            }
            t.IsModelOutput = true;
            outputs.Add(t.Index);
        }

        var order = TopologicalOrder(nodes);
        var renumber = new int[nodes.Count];
        for (int i = 0; i < order.Length; i++)
        {
            renumber[order[i]] = i;
        }
        var sorted = new List<LayerNode>(nodes.Count);
        foreach (var old in order)
        {
            var n = nodes[old];
            n.Index = renumber[old];
            for (int k = 0; k < n.PredecessorList.Count; k++)
            {
                n.PredecessorList[k] = renumber[n.PredecessorList[k]];
            }
            for (int k = 0; k < n.SuccessorList.Count; k++)
            {
                n.SuccessorList[k] = renumber[n.SuccessorList[k]];
            }
            n.PredecessorList.Sort();
            n.SuccessorList.Sort();
            sorted.Add(n);
        }
        foreach (var t in tensors)
        {
            if (t.Producer >= 0)
            {
                t.Producer = renumber[t.Producer];
            }
            for (int k = 0; k < t.ConsumerList.Count; k++)
            {
                t.ConsumerList[k] = renumber[t.ConsumerList[k]];
            }
            t.ConsumerList.Sort();
        }

        ApplyDeclaredShapes(graph, byName);
        return new LayerGraph(model, sha256, sorted, tensors, inputs, outputs, constantNodes);
    }

    /// <summary>
    /// A node fed only by parameters (e.g. the Identity over a shared initializer that exporters emit) computes a
    /// parameter: it is copied to whichever side reads it, like a Constant, and is neither a layer nor cut.
    /// </summary>
    private static bool ReadsOnlyParameters(NodeProto node, Dictionary<string, GraphTensor> byName)
    {
        bool any = false;
        foreach (var input in node.Input)
        {
            if (string.IsNullOrEmpty(input))
            {
                continue;
            }
            if (!byName.TryGetValue(input, out var t) || t.Role != TensorRole.Parameter)
            {
                return false;
            }
            any = true;
        }
        return any;
    }

    /// <summary>Kahn's algorithm, stable on file order; a cycle is reported with the nodes on it.</summary>
    private static int[] TopologicalOrder(List<LayerNode> nodes)
    {
        var indegree = new int[nodes.Count];
        foreach (var n in nodes)
        {
            indegree[n.Index] = n.PredecessorList.Count;
        }
        var ready = new PriorityQueue<int, int>();
        for (int i = 0; i < nodes.Count; i++)
        {
            if (indegree[i] == 0)
            {
                ready.Enqueue(i, i);
            }
        }
        var order = new List<int>(nodes.Count);
        while (ready.TryDequeue(out var v, out _))
        {
            order.Add(v);
            foreach (var s in nodes[v].SuccessorList)
            {
                if (--indegree[s] == 0)
                {
                    ready.Enqueue(s, s);
                }
            }
        }
        if (order.Count == nodes.Count)
        {
            return [.. order];
        }
        var cycle = FindCycle(nodes, indegree);
        throw new ModelGraphException(
            $"the model's graph has a cycle through node '{nodes[cycle[0]].Name}' ({string.Join(" -> ", cycle.Select(i => nodes[i].Name))} -> {nodes[cycle[0]].Name}); an ONNX graph must be acyclic");
    }

    private static List<int> FindCycle(List<LayerNode> nodes, int[] indegree)
    {
        // Every node left with indegree > 0 has a predecessor also left; walk predecessors until one repeats.
        int start = Array.FindIndex(indegree, d => d > 0);
        var seenAt = new Dictionary<int, int>();
        var walk = new List<int>();
        int v = start;
        while (!seenAt.ContainsKey(v))
        {
            seenAt[v] = walk.Count;
            walk.Add(v);
            v = nodes[v].PredecessorList.First(p => indegree[p] > 0);
        }
        var cycle = walk.GetRange(seenAt[v], walk.Count - seenAt[v]);
        cycle.Reverse(); // predecessor walk runs against the edges
        return cycle;
    }

    private static void ApplyDeclaredShapes(GraphProto graph, Dictionary<string, GraphTensor> byName)
    {
        foreach (var vi in graph.Input.Concat(graph.Output).Concat(graph.ValueInfo))
        {
            if (byName.TryGetValue(vi.Name, out var t) && t.Role != TensorRole.Parameter)
            {
                ApplyValueInfo(vi, t);
            }
        }
    }

    internal static void ApplyValueInfo(ValueInfoProto vi, GraphTensor t)
    {
        if (vi.Type?.TensorType is not { } tt)
        {
            return;
        }
        if (tt.HasElemType && tt.ElemType != 0)
        {
            t.ElementType = tt.ElemType;
        }
        if (tt.Shape is null)
        {
            return;
        }
        var shape = new long[tt.Shape.Dim.Count];
        for (int i = 0; i < shape.Length; i++)
        {
            var d = tt.Shape.Dim[i];
            if (d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue > 0)
            {
                shape[i] = d.DimValue;
            }
            else if (i == 0)
            {
                shape[i] = 1; // dynamic batch: planning is per frame
                t.DynamicBatch = true;
            }
            else
            {
                return; // another symbolic dimension: leave the shape unknown for ShapeDiscovery
            }
        }
        t.Shape = shape;
    }
}
