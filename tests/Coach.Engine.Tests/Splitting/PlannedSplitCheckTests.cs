using Coach.Engine.Graph;
using Coach.Engine.Onnx.Proto;
using Coach.Engine.Planning;
using Coach.Engine.Splitting;
using Coach.Engine.Tests.Graph;
using Coach.Native.OnnxRuntime;
using Google.Protobuf;

namespace Coach.Engine.Tests.Splitting;

/// <summary><see cref="SplitVerifier.CheckPlannedSplit"/>: the files a plan deploys, checked against the full model.</summary>
public sealed class PlannedSplitCheckTests : IDisposable
{
    private static readonly SessionSettings Cpu = new() { Providers = [ExecutionProvider.Cpu], Optimization = GraphOptimization.Disabled };
    private readonly string _directory = Directory.CreateTempSubdirectory("coach-split-check-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private (string Model, string Head, string Tail) Write(ModelProto model, SplitModels split, string name)
    {
        string Save(ModelProto part, string file)
        {
            var path = Path.Combine(_directory, $"{name}-{file}");
            File.WriteAllBytes(path, part.ToByteArray());
            return path;
        }
        return (Save(model, "full.onnx"), Save(split.Head!, "head.onnx"), Save(split.Tail!, "tail.onnx"));
    }

    private static (LayerGraph Graph, bool[] OnEdge, string[] Cut) Partition(ModelProto model, int index)
    {
        var graph = LayerGraph.FromModel(model);
        var partitions = SplitHarness.AllPartitions(graph).Where(p => p.Any(x => x) && !p.All(x => x)).ToList();
        var onEdge = partitions[index % partitions.Count];
        var problem = SplitHarness.UnitProblem(graph);
        var cut = PipelineCostModel.CutTensors(problem, onEdge).Select(k => problem.Tensors[k].Name).ToArray();
        return (graph, onEdge, cut);
    }

    [Fact]
    public void AHeadAndTailOfTheModelReproduceIt()
    {
        var model = TestModelBuilder.ResidualInception(true);
        var (graph, onEdge, cut) = Partition(model, 7);
        var (full, head, tail) = Write(model, ModelSplitter.Split(graph, cut, onEdge), "good");
        Assert.True(SplitVerifier.CheckPlannedSplit(full, head, tail, Cpu) <= 1e-5);
        // Cloud-only (the full model as the tail) and edge-only (as the head) reproduce it too.
        Assert.Equal(0, SplitVerifier.CheckPlannedSplit(full, null, full, Cpu));
        Assert.Equal(0, SplitVerifier.CheckPlannedSplit(full, full, null, Cpu));
    }

    [Fact]
    public void ATailWhoseWeightsDifferIsReportedAsALargeDifference()
    {
        var model = TestModelBuilder.ResidualInception(true);
        var (graph, onEdge, cut) = Partition(model, 7);
        var split = ModelSplitter.Split(graph, cut, onEdge);
        var tampered = split.Tail!.Clone();
        var weight = tampered.Graph.Initializer.First(t => t.DataType == (int)TensorProto.Types.DataType.Float && (t.FloatData.Count > 0 || t.RawData.Length >= 4));
        if (weight.FloatData.Count > 0)
        {
            for (int i = 0; i < weight.FloatData.Count; i++)
            {
                weight.FloatData[i] += 1;
            }
        }
        else
        {
            var values = weight.RawData.ToByteArray();
            var floats = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(values.AsSpan());
            for (int i = 0; i < floats.Length; i++)
            {
                floats[i] += 1;
            }
            weight.RawData = ByteString.CopyFrom(values);
        }
        var (full, head, tail) = Write(model, split with { Tail = tampered }, "tampered");
        Assert.True(SplitVerifier.CheckPlannedSplit(full, head, tail, Cpu) > 1e-3);
    }

    [Fact]
    public void ATailFromAnotherCutIsRefusedNamingWhatItLacks()
    {
        var model = TestModelBuilder.ResidualInception(true);
        var (graph, onEdge, cut) = Partition(model, 3);
        var (otherGraph, otherEdge, otherCut) = Partition(model, 40);
        Assert.NotEqual(string.Join(',', cut), string.Join(',', otherCut));
        var (full, head, _) = Write(model, ModelSplitter.Split(graph, cut, onEdge), "a");
        var (_, _, otherTail) = Write(model, ModelSplitter.Split(otherGraph, otherCut, otherEdge), "b");
        var error = Assert.Throws<InvalidDataException>(() => SplitVerifier.CheckPlannedSplit(full, head, otherTail, Cpu));
        Assert.Contains("neither the model's inputs nor the head produce", error.Message, StringComparison.Ordinal);
    }
}
