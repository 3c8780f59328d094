using Coach.Engine.Graph;
using Coach.Engine.Onnx;
using Coach.Engine.Onnx.Proto;

namespace Coach.Engine.Coded;

/// <summary>A run of layers cannot be split along its rows; the message says which layer and why.</summary>
public sealed class SpatialSplitException : Exception
{
    public SpatialSplitException(string message) : base(message) { }
    public SpatialSplitException() { }
    public SpatialSplitException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>One layer of a <see cref="LayerRun"/>, its operator resolved to explicit pads on every spatial axis.</summary>
/// <param name="Node">The layer as in the model.</param>
/// <param name="Windowed">Conv, MaxPool or AveragePool: rows of the output read a window of input rows.</param>
/// <param name="Kernel">Per spatial axis (windowed layers).</param>
/// <param name="Strides">Per spatial axis.</param>
/// <param name="Dilations">Per spatial axis.</param>
/// <param name="PadsBegin">Per spatial axis, explicit (auto_pad resolved against the input size).</param>
/// <param name="PadsEnd">Per spatial axis, explicit.</param>
/// <param name="InputShape">The data input's shape, batch included.</param>
/// <param name="OutputShape">The output's shape.</param>
public sealed record RunLayer(NodeProto Node, bool Windowed, int[] Kernel, int[] Strides, int[] Dilations, int[] PadsBegin, int[] PadsEnd, long[] InputShape, long[] OutputShape)
{
    /// <summary>The layer's rows-to-rows map along the split axis (the first spatial axis).</summary>
    public WindowGeometry Geometry => Windowed ? new WindowGeometry(Kernel[0], Strides[0], Dilations[0], PadsBegin[0], PadsEnd[0]) : WindowGeometry.Pointwise;
}

/// <summary>One of the k slices of a split run: output rows it writes, input rows it reads (halo included), its model.</summary>
public sealed record SpatialSlice(int Index, int OutputBegin, int OutputEnd, int InputBegin, int InputEnd, ModelProto Model)
{
    public int OutputRows => OutputEnd - OutputBegin;

    public int InputRows => InputEnd - InputBegin;
}

/// <summary>
/// A chain of layers — convolutions, poolings and the elementwise layers between them — each reading the previous
/// layer's output, split along the first spatial axis (rows, NCHW's H) into slices that each need only a band of the
/// input: the receptive-field halo of their output rows (docs/coded.md §1). Each slice is a model of its own: the same
/// layers with their row padding rewritten so that the slice computes exactly its rows of the whole run's output.
/// </summary>
public sealed class LayerRun
{
    private static readonly HashSet<string> Pointwise = new(StringComparer.Ordinal)
    {
        "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "HardSigmoid", "HardSwish", "Elu", "Selu", "Softplus", "Identity",
        "BatchNormalization", "Dropout", "PRelu",
    };

    private static readonly HashSet<string> Binary = new(StringComparer.Ordinal) { "Add", "Sub", "Mul", "Div" };

    private readonly ModelProto _source;
    private readonly Dictionary<string, TensorProto> _initializers;
    private readonly Dictionary<string, NodeProto> _constants;

    private LayerRun(ModelProto source, List<RunLayer> layers, Dictionary<string, TensorProto> initializers, Dictionary<string, NodeProto> constants)
    {
        _source = source;
        Layers = layers;
        _initializers = initializers;
        _constants = constants;
    }

    public IReadOnlyList<RunLayer> Layers { get; }

    /// <summary>The tensor the run reads (the first layer's data input).</summary>
    public string InputName => Layers[0].Node.Input[0];

    /// <summary>The tensor the run writes (the last layer's output).</summary>
    public string OutputName => Layers[^1].Node.Output[0];

    public long[] InputShape => Layers[0].InputShape;

    public long[] OutputShape => Layers[^1].OutputShape;

    /// <summary>A weight of the run's layers stored as an initializer, or null.</summary>
    public TensorProto? Parameter(string name) => _initializers.GetValueOrDefault(name);

    /// <summary>
    /// The run of the layers named <paramref name="layerNames"/> (names as <see cref="LayerGraph"/> gives them) in
    /// <paramref name="model"/>, whose first layer reads a tensor of <paramref name="inputShape"/> (batch first).
    /// </summary>
    public static LayerRun FromModel(ModelProto model, IReadOnlyList<string> layerNames, long[] inputShape)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(layerNames);
        ArgumentNullException.ThrowIfNull(inputShape);
        if (layerNames.Count == 0)
        {
            throw new SpatialSplitException("a run needs at least one layer");
        }

