using Coach.Engine.Calibration;
using Coach.Engine.Data;
using Coach.Engine.DataPlane;
using Coach.Engine.Graph;
using Coach.Engine.Splitting;
using Coach.Native.Compression;
using Coach.Native.OnnxRuntime;
using Google.Protobuf;

namespace Coach.Engine.Tests.Calibration;

public sealed class CodedSizeTableTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("coach-coded-size-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void EveryFloatTensorOfTheBundledModelIsMeasuredAndAReluOutputCodesBelowItsPackedSize()
    {
        var graph = LayerGraph.Load(ModelCatalog.Get("resnet-fm112").Path);
        var frames = BundledData.LoadSlice(DataSplit.Calibration);
        var table = CodedSizeTable.Measure(graph, frames, frames: 3);
        var floats = graph.Tensors.Where(t => t.Producer >= 0 && t.ElementType == 1).Select(t => t.Name).ToHashSet();
        Assert.Equal(floats.Count, table.Ratios.Count);
        Assert.All(table.Ratios.Values, r => Assert.All(r, x => Assert.InRange(x, 0.0001, 1.0)));
        var relu = graph.Nodes.First(n => n.OpType == "Relu");
        var name = graph.Tensors[relu.Outputs[0]].Name;
        Assert.True(table.Ratio(name, 4) < 0.9, $"{name} at 4 bits: {table.Ratio(name, 4)}");
        Assert.Equal(1.0, table.Ratio(name, 32));
        Assert.Equal(1.0, table.Ratio("no such tensor", 4));

        // The same ratio measured independently: the head up to that tensor, UAQ, zstd.
        var onEdge = new bool[graph.Nodes.Count];
        foreach (var n in graph.Nodes.Where(n => n.Index <= relu.Index))
        {
            onEdge[n.Index] = true;
        }
        var split = ModelSplitter.Split(graph, [name], onEdge);
        using var head = InferenceSession.Open(split.Head!.ToByteArray(), new SessionSettings { Providers = [ExecutionProvider.Cpu] }, "head");
        using var coder = new Zstd();
        double coded = 0, packed = 0;
        var frame = DenseTensor.Create(TensorElementType.Float, [1, 3, 112, 112]);
        for (int f = 0; f < 3; f++)
        {
            frames.RenderFrame(f, frame.AsSpan<float>());
            var values = head.Run([new NamedTensor(graph.Tensors[graph.InputTensors[0]].Name, frame)], [name])[0].AsSpan<float>();
            var bytes = new byte[Uaq.PackedByteCount(values.Length, 4)];
            Uaq.QuantizePack(values, 4, bytes);
            var output = new byte[Zstd.MaxCompressedLength(bytes.Length)];
            Assert.True(coder.TryCompress(bytes, output, out int written));
            coded += Math.Min(written, bytes.Length);
            packed += bytes.Length;
        }
        Assert.Equal(Math.Round(coded / packed, 4), table.Ratio(name, 4), 3);
    }

    [Fact]
    public void TheTableIsCachedPerModelAndFrames()
    {
        var graph = LayerGraph.Load(ModelCatalog.Get("vgg-fm112").Path);
        var frames = BundledData.LoadSlice(DataSplit.Calibration);
        var first = CodedSizeTable.LoadOrMeasure(graph, frames, _directory, frames: 2);
        var file = Assert.Single(Directory.GetFiles(_directory));
        File.WriteAllText(file, File.ReadAllText(file).Replace(first.Ratios.First().Value[0].ToString(System.Globalization.CultureInfo.InvariantCulture), "0.125", StringComparison.Ordinal));
        var second = CodedSizeTable.LoadOrMeasure(graph, frames, _directory, frames: 2);
        Assert.Equal(0.125, second.Ratios.First().Value[0]);
    }
}
