using Coach.Engine.Graph;
using Coach.Engine.Onnx.Proto;

namespace Coach.Engine.Tests.Graph;

public class LayerGraphTests
{
    [Fact]
    public void ReadsLayersTensorsAndShapesOfADeclaredModel()
    {
        var graph = LayerGraph.FromModel(TestModelBuilder.ResidualInception(declareIntermediateShapes: true));
        Assert.True(graph.HasCompleteShapes);
        Assert.DoesNotContain(graph.Nodes, n => n.OpType == "Constant");
        Assert.Equal(2, graph.ConstantNodes.Count);
        var frame = graph.Tensor("frame");
        Assert.Equal(TensorRole.ModelInput, frame.Role);
        Assert.True(frame.DynamicBatch);
        Assert.Equal([1L, 3, 8, 8], frame.Shape!);
        Assert.Equal(3 * 8 * 8 * 4, frame.ByteCount);
        Assert.Equal(2, frame.Consumers.Count); // the stem and the skip from the input
        Assert.True(graph.Tensor("logits").IsModelOutput);
        for (int i = 0; i < graph.Nodes.Count; i++)
        {
            Assert.Equal(i, graph.Nodes[i].Index);
            Assert.All(graph.Nodes[i].Predecessors, p => Assert.True(p < i));
        }
        Assert.All(graph.Tensors.Where(t => t.Role == TensorRole.Parameter), t => Assert.Empty(t.Consumers));
    }

    [Fact]
    public void ShapeDiscoveryFillsShapesMissingFromValueInfo()
    {
        var graph = LayerGraph.FromModel(TestModelBuilder.ResidualInception(declareIntermediateShapes: false));
        Assert.False(graph.HasCompleteShapes);
        ShapeDiscovery.Complete(graph);
        Assert.True(graph.HasCompleteShapes);
        var concat = graph.Tensors.Single(t => t.Producer >= 0 && graph.Nodes[t.Producer].OpType == "Concat");
        Assert.Equal([1L, 8, 8, 8], concat.Shape!);
    }

    [Fact]
    public void CycleIsReportedWithANodeOnIt()
    {
        var b = new TestModelBuilder();
        b.Input("x", 1, 4);
        b.NodeTo("Relu", ["x2"], "x1");
        b.NodeTo("Relu", ["x1"], "x2");
        b.NodeTo("Relu", ["x"], "y");
        b.Output("y", 1, 4);
        var e = Assert.Throws<ModelGraphException>(() => LayerGraph.FromModel(b.Build()));
        Assert.Contains("cycle", e.Message);
        Assert.Contains("Relu_x1", e.Message);
    }

    [Fact]
    public void ControlFlowAndForeignDomainsAreRefusedNamingTheNode()
    {
        var b = new TestModelBuilder();
        b.Input("x", 1, 4);
        b.NodeTo("Loop", ["x"], "y");
        b.Output("y", 1, 4);
        var e = Assert.Throws<ModelGraphException>(() => LayerGraph.FromModel(b.Build()));
        Assert.Contains("'Loop_y'", e.Message);
        Assert.Contains("control-flow", e.Message);

        var c = new TestModelBuilder();
        c.Input("x", 1, 4);
        c.NodeTo("Relu", ["x"], "y");
        c.Graph.Node[0].Domain = "com.example.custom";
        c.Output("y", 1, 4);
        var f = Assert.Throws<ModelGraphException>(() => LayerGraph.FromModel(c.Build()));
        Assert.Contains("'Relu_y'", f.Message);
        Assert.Contains("com.example.custom", f.Message);
    }

    [Fact]
    public void UnknownInputValueIsNamed()
    {
        var b = new TestModelBuilder();
        b.Input("x", 1, 4);
        b.NodeTo("Add", ["x", "ghost"], "y");
        b.Output("y", 1, 4);
        var e = Assert.Throws<ModelGraphException>(() => LayerGraph.FromModel(b.Build()));
        Assert.Contains("'ghost'", e.Message);
    }

    [Fact]
    public void SeveralInputsAndOutputsAreAccepted()
    {
        var graph = LayerGraph.FromModel(TestModelBuilder.TwoInputsTwoOutputs());
        Assert.Equal(2, graph.InputTensors.Count);
        Assert.Equal(2, graph.OutputTensors.Count);
        Assert.Equal(5, graph.Nodes.Count);
    }

    [Fact]
    public void UnnamedNodesGetStableNames()
    {
        var model = TestModelBuilder.TwoInputsTwoOutputs();
        foreach (var n in model.Graph.Node)
        {
            n.Name = "";
        }
        var graph = LayerGraph.FromModel(model);
        Assert.Contains(graph.Nodes, n => n.Name == "MatMul_0");
        var renamed = OperatorSupport.WithCanonicalNodeNames(model);
        Assert.Equal("MatMul_0", renamed.Graph.Node[0].Name);
        Assert.Equal("", model.Graph.Node[0].Name); // the original is untouched
        _ = new NodeProto();
    }
}
