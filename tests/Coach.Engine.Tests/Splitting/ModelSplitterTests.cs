using Coach.Engine.Graph;
using Coach.Engine.Onnx.Proto;
using Coach.Engine.Splitting;
using Coach.Engine.Tests.Graph;
using Coach.Native.OnnxRuntime;

namespace Coach.Engine.Tests.Splitting;

public class ModelSplitterTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void EveryPartitionOfAResidualInceptionNetReproducesTheFullModel(bool declared)
    {
        var model = TestModelBuilder.ResidualInception(declared);
        var graph = LayerGraph.FromModel(model);
        var partitions = SplitHarness.AllPartitions(graph);
        Assert.True(partitions.Count > 50, $"{partitions.Count} partitions");
        int n = SplitHarness.AssertEveryPartitionMatches(model, partitions, SplitHarness.RandomInputs(model, batch: 2, seed: 4));
        Assert.Equal(partitions.Count, n);
    }

    [Fact]
    public void EveryPartitionOfATwoInputTwoOutputModelReproducesIt()
    {
        var model = TestModelBuilder.TwoInputsTwoOutputs();
        var partitions = SplitHarness.AllPartitions(LayerGraph.FromModel(model));
        Assert.Equal(partitions.Count, SplitHarness.AssertEveryPartitionMatches(model, partitions, SplitHarness.RandomInputs(model, 3, 1)));
    }

    public static TheoryData<string> TestdataModels() =>
    [
        "pytorch-operator/test_operator_chunk",
        "pytorch-operator/test_operator_view",
        "pytorch-operator/test_operator_symbolic_override_nested",
        "pytorch-operator/test_operator_concat2",
        "pytorch-operator/test_operator_flatten",
        "pytorch-operator/test_operator_permute2",
        "pytorch-converted/test_Conv2d",
    ];

    [Theory]
    [MemberData(nameof(TestdataModels))]
    public void EveryPartitionOfOnnxTestdataModelsReproducesThem(string name)
    {
        var dir = Path.Combine("/usr/share/libonnx-testdata/data", name);
        Assert.True(Directory.Exists(dir), $"{dir} is missing: install the Debian package libonnx-testdata (./coach setup does)");
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dir, "model.onnx")));
        var graph = LayerGraph.FromModel(model);
        var inputs = graph.InputTensors.Select((t, i) => new NamedTensor(graph.Tensors[t].Name,
            Coach.Engine.Onnx.OnnxTensorReader.ReadFile(Path.Combine(dir, "test_data_set_0", $"input_{i}.pb")))).ToArray();
        var partitions = SplitHarness.AllPartitions(graph);
        Assert.Equal(partitions.Count, SplitHarness.AssertEveryPartitionMatches(model, partitions, inputs));
    }

    [Fact]
    public void TailReadingAModelInputThatIsNotCutIsRefused()
    {
        var graph = LayerGraph.FromModel(TestModelBuilder.ResidualInception(true));
        var stemRelu = graph.Nodes.First(n => n.OpType == "Relu");
        var e = Assert.Throws<InvalidCutException>(() => ModelSplitter.Split(graph, [graph.Tensors[stemRelu.Outputs[0]].Name]));
        Assert.Contains("'frame'", e.Message);
    }

    [Fact]
    public void TailKeepsTheDynamicBatchOfCutTensors()
    {
        var graph = LayerGraph.FromModel(TestModelBuilder.ResidualInception(false));
        ShapeDiscovery.Complete(graph);
        var stemRelu = graph.Nodes.First(n => n.OpType == "Relu");
        var split = ModelSplitter.Split(graph, [graph.Tensors[stemRelu.Outputs[0]].Name, "frame"]);
        var input = split.Tail!.Graph.Input.First(i => i.Name != "frame");
        Assert.Equal("N", input.Type.TensorType.Shape.Dim[0].DimParam);
        Assert.Equal(4, input.Type.TensorType.Shape.Dim[1].DimValue);
        Assert.DoesNotContain(split.Tail.Graph.Node, n => n.OpType == "Conv" && n.Input[0] == "frame" && split.Head!.Graph.Node.Contains(n));
    }
}
