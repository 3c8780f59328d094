using System.Buffers;
using Coach.Engine.Onnx.Proto;
using Google.Protobuf;

namespace Coach.Transport.Tests;

/// <summary>A ReadOnlySequence made of many segments, to exercise frames split anywhere.</summary>
internal sealed class ChunkSegment : ReadOnlySequenceSegment<byte>
{
    public ChunkSegment(ReadOnlyMemory<byte> memory) => Memory = memory;

    public ChunkSegment Append(ReadOnlyMemory<byte> memory)
    {
        var next = new ChunkSegment(memory) { RunningIndex = RunningIndex + Memory.Length };
        Next = next;
        return next;
    }

    /// <summary>Splits <paramref name="bytes"/> into chunks of 1 … <paramref name="maxChunk"/> bytes (seeded).</summary>
    public static ReadOnlySequence<byte> Split(byte[] bytes, int maxChunk, int seed)
    {
        var random = new Random(seed);
        int first = Math.Min(bytes.Length, random.Next(1, maxChunk + 1));
        var head = new ChunkSegment(bytes.AsMemory(0, first));
        ChunkSegment tail = head;
        int offset = first;
        while (offset < bytes.Length)
        {
            int size = Math.Min(bytes.Length - offset, random.Next(1, maxChunk + 1));
            tail = tail.Append(bytes.AsMemory(offset, size));
            offset += size;
        }

        return new ReadOnlySequence<byte>(head, 0, tail, tail.Memory.Length);
    }
}

/// <summary>
/// Tiny ONNX models built with the protobuf types, whose answers are known: the "tail" flattens a
/// [N,4,2,2] cut tensor and multiplies by a 16×10 matrix whose column c sums the elements j with
/// j mod 10 = c, so a tensor that is 1 at those elements and 0 elsewhere has label c.
/// </summary>
internal static class TinyModels
{
    public const int CutChannels = 4;
    public const int CutElements = 16;
    public const int Classes = 10;

    /// <summary>A cut tensor (one frame) whose tail label is <paramref name="label"/>.</summary>
    public static float[] CutTensorFor(int label, float scale = 1f)
    {
        float[] values = new float[CutElements];
        for (int j = 0; j < CutElements; j++)
        {
            values[j] = j % Classes == label ? scale : 0.05f * (j % 3);
        }

        return values;
    }

    public static byte[] Tail(string inputName = "cut")
    {
        var graph = new GraphProto { Name = "tiny_tail" };
        graph.Input.Add(Value(inputName, ["N", 4L, 2L, 2L]));
        graph.Output.Add(Value("logits", ["N", 10L]));
        graph.Initializer.Add(Weights("w"));
        graph.Initializer.Add(Int64s("flat_shape", [-1, CutElements]));
        graph.Node.Add(Node("Reshape", [inputName, "flat_shape"], ["flat"]));
        graph.Node.Add(Node("MatMul", ["flat", "w"], ["logits"]));
        return Model(graph);
    }

    /// <summary>Head: frame [N,4,2,2] → Relu → cut tensor "cut" (so head(frame) = frame for frame ≥ 0).</summary>
    public static byte[] Head()
    {
        var graph = new GraphProto { Name = "tiny_head" };
        graph.Input.Add(Value("frame", ["N", 4L, 2L, 2L]));
        graph.Output.Add(Value("cut", ["N", 4L, 2L, 2L]));
        graph.Node.Add(Node("Relu", ["frame"], ["cut"]));
        return Model(graph);
    }

    /// <summary>Full model (edge-only): Relu → Reshape → MatMul.</summary>
    public static byte[] Full()
    {
        var graph = new GraphProto { Name = "tiny_full" };
        graph.Input.Add(Value("frame", ["N", 4L, 2L, 2L]));
        graph.Output.Add(Value("logits", ["N", 10L]));
        graph.Initializer.Add(Weights("w"));
        graph.Initializer.Add(Int64s("flat_shape", [-1, CutElements]));
        graph.Node.Add(Node("Relu", ["frame"], ["cut"]));
        graph.Node.Add(Node("Reshape", ["cut", "flat_shape"], ["flat"]));
        graph.Node.Add(Node("MatMul", ["flat", "w"], ["logits"]));
        return Model(graph);
    }

    /// <summary>Writes a plan directory: plan.json (+ head.onnx / tail.onnx as given).</summary>
    public static string WritePlan(string root, string id, byte[]? head, byte[]? tail, int bits, string cutName = "cut")
    {
        string dir = Path.Combine(root, id);
        Directory.CreateDirectory(dir);
        if (head is not null)
        {
            File.WriteAllBytes(Path.Combine(dir, "head.onnx"), head);
        }

        if (tail is not null)
        {
            File.WriteAllBytes(Path.Combine(dir, "tail.onnx"), tail);
        }

        string cuts = tail is null ? "[]" : $"[{{\"name\":\"{cutName}\",\"shape\":[1,4,2,2],\"bits\":{bits}}}]";
        File.WriteAllText(Path.Combine(dir, "plan.json"), $"{{\"id\":\"{id}\",\"method\":\"test\",\"cut_tensors\":{cuts}}}");
        return dir;
    }

    private static byte[] Model(GraphProto graph)
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "coach-tests", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = 17 });
        return model.ToByteArray();
    }

    private static NodeProto Node(string op, string[] inputs, string[] outputs)
    {
        var node = new NodeProto { OpType = op, Name = $"{op}_{outputs[0]}" };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        return node;
    }

    private static ValueInfoProto Value(string name, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (object d in dims)
        {
            shape.Dim.Add(d is string p ? new TensorShapeProto.Types.Dimension { DimParam = p } : new TensorShapeProto.Types.Dimension { DimValue = (long)d });
        }

        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } },
        };
    }

    private static TensorProto Weights(string name)
    {
        var tensor = new TensorProto { Name = name, DataType = 1 };
        tensor.Dims.Add(CutElements);
        tensor.Dims.Add(Classes);
        for (int j = 0; j < CutElements; j++)
        {
            for (int c = 0; c < Classes; c++)
            {
                tensor.FloatData.Add(j % Classes == c ? 1f : 0f);
            }
        }

        return tensor;
    }

    private static TensorProto Int64s(string name, long[] values)
    {
        var tensor = new TensorProto { Name = name, DataType = 7 };
        tensor.Dims.Add(values.Length);
        tensor.Int64Data.AddRange(values);
        return tensor;
    }
}
