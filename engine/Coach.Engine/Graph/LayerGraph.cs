using System.Security.Cryptography;
using Coach.Engine.Onnx.Proto;

namespace Coach.Engine.Graph;

/// <summary>What a value of the model is to the planner.</summary>
public enum TensorRole
{
    /// <summary>A graph input fed by the caller (a frame); produced by "the source", always on the edge.</summary>
    ModelInput,
    /// <summary>Produced by a layer; may become a cut tensor.</summary>
    Intermediate,
    /// <summary>An initializer or the output of a Constant node: weights, never transmitted.</summary>
    Parameter,
}

/// <summary>One value of the model with its shape (dynamic batch taken as 1) and byte size.</summary>
public sealed class GraphTensor
{
    internal GraphTensor(int index, string name, TensorRole role)
    {
        Index = index;
        Name = name;
        Role = role;
    }

    public int Index { get; }
    public string Name { get; }
    public TensorRole Role { get; }
    /// <summary>ONNX element type (TensorProto.DataType); 0 while unknown.</summary>
    public int ElementType { get; internal set; }
    /// <summary>Shape with a dynamic leading (batch) dimension resolved to 1; null while unknown.</summary>
    public long[]? Shape { get; internal set; }
    /// <summary>True when the model declares the leading dimension symbolic (dynamic batch).</summary>
    public bool DynamicBatch { get; internal set; }
    /// <summary>Index of the producing layer, or -1 for model inputs and parameters.</summary>
    public int Producer { get; internal set; } = -1;
    internal List<int> ConsumerList { get; } = [];
    /// <summary>Layers reading this value, in topological order.</summary>
    public IReadOnlyList<int> Consumers => ConsumerList;
    public bool IsModelOutput { get; internal set; }
    public bool ShapeKnown => Shape is not null && ElementType != 0;

    public long ElementCount
    {
        get
        {
            if (Shape is null)
            {
                return 0;
            }
            long count = 1;
            foreach (var d in Shape)
            {
                count *= d;
            }
            return count;
        }
    }

    /// <summary>Bytes of the value unquantized (one frame).</summary>
    public long ByteCount => ElementCount * OnnxElementTypes.ByteSize(ElementType);

    public override string ToString() => Shape is null
        ? $"{Name} (shape unknown)"
        : $"{Name} {OnnxElementTypes.Name(ElementType)}[{string.Join(",", Shape)}]";
}

/// <summary>One layer (ONNX node) of the DAG.</summary>
public sealed class LayerNode
{
    internal LayerNode(int index, NodeProto proto, string name)
    {
        Index = index;
        Proto = proto;
        Name = name;
    }

    /// <summary>Position in topological order.</summary>
    public int Index { get; internal set; }
    public string Name { get; }
    public string OpType => Proto.OpType;
    public string Domain => Proto.Domain;
    public NodeProto Proto { get; }
    internal List<int> InputList { get; } = [];
    internal List<int> OutputList { get; } = [];
    internal List<int> PredecessorList { get; } = [];
    internal List<int> SuccessorList { get; } = [];
    /// <summary>Non-parameter values this layer reads (model inputs and intermediates), without repeats.</summary>
    public IReadOnlyList<int> Inputs => InputList;
    /// <summary>Every value this layer produces.</summary>
    public IReadOnlyList<int> Outputs => OutputList;
    /// <summary>Layers producing a value this layer reads, without repeats.</summary>
    public IReadOnlyList<int> Predecessors => PredecessorList;
    public IReadOnlyList<int> Successors => SuccessorList;

    public override string ToString() => $"{Name} ({OpType})";
}

/// <summary>
/// An ONNX model read into a DAG of layers (docs/planner.md §1): nodes in topological order, every value with its
/// role, shape and byte size. Constant nodes and initializers are parameters, not layers.
/// </summary>
public sealed class LayerGraph
{
    private readonly Dictionary<string, int> _tensorIndex;
    private readonly Dictionary<string, int> _nodeIndex;

    internal LayerGraph(ModelProto model, string sha256, List<LayerNode> nodes, List<GraphTensor> tensors,
        List<int> inputs, List<int> outputs, List<NodeProto> constantNodes)
    {
        Model = model;
        Sha256 = sha256;
        Nodes = nodes;
        Tensors = tensors;
        InputTensors = inputs;
        OutputTensors = outputs;
        ConstantNodes = constantNodes;
        _tensorIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            _tensorIndex[t.Name] = t.Index;
        }
        _nodeIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var n in nodes)
        {
            _nodeIndex[n.Name] = n.Index;
        }
    }

    public ModelProto Model { get; }
    /// <summary>sha256 (lower-case hex) of the serialized model file.</summary>
    public string Sha256 { get; }
    /// <summary>Layers in topological order (Index = position).</summary>
    public IReadOnlyList<LayerNode> Nodes { get; }
    public IReadOnlyList<GraphTensor> Tensors { get; }
    public IReadOnlyList<int> InputTensors { get; }
    public IReadOnlyList<int> OutputTensors { get; }
    /// <summary>Constant nodes and nodes fed only by parameters: parameters, copied to whichever side of a split reads them.</summary>
    public IReadOnlyList<NodeProto> ConstantNodes { get; }

    public bool HasCompleteShapes => Tensors.All(t => t.Role == TensorRole.Parameter || t.ShapeKnown);

    public GraphTensor Tensor(string name) => _tensorIndex.TryGetValue(name, out var i)
        ? Tensors[i]
        : throw new ModelGraphException($"the model has no value named '{name}'. Values that can be cut are the outputs of its layers and its inputs.");

    /// <summary>Reads an ONNX file (no ONNX Runtime involved; shapes from the model's own value_info).</summary>
    public static LayerGraph Load(string modelPath)
    {
        if (!File.Exists(modelPath))
        {
            throw new FileNotFoundException($"model file '{modelPath}' does not exist", modelPath);
        }
        var bytes = File.ReadAllBytes(modelPath);
        return FromBytes(bytes, modelPath);
    }

    public static LayerGraph FromBytes(byte[] modelBytes, string displayName = "model")
    {
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(modelBytes);
        }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw new ModelGraphException($"'{displayName}' is not an ONNX model (protobuf parse failed: {e.Message})", e);
        }
        return FromModel(model, Convert.ToHexStringLower(SHA256.HashData(modelBytes)));
    }

    /// <summary>Builds the DAG of a parsed model; <paramref name="sha256"/> defaults to the hash of its serialization.</summary>
    public static LayerGraph FromModel(ModelProto model, string? sha256 = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        sha256 ??= Convert.ToHexStringLower(SHA256.HashData(Google.Protobuf.MessageExtensions.ToByteArray(model)));
        return LayerGraphBuilder.Build(model, sha256);
    }

    /// <summary>The name Coach gives a node: its own, or "OpType_position" when the model leaves it empty.</summary>
    public static string NodeName(NodeProto node, int position) =>
        string.IsNullOrEmpty(node.Name) ? $"{node.OpType}_{position}" : node.Name;
}
