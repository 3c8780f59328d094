using Coach.Engine.Data;
using Coach.Engine.Onnx.Proto;
using Coach.Native.OnnxRuntime;
using Google.Protobuf;

namespace Coach.Engine.Tests.Data;

public class BundledModelTests
{
    // The floors the bundled models must meet (docs/models.md: ResNet-style ≥ 90 %, VGG-style ≥ 89 % top-1).
    private static double Floor(string name) => name.StartsWith("resnet", StringComparison.Ordinal) ? 0.90 : 0.89;

    public static TheoryData<string> ModelNames()
    {
        var data = new TheoryData<string>();
        foreach (var m in ModelCatalog.All)
        {
            data.Add(m.Name);
        }

        return data;
    }

    [Fact]
    public void TheManifestListsTheResNetStyleAndTheVggStyleModel()
    {
        Assert.Contains(ModelCatalog.All, m => m.Name == "resnet-fm112");
        Assert.Contains(ModelCatalog.All, m => m.Name == "vgg-fm112");
    }

    [Theory]
    [MemberData(nameof(ModelNames))]
    public void TheModelFileMatchesTheManifest(string name)
    {
        var entry = ModelCatalog.Get(name);
        Assert.True(File.Exists(entry.Path), entry.Path);
        Assert.True(entry.FileMatchesManifest(), $"{entry.Path} does not hash to {entry.Sha256}");
        Assert.True(new FileInfo(entry.Path).Length < 10 * 1024 * 1024);
        Assert.Equal(new long[] { -1, 3, 112, 112 }, entry.InputShape);
        Assert.True(entry.TestAccuracy >= Floor(name), $"manifest accuracy {entry.TestAccuracy} is below the floor {Floor(name)}");
    }

    [Theory]
    [MemberData(nameof(ModelNames))]
    public void AccuracyOnTheCommittedTestSliceMeetsTheFloorThroughOnnxRuntime(string name)
    {
        var entry = ModelCatalog.Get(name);
        var slice = BundledData.LoadSlice(DataSplit.Test);
        var result = ModelEvaluator.Evaluate(entry.Path, slice, batchSize: 50,
            settings: new SessionSettings { Providers = [ExecutionProvider.Cpu], IntraOpThreads = 2 });
        Assert.Equal(slice.Count, result.Samples);
        Assert.True(result.Accuracy >= Floor(name), $"{name}: {result.Accuracy:P2} on the slice, floor {Floor(name):P0}");
        // 2,000 samples: a standard error of ~0.6 points; the slice must agree with the full-set figure
        Assert.InRange(result.Accuracy, entry.TestAccuracy - 0.025, entry.TestAccuracy + 0.025);
    }

    [Theory]
    [MemberData(nameof(ModelNames))]
    public void EveryIntermediateTensorHasARecordedShape(string name)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(ModelCatalog.Get(name).Path));
        Assert.Equal(17, model.OpsetImport.Single(o => o.Domain is "" or "ai.onnx").Version);
        var shaped = model.Graph.ValueInfo.Concat(model.Graph.Output).ToDictionary(v => v.Name);
        foreach (var node in model.Graph.Node)
        {
            foreach (string output in node.Output)
            {
                Assert.True(shaped.ContainsKey(output), $"{name}: {node.OpType} output '{output}' has no value_info");
                Assert.NotEmpty(shaped[output].Type.TensorType.Shape.Dim);
            }
        }
    }

    [Fact]
    public void SomeResNetTensorQuantizedToFourBitsIsUnderATenthOfTheRawFrame()
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(ModelCatalog.Get("resnet-fm112").Path));
        int rawFrameBytes = FrameRenderer.PixelCount;   // uint8 3×112×112
        long smallest = long.MaxValue;
        foreach (var value in model.Graph.ValueInfo)
        {
            var dims = value.Type.TensorType.Shape.Dim;
            if (dims.Count != 4)
            {
                continue;   // feature maps only
            }

            long elements = dims.Skip(1).Aggregate(1L, (a, d) => a * d.DimValue);
            smallest = Math.Min(smallest, (elements * 4 + 7) / 8);
        }

        Assert.True(smallest * 10 < rawFrameBytes, $"smallest 4-bit feature map is {smallest} bytes; a tenth of the frame is {rawFrameBytes / 10}");
    }

    [Fact]
    public void AModelWhoseInputDoesNotMatchTheFramesIsRefusedWithTheShapes()
    {
        // a 28×28 single-channel "classifier": Flatten → [N, 784]
        var graph = new GraphProto { Name = "mnist-shaped" };
        graph.Input.Add(Value("pixels", "N", 1, 28, 28));
        graph.Output.Add(Value("flat", "N", 784));
        var node = new NodeProto { OpType = "Flatten", Name = "flatten" };
        node.Input.Add("pixels");
        node.Output.Add("flat");
        graph.Node.Add(node);
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });

        using var session = InferenceSession.Open(model.ToByteArray(), new SessionSettings { Providers = [ExecutionProvider.Cpu] }, "mnist-shaped.onnx");
        var frames = BundledData.LoadSlice(DataSplit.Test);
        var e = Assert.Throws<ModelDataMismatchException>(() => ModelEvaluator.Evaluate(session, frames));
        Assert.Contains("[N, 1, 28, 28]", e.Message);
        Assert.Contains("[N, 3, 112, 112]", e.Message);
    }

    private static ValueInfoProto Value(string name, params object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
        {
            shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d) });
        }

        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }
}