        if (inputShape.Length < 3)
        {
            throw new SpatialSplitException($"the run's input has shape [{string.Join(',', inputShape)}]; a row split needs batch, channels and at least one spatial axis");
        }

        var initializers = model.Graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var constants = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        var byName = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        for (int i = 0; i < model.Graph.Node.Count; i++)
        {
            var node = model.Graph.Node[i];
            if (node.OpType == "Constant")
            {
                foreach (var o in node.Output)
                {
                    constants[o] = node;
                }
            }

            byName.TryAdd(LayerGraph.NodeName(node, i), node);
        }

        var layers = new List<RunLayer>();
        long[] shape = inputShape;
        string? previous = null;
        foreach (var name in layerNames)
        {
            if (!byName.TryGetValue(name, out var node))
            {
                throw new SpatialSplitException($"the model has no layer '{name}'");
            }

            if (previous is not null && (node.Input.Count == 0 || node.Input[0] != previous))
            {
                throw new SpatialSplitException($"layer '{name}' does not read '{previous}', the output of the layer before it: a run is a chain whose layers read each other's output as their first input");
            }

            foreach (var extra in node.Input.Skip(1).Where(i => i.Length > 0))
            {
                if (!initializers.ContainsKey(extra) && !constants.ContainsKey(extra))
                {
                    throw new SpatialSplitException($"layer '{name}' ({node.OpType}) reads '{extra}', which is not a weight (initializer or Constant): only the first input of a layer may be an activation in a run");
                }
            }

            var layer = Resolve(node, name, shape, initializers, constants);
            layers.Add(layer);
            shape = layer.OutputShape;
            previous = node.Output[0];
        }

        return new LayerRun(model, layers, initializers, constants);
    }

    /// <summary>
    /// k slices of near-equal output rows (slice j writes rows ⌊j·H/k⌋ … ⌊(j+1)·H/k⌋ of the run's output), each with
    /// the input rows it needs and its model.
    /// </summary>
    public IReadOnlyList<SpatialSlice> Split(int k)
    {
        int rows = checked((int)OutputShape[2]);
        if (k < 1 || k > rows)
        {
            throw new ArgumentOutOfRangeException(nameof(k), k, $"the run's output has {rows} rows: split it into 1 … {rows} slices");
        }

        var slices = new SpatialSlice[k];
        for (int j = 0; j < k; j++)
        {
            int begin = (int)((long)j * rows / k);
            int end = (int)((long)(j + 1) * rows / k);
            slices[j] = Slice(j, begin, end);
        }

        return slices;
    }

    /// <summary>The slice writing output rows [<paramref name="outputBegin"/>, <paramref name="outputEnd"/>).</summary>
    public SpatialSlice Slice(int index, int outputBegin, int outputEnd)
    {
        int outputRows = checked((int)OutputShape[2]);
        if (outputBegin < 0 || outputEnd > outputRows || outputBegin >= outputEnd)
        {
            throw new ArgumentOutOfRangeException(nameof(outputBegin), $"rows [{outputBegin}, {outputEnd}) are not a non-empty band of the run's {outputRows} output rows");
        }

        // Walk back from the last layer: each layer's band of output rows needs a band of its input rows; rows of that
        // band outside the input are padding, which the slice's layer pads explicitly instead.
        var padsBegin = new int[Layers.Count];
        var padsEnd = new int[Layers.Count];
        var rowsIn = new int[Layers.Count];
        var rowsOut = new int[Layers.Count];
        int o0 = outputBegin, o1 = outputEnd;
        for (int l = Layers.Count - 1; l >= 0; l--)
        {
            var layer = Layers[l];
            int inputRows = checked((int)layer.InputShape[2]);
            var (u0, u1) = layer.Geometry.InputRows(o0, o1);
            int a = Math.Max(0, u0);
            int b = Math.Min(inputRows, u1);
            padsBegin[l] = a - u0;
            padsEnd[l] = u1 - b;
            rowsIn[l] = b - a;
            rowsOut[l] = o1 - o0;
            o0 = a;
            o1 = b;
        }

        return new SpatialSlice(index, outputBegin, outputEnd, o0, o1, BuildModel($"slice{index}", rowsIn, rowsOut, padsBegin, padsEnd, keepBias: true, flatten: false));
    }

    /// <summary>The whole run as a model of its own (the reference a split is checked against).</summary>
    public ModelProto WholeModel()
    {
        var rowsIn = Layers.Select(l => (int)l.InputShape[2]).ToArray();
        var rowsOut = Layers.Select(l => (int)l.OutputShape[2]).ToArray();
        return BuildModel("whole", rowsIn, rowsOut, [.. Layers.Select(l => l.Windowed ? l.PadsBegin[0] : 0)], [.. Layers.Select(l => l.Windowed ? l.PadsEnd[0] : 0)], keepBias: true, flatten: false);
    }

