using Coach.Engine.Onnx.Proto;

namespace Coach.Engine.Onnx;

/// <summary>Pieces of small ONNX graphs written in code (the chaos bench's plan, test models).</summary>
public static class OnnxBuilder
{
    /// <summary>A node named after its operator and first output.</summary>
    public static NodeProto Node(string op, string[] inputs, string[] outputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputs);
        var node = new NodeProto { OpType = op, Name = $"{op}_{outputs[0]}" };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        return node;
    }

    /// <summary>A float32 graph input or output; a negative dimension is the dynamic batch "N".</summary>
    public static ValueInfoProto FloatValue(string name, long[] dims)
    {
        ArgumentNullException.ThrowIfNull(dims);
        var shape = new TensorShapeProto();
        foreach (long d in dims)
        {
            shape.Dim.Add(d < 0 ? new TensorShapeProto.Types.Dimension { DimParam = "N" } : new TensorShapeProto.Types.Dimension { DimValue = d });
        }

        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }
}
