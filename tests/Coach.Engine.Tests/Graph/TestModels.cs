using Coach.Engine.Onnx.Proto;
using Google.Protobuf;

namespace Coach.Engine.Tests.Graph;

/// <summary>Small ONNX models written with the proto types: residual, inception-like, input skip, constants, several inputs/outputs.</summary>
internal sealed class TestModelBuilder
{
    private readonly GraphProto _graph = new() { Name = "test" };
    private readonly Random _random;
    private int _counter;

    public TestModelBuilder(int seed = 1) => _random = new Random(seed);

    public GraphProto Graph => _graph;

    public static ValueInfoProto Value(string name, int elementType, params object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
        {
            shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d) });
        }
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elementType, Shape = shape } } };
    }

    public void Input(string name, params object[] dims) => _graph.Input.Add(Value(name, 1, dims));

    public void Output(string name, params object[] dims) => _graph.Output.Add(Value(name, 1, dims));

    public string Weight(params long[] dims)
    {
        var name = $"w{_counter++}";
        long count = dims.Aggregate(1L, (a, b) => a * b);
        var t = new TensorProto { Name = name, DataType = 1 };
        t.Dims.AddRange(dims);
        var data = new float[count];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (float)(_random.NextDouble() - 0.5) * 0.5f;
        }
        t.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()));
        _graph.Initializer.Add(t);
        return name;
    }

    public string Node(string op, string[] inputs, params (string Name, object Value)[] attributes)
    {
        var output = $"{op.ToLowerInvariant()}{_counter++}";
        NodeTo(op, inputs, output, attributes);
        return output;
    }

    public void NodeTo(string op, string[] inputs, string output, params (string Name, object Value)[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = $"{op}_{output}" };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        foreach (var (name, value) in attributes)
        {
            var a = new AttributeProto { Name = name };
            switch (value)
            {
                case long[] ints:
                    a.Type = AttributeProto.Types.AttributeType.Ints;
                    a.Ints.AddRange(ints);
                    break;
                case long i:
                    a.Type = AttributeProto.Types.AttributeType.Int;
                    a.I = i;
                    break;
                case TensorProto t:
                    a.Type = AttributeProto.Types.AttributeType.Tensor;
                    a.T = t;
                    break;
            }
            node.Attribute.Add(a);
        }
        _graph.Node.Add(node);
    }

    public string Conv(string input, int inChannels, int outChannels, int kernel) =>
        Node("Conv", [input, Weight(outChannels, inChannels, kernel, kernel), Weight(outChannels)],
            ("pads", new long[] { kernel / 2, kernel / 2, kernel / 2, kernel / 2 }));

    public string Constant(float value)
    {
        var t = new TensorProto { DataType = 1 };
        t.FloatData.Add(value);
        return Node("Constant", [], ("value", t));
    }

    public string ConstantInt64(params long[] values)
    {
        var t = new TensorProto { DataType = 7 };
        t.Dims.Add(values.Length);
        t.Int64Data.AddRange(values);
        return Node("Constant", [], ("value", t));
    }

    public ModelProto Build()
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "coach-tests", Graph = _graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return model;
    }

    /// <summary>
    /// A ResNet/Inception-shaped CNN on [N,3,8,8]: stem, residual block with projection, inception-like block of three
    /// branches, a skip from the model input to the end, a Constant used on both sides, and a Reshape by a Constant shape.
    /// </summary>
    public static ModelProto ResidualInception(bool declareIntermediateShapes)
    {
        var b = new TestModelBuilder(3);
        b.Input("frame", "N", 3, 8, 8);
        var scale = b.Constant(0.5f);
        var stem = b.Node("Relu", [b.Conv("frame", 3, 4, 3)]);
        var scaled = b.Node("Mul", [stem, scale]);
        var main = b.Conv(b.Node("Relu", [b.Conv(scaled, 4, 4, 3)]), 4, 4, 3);
        var projection = b.Conv(scaled, 4, 4, 1);
        var res = b.Node("Relu", [b.Node("Add", [main, projection])]);
        var branch1 = b.Conv(res, 4, 2, 1);
        var branch2 = b.Conv(b.Node("Relu", [b.Conv(res, 4, 2, 1)]), 2, 2, 3);
        var branch3 = b.Node("MaxPool", [res], ("kernel_shape", new long[] { 3, 3 }), ("pads", new long[] { 1, 1, 1, 1 }), ("strides", new long[] { 1, 1 }));
        var concat = b.Node("Concat", [branch1, branch2, branch3], ("axis", 1L));
        var fromInput = b.Conv("frame", 3, 8, 1);
        var joined = b.Node("Mul", [b.Node("Add", [concat, fromInput]), scale]);
        var pooled = b.Node("GlobalAveragePool", [joined]);
        var flat = b.Node("Reshape", [pooled, b.ConstantInt64(0, -1)]);
        b.NodeTo("Gemm", [flat, b.Weight(5, 8), b.Weight(5)], "logits", ("transB", 1L));
        b.Output("logits", "N", 5);
        var model = b.Build();
        if (declareIntermediateShapes)
        {
            DeclareShapes(model);
        }
        return model;
    }

    /// <summary>Two inputs, two outputs, a model input read late.</summary>
    public static ModelProto TwoInputsTwoOutputs()
    {
        var b = new TestModelBuilder(5);
        b.Input("a", "N", 4);
        b.Input("b", "N", 4);
        var h = b.Node("MatMul", ["a", b.Weight(4, 4)]);
        var s = b.Node("Add", [h, "b"]);
        var t = b.Node("Tanh", [s]);
        b.NodeTo("Relu", [t], "out1");
        b.NodeTo("Sigmoid", [h], "out2");
        b.Output("out1", "N", 4);
        b.Output("out2", "N", 4);
        return b.Build();
    }

    /// <summary>Adds value_info for every intermediate (shapes known from the layer structure of ResidualInception).</summary>
    private static void DeclareShapes(ModelProto model)
    {
        var graph = Coach.Engine.Graph.LayerGraph.FromModel(model);
        Coach.Engine.Graph.ShapeDiscovery.Complete(graph);
        foreach (var t in graph.Tensors.Where(t => t.Role == Coach.Engine.Graph.TensorRole.Intermediate && !t.IsModelOutput))
        {
            var dims = t.Shape!.Select((d, i) => i == 0 && t.Shape!.Length > 1 ? (object)"N" : d).ToArray();
            model.Graph.ValueInfo.Add(Value(t.Name, t.ElementType, dims));
        }
    }
}
