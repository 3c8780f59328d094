using Coach.Engine.Onnx;
using System.Security.Cryptography;
using Coach.Engine.Onnx.Proto;
using Coach.Transport.Faults;
using Google.Protobuf;

namespace Coach.Transport.Tests.Conformance;

/// <summary>
/// What the conformance clouds serve: the chaos plan (tail [N,4,2,2] → 10 logits, labels known)
/// with a model SHA-256 in plan.json, a "fragile" plan whose tail runs only batches of one (its
/// Reshape is fixed to [1,16], so a batch of two makes ONNX Runtime fail: TailFailed), and one
/// pre-shared key for <see cref="ClientId"/>.
/// </summary>
internal sealed class ConformancePlans : IDisposable
{
    public const string ClientId = "conformance-edge";

    public ConformancePlans()
    {
        Root = Path.Combine(Path.GetTempPath(), $"coach-conformance-{Guid.NewGuid():N}");
        string chaos = Path.Combine(Root, "plans", "chaos");
        Directory.CreateDirectory(chaos);
        File.WriteAllBytes(Path.Combine(chaos, "tail.onnx"), ChaosPlan.TailModel());
        File.WriteAllBytes(Path.Combine(chaos, "head.onnx"), ChaosPlan.HeadModel());
        File.WriteAllBytes(Path.Combine(chaos, "full.onnx"), ChaosPlan.FullModel());
        ModelSha256 = SHA256.HashData(ChaosPlan.FullModel());
        File.WriteAllText(Path.Combine(chaos, "plan.json"), $$"""{"id":"chaos","method":"chaos","model":{"path":"full.onnx","sha256":"{{Convert.ToHexStringLower(ModelSha256)}}"},"cut_tensors":[{"name":"cut","shape":[1,4,2,2],"bits":8}]}""");
        PlanHash = SHA256.HashData(File.ReadAllBytes(Path.Combine(chaos, "tail.onnx")));
        ChaosDirectory = chaos;

        string fragile = Path.Combine(Root, "plans", "fragile");
        Directory.CreateDirectory(fragile);
        byte[] fragileTail = FragileTail();
        File.WriteAllBytes(Path.Combine(fragile, "tail.onnx"), fragileTail);
        File.WriteAllText(Path.Combine(fragile, "plan.json"), """{"id":"fragile","method":"chaos","cut_tensors":[{"name":"cut","shape":[1,4,2,2],"bits":8}]}""");
        FragilePlanHash = SHA256.HashData(fragileTail);

        Key = RandomNumberGenerator.GetBytes(32);
        KeysDirectory = Path.Combine(Root, "keys");
        Directory.CreateDirectory(KeysDirectory);
        string keyFile = Path.Combine(KeysDirectory, ClientId + ".key");
        File.WriteAllText(keyFile, Convert.ToHexStringLower(Key));
        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    public string Root { get; }

    public string PlansDirectory => Path.Combine(Root, "plans");

    public string ChaosDirectory { get; }

    public string KeysDirectory { get; }

    public byte[] Key { get; }

    public byte[] ModelSha256 { get; }

    public byte[] PlanHash { get; }

    public byte[] FragilePlanHash { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>cut [N,4,2,2] → Reshape to [1,16] (fails for N > 1) → MatMul → logits.</summary>
    private static byte[] FragileTail()
    {
        var graph = new GraphProto { Name = "fragile_tail" };
        graph.Input.Add(OnnxBuilder.FloatValue("cut", [-1, 4, 2, 2]));
        graph.Output.Add(OnnxBuilder.FloatValue("logits", [-1, 10]));
        var weights = new TensorProto { Name = "w", DataType = 1 };
        weights.Dims.Add(16);
        weights.Dims.Add(10);
        for (int i = 0; i < 160; i++)
        {
            weights.FloatData.Add(i % 11 == 0 ? 1f : 0f);
        }

        var shape = new TensorProto { Name = "one_row", DataType = 7 };
        shape.Dims.Add(2);
        shape.Int64Data.Add(1);
        shape.Int64Data.Add(16);
        graph.Initializer.Add(weights);
        graph.Initializer.Add(shape);
        graph.Node.Add(OnnxBuilder.Node("Reshape", ["cut", "one_row"], ["flat"]));
        graph.Node.Add(OnnxBuilder.Node("MatMul", ["flat", "w"], ["logits"]));
        var model = new ModelProto { IrVersion = 8, ProducerName = "coach-conformance", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = 17 });
        return model.ToByteArray();
    }
}
