using Coach.Engine.Onnx;
using Coach.Engine.Onnx.Proto;
using Coach.Transport.Edge;
using Google.Protobuf;

namespace Coach.Transport.Faults;

/// <summary>
/// A tiny split plan whose answers are known, for fault runs that must check every label: the
/// frame is [1,4,2,2]; head = Relu; tail = Reshape + MatMul by a 16×10 matrix whose column c sums
/// the elements j with j mod 10 = c; the full model is both (the edge's fallback). A frame that is
/// 1 at the elements of class c and small elsewhere has label c through the cloud and the fallback alike.
/// </summary>
public static class ChaosPlan
{
    private const int Elements = 16;
    private const int Classes = 10;

    /// <summary>Writes plan.json, head.onnx, tail.onnx and full.onnx into <paramref name="directory"/>.</summary>
    public static PlanDirectory Write(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, "head.onnx"), HeadModel());
        File.WriteAllBytes(Path.Combine(directory, "tail.onnx"), TailModel());
        File.WriteAllBytes(Path.Combine(directory, "full.onnx"), FullModel());
        File.WriteAllText(Path.Combine(directory, "plan.json"), """{"id":"chaos","method":"chaos","model":{"path":"full.onnx"},"cut_tensors":[{"name":"cut","shape":[1,4,2,2],"bits":8}]}""");
        return PlanDirectory.Load(directory);
    }

    /// <summary>Head: frame [N,4,2,2] → Relu → cut tensor "cut" (head(frame) = frame for frame ≥ 0).</summary>
    public static byte[] HeadModel() => Model("chaos_head", relu: true, matmul: false, "frame");

    /// <summary>Tail: cut tensor [N,4,2,2] named <paramref name="inputName"/> → Reshape → MatMul → logits [N,10].</summary>
    public static byte[] TailModel(string inputName = "cut") => Model("chaos_tail", relu: false, matmul: true, inputName);

    /// <summary>Full model (the edge's fallback): Relu → Reshape → MatMul.</summary>
    public static byte[] FullModel() => Model("chaos_full", relu: true, matmul: true, "frame");

    /// <summary>Frames of known labels (frame i has label 7·i mod 10).</summary>
    public sealed class Source(int count, Action<int>? onFrame = null) : IFrameSource
    {
        public int Count => count;

        public string Description => $"chaos pattern ({count} frames)";

        public int Label(int index) => (index * 7) % Classes;

        public void RenderFrame(int index, Span<float> chw)
        {
            onFrame?.Invoke(index);
            int label = Label(index);
            for (int j = 0; j < Elements; j++)
            {
                chw[j] = j % Classes == label ? 1f : 0.05f * (j % 3);
            }
        }
    }

    private static byte[] Model(string name, bool relu, bool matmul, string input)
    {
        var graph = new GraphProto { Name = name };
        graph.Input.Add(OnnxBuilder.FloatValue(input, matmul ? [-1, 4, 2, 2] : [-1, 4, 2, 2]));
        graph.Output.Add(OnnxBuilder.FloatValue(matmul ? "logits" : "cut", matmul ? [-1, Classes] : [-1, 4, 2, 2]));
        string current = input;
        if (relu)
        {
            string output = matmul ? "relu" : "cut";
            graph.Node.Add(OnnxBuilder.Node("Relu", [current], [output]));
            current = output;
        }

        if (matmul)
        {
            var weights = new TensorProto { Name = "w", DataType = 1 };
            weights.Dims.Add(Elements);
            weights.Dims.Add(Classes);
            for (int j = 0; j < Elements; j++)
            {
                for (int c = 0; c < Classes; c++)
                {
                    weights.FloatData.Add(j % Classes == c ? 1f : 0f);
                }
            }

            var shape = new TensorProto { Name = "flat_shape", DataType = 7 };
            shape.Dims.Add(2);
            shape.Int64Data.Add(-1);
            shape.Int64Data.Add(Elements);
            graph.Initializer.Add(weights);
            graph.Initializer.Add(shape);
            graph.Node.Add(OnnxBuilder.Node("Reshape", [current, "flat_shape"], ["flat"]));
            graph.Node.Add(OnnxBuilder.Node("MatMul", ["flat", "w"], ["logits"]));
        }

        var model = new ModelProto { IrVersion = 8, ProducerName = "coach-chaos", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = 17 });
        return model.ToByteArray();
    }
}
