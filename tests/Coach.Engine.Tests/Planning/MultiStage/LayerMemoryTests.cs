using Coach.Engine.Graph;
using Coach.Engine.Planning.MultiStage;
using Coach.Engine.Tests.Graph;

namespace Coach.Engine.Tests.Planning.MultiStage;

public class LayerMemoryTests
{
    [Fact]
    public void EachLayerCountsTheParametersItReads()
    {
        var graph = LayerGraph.FromModel(TestModelBuilder.ResidualInception(declareIntermediateShapes: true));
        var memory = LayerMemory.FromGraph(graph);
        int stem = graph.Nodes.Select((n, i) => (n, i)).First(x => x.n.OpType == "Conv").i;
        int gemm = graph.Nodes.Select((n, i) => (n, i)).Single(x => x.n.OpType == "Gemm").i;
        int relu = graph.Nodes.Select((n, i) => (n, i)).First(x => x.n.OpType == "Relu").i;
        Assert.Equal((4 * 3 * 3 * 3 + 4) * 4, memory.WeightBytes[stem]); // 3x3 convolution 3 → 4 channels and its bias, float32
        Assert.Equal((5 * 8 + 5) * 4, memory.WeightBytes[gemm]);
        Assert.Equal(0, memory.WeightBytes[relu]);
    }
}
