using Coach.Engine.Data;
using Coach.Engine.Graph;
using Coach.Engine.Onnx.Proto;
using Coach.Engine.Splitting;
using Coach.Native.OnnxRuntime;
using Google.Protobuf;

namespace Coach.Engine.Tests.Splitting;

/// <summary>
/// Fragment re-alignment's numerics: a request cut early, run through the bridge to a later cut and then through the later
/// plan's tail, gets the logits its own tail gives (docs/fleet.md §4), on the bundled model at the fleet bench's cuts.
/// </summary>
public class FragmentBridgeTests
{
    private static readonly SessionSettings Cpu = new() { Providers = [ExecutionProvider.Cpu], IntraOpThreads = 1 };

    private const string StemConv = "/stem/stem.0/Conv_output_0";
    private const string StemPool = "/stem/stem.3/MaxPool_output_0";
    private const string Block3 = "/blocks/blocks.3/Add_output_0";

    public static TheoryData<string, string> Pairs() => new()
    {
        { StemConv, StemPool },
        { StemConv, Block3 },
        { StemPool, Block3 },
    };

    [Theory]
    [MemberData(nameof(Pairs))]
    public void BridgedThenLaterTailEqualsTheEarlierPlansOwnTail(string earlier, string later)
    {
        var graph = LayerGraph.Load(Path.Combine(ModelCatalog.RepositoryRoot, "models", "resnet-fm112.onnx"));
        ShapeDiscovery.Complete(graph);
        ModelProto earlierTail = ModelSplitter.Split(graph, [earlier]).Tail!;
        ModelProto laterTail = ModelSplitter.Split(graph, [later]).Tail!;

        ModelProto? bridge = FragmentBridge.TryBuild(earlierTail, [later], out string reason);
        Assert.True(bridge is not null, reason);
        Assert.Equal([earlier], bridge!.Graph.Input.Select(i => i.Name));
        Assert.Equal([later], bridge.Graph.Output.Select(o => o.Name));

        // A batch of 3 requests cut at the earlier point (non-negative, as after a ReLU; the values are arbitrary).
        NamedTensor[] inputs = SplitHarness.RandomInputs(earlierTail, batch: 3, seed: 11);
        using var own = InferenceSession.Open(earlierTail.ToByteArray(), Cpu, "earlier tail");
        using var bridged = InferenceSession.Open(bridge.ToByteArray(), Cpu, "bridge");
        using var tail = InferenceSession.Open(laterTail.ToByteArray(), Cpu, "later tail");
        string logits = own.Outputs[0].Name;
        DenseTensor expected = own.Run(inputs, [logits])[0];
        DenseTensor middle = bridged.Run(inputs, [later])[0];
        DenseTensor actual = tail.Run([new NamedTensor(later, middle)], [logits])[0];
        Assert.Equal(expected.Shape, actual.Shape);
        SplitHarness.AssertClose(expected, actual, 1e-4, $"{earlier} → {later}");
    }

    [Fact]
    public void ABridgeBackwardsIsRefusedWithTheReason()
    {
        var graph = LayerGraph.Load(Path.Combine(ModelCatalog.RepositoryRoot, "models", "resnet-fm112.onnx"));
        ShapeDiscovery.Complete(graph);
        ModelProto laterTail = ModelSplitter.Split(graph, [Block3]).Tail!;
        Assert.Null(FragmentBridge.TryBuild(laterTail, [StemPool], out string reason));
        Assert.Contains("not computed after the earlier cut", reason, StringComparison.Ordinal);
        Assert.Null(FragmentBridge.TryBuild(laterTail, [Block3], out reason));
        Assert.Contains("overlap", reason, StringComparison.Ordinal);
    }
}