    /// <summary>
    /// The model of one layer given explicit row pads and row counts: the layers of the run, their other spatial axes as
    /// resolved, the first spatial axis padded by <paramref name="padsBegin"/>/<paramref name="padsEnd"/>. Without
    /// <paramref name="keepBias"/> a Conv drops its bias (the linear part, for coding); with <paramref name="flatten"/> the
    /// output is flattened to [batch, elements].
    /// </summary>
    internal ModelProto BuildModel(string part, int[] rowsIn, int[] rowsOut, int[] padsBegin, int[] padsEnd, bool keepBias, bool flatten)
    {
        var g = new GraphProto { Name = $"{_source.Graph.Name}_{part}" };
        var used = new HashSet<string>(StringComparer.Ordinal);
        for (int l = 0; l < Layers.Count; l++)
        {
            var layer = Layers[l];
            var node = layer.Node.Clone();
            if (node.Name.Length == 0)
            {
                node.Name = $"{node.OpType}_{node.Output[0]}";
            }

            if (layer.Windowed)
            {
                int spatial = layer.Kernel.Length;
                RemoveAttribute(node, "auto_pad");
                RemoveAttribute(node, "pads");
                var pads = new AttributeProto { Name = "pads", Type = AttributeProto.Types.AttributeType.Ints };
                for (int i = 0; i < spatial; i++)
                {
                    pads.Ints.Add(i == 0 ? padsBegin[l] : layer.PadsBegin[i]);
                }

                for (int i = 0; i < spatial; i++)
                {
                    pads.Ints.Add(i == 0 ? padsEnd[l] : layer.PadsEnd[i]);
                }

                node.Attribute.Add(pads);
                if (!keepBias && node.OpType == "Conv" && node.Input.Count > 2)
                {
                    node.Input.RemoveAt(2);
                }
            }

            foreach (var input in node.Input.Skip(1))
            {
                used.Add(input);
            }

            g.Node.Add(node);
        }

        foreach (var name in used.Where(n => n.Length > 0))
        {
            if (_initializers.TryGetValue(name, out var init))
            {
                g.Initializer.Add(init.Clone());
            }
            else if (_constants.TryGetValue(name, out var constant) && !g.Node.Any(n => ReferenceEquals(n, constant)))
            {
                g.Node.Insert(0, constant.Clone());
            }
        }

        g.Input.Add(OnnxBuilder.FloatValue(InputName, WithRows(InputShape, rowsIn[0])));
        var outputShape = WithRows(OutputShape, rowsOut[^1]);
        if (flatten)
        {
            long elements = 1;
            for (int i = 1; i < outputShape.Length; i++)
            {
                elements *= outputShape[i];
            }

            var node = OnnxBuilder.Node("Flatten", [OutputName], ["flat"]);
            node.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
            g.Node.Add(node);
            g.Output.Add(OnnxBuilder.FloatValue("flat", [outputShape[0], elements]));
        }
        else
        {
            g.Output.Add(OnnxBuilder.FloatValue(OutputName, outputShape));
        }

        var model = new ModelProto { IrVersion = _source.IrVersion, ProducerName = "coach", ProducerVersion = "0.1", DocString = $"{part} of a row-split run", Graph = g };
        model.OpsetImport.AddRange(_source.OpsetImport.Select(o => o.Clone()));
        return model;
    }

    private static long[] WithRows(long[] shape, int rows)
    {
        var s = (long[])shape.Clone();
        s[2] = rows;
        return s;
    }

    private static void RemoveAttribute(NodeProto node, string name)
    {
        for (int i = node.Attribute.Count - 1; i >= 0; i--)
        {
            if (node.Attribute[i].Name == name)
            {
                node.Attribute.RemoveAt(i);
            }
        }
    }

    private static RunLayer Resolve(NodeProto node, string name, long[] input, Dictionary<string, TensorProto> initializers, Dictionary<string, NodeProto> constants)
    {
        int spatial = input.Length - 2;
        if (node.Output.Count(o => o.Length > 0) != 1)
        {
            throw new SpatialSplitException($"layer '{name}' ({node.OpType}) has {node.Output.Count} outputs; a run's layers have one");
        }

        if (Pointwise.Contains(node.OpType))
        {
            return new RunLayer(node, false, [], [], [], [], [], input, input);
        }

        if (Binary.Contains(node.OpType))
        {
            var other = node.Input.Count > 1 ? ParameterShape(node.Input[1], initializers, constants) : null;
            if (other is null)
            {
                throw new SpatialSplitException($"layer '{name}' ({node.OpType}) needs a weight as its second input");
            }

            int rowAxis = other.Length - spatial;
            if (rowAxis >= 0 && other[rowAxis] != 1)
            {
                throw new SpatialSplitException($"layer '{name}' ({node.OpType}) combines with a weight of shape [{string.Join(',', other)}] that varies along the rows; it cannot be split by rows");
            }

            return new RunLayer(node, false, [], [], [], [], [], input, input);
        }

        if (node.OpType is not ("Conv" or "MaxPool" or "AveragePool"))
        {
            throw new SpatialSplitException($"layer '{name}' is a {node.OpType}; a row-split run holds Conv, MaxPool, AveragePool and elementwise layers ({string.Join(", ", Pointwise.Order(StringComparer.Ordinal))}, and Add/Sub/Mul/Div by a weight)");
        }

        if (Int(node, "ceil_mode", 0) != 0)
        {
            throw new SpatialSplitException($"layer '{name}' ({node.OpType}) uses ceil_mode = 1; only floor-mode windows are split (re-export with ceil_mode = False)");
        }

        long[]? weight = null;
        if (node.OpType == "Conv")
        {
            weight = ParameterShape(node.Input[1], initializers, constants)
                ?? throw new SpatialSplitException($"layer '{name}' (Conv) reads weights '{node.Input[1]}' that are not an initializer or Constant");
        }

        var kernel = Ints(node, "kernel_shape") ?? (weight is not null ? weight.Skip(2).Select(d => (int)d).ToArray() : null)
            ?? throw new SpatialSplitException($"layer '{name}' ({node.OpType}) has no kernel_shape");
        if (kernel.Length != spatial)
        {
            throw new SpatialSplitException($"layer '{name}' ({node.OpType}) has a {kernel.Length}-D kernel for a {spatial}-D input of shape [{string.Join(',', input)}]");
        }

        var strides = Ints(node, "strides") ?? Enumerable.Repeat(1, spatial).ToArray();
        var dilations = Ints(node, "dilations") ?? Enumerable.Repeat(1, spatial).ToArray();
        var pads = Ints(node, "pads") ?? new int[2 * spatial];
        var begin = pads[..spatial];
        var end = pads[spatial..];
        string autoPad = String(node, "auto_pad") ?? "NOTSET";
        var output = new long[input.Length];
        output[0] = input[0];
        output[1] = weight is not null ? weight[0] : input[1];
        for (int i = 0; i < spatial; i++)
        {
            int size = checked((int)input[2 + i]);
            int extent = ((kernel[i] - 1) * dilations[i]) + 1;
            switch (autoPad)
            {
                case "NOTSET":
                    break;
                case "VALID":
                    begin[i] = end[i] = 0;
                    break;
                case "SAME_UPPER" or "SAME_LOWER":
                {
                    int outSize = (size + strides[i] - 1) / strides[i];
                    int total = Math.Max(0, ((outSize - 1) * strides[i]) + extent - size);
                    begin[i] = autoPad == "SAME_UPPER" ? total / 2 : total - (total / 2);
                    end[i] = total - begin[i];
                    break;
                }

                default:
                    throw new SpatialSplitException($"layer '{name}' has auto_pad '{autoPad}'; expected NOTSET, VALID, SAME_UPPER or SAME_LOWER");
            }

            output[2 + i] = ((size + begin[i] + end[i] - extent) / strides[i]) + 1;
            if (output[2 + i] < 1)
            {
                throw new SpatialSplitException($"layer '{name}' ({node.OpType}) has no output along spatial axis {i}: input {size}, extent {extent}, pads {begin[i]}+{end[i]}");
            }
        }

        return new RunLayer(node, true, kernel, strides, dilations, begin, end, input, output);
    }

    private static long[]? ParameterShape(string name, Dictionary<string, TensorProto> initializers, Dictionary<string, NodeProto> constants)
    {
        if (initializers.TryGetValue(name, out var t))
        {
            return [.. t.Dims];
        }

        if (constants.TryGetValue(name, out var c))
        {
            var value = c.Attribute.FirstOrDefault(a => a.Name == "value");
            return value?.T is { } tensor ? [.. tensor.Dims] : [];
        }

        return null;
    }

    private static int[]? Ints(NodeProto node, string name) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? [.. a.Ints.Select(v => checked((int)v))] : null;

    private static long Int(NodeProto node, string name, long fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.I : fallback;

    private static string? String(NodeProto node, string name) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.S.ToStringUtf8() : null;
}
