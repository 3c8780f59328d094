using Coach.Engine.Graph;
using Coach.Engine.Profiling;
using Coach.Engine.Tests.Graph;
using Coach.Native.OnnxRuntime;
using Google.Protobuf;

namespace Coach.Engine.Tests.Profiling;

public class LayerProfileTests
{
    private static string WriteModel(Coach.Engine.Onnx.Proto.ModelProto model)
    {
        var path = Path.Combine(Path.GetTempPath(), $"coach-profile-test-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    [Fact]
    public void ParserTakesMedianKernelTimesPerNode()
    {
        const string trace = """
        [{"cat":"Session","name":"model_run","dur":900,"ts":1,"ph":"X","args":{}},
         {"cat":"Node","name":"conv_kernel_time","dur":10,"args":{"op_name":"Conv","provider":"CPUExecutionProvider"}},
         {"cat":"Node","name":"conv_kernel_time","dur":30,"args":{"op_name":"Conv","provider":"CPUExecutionProvider"}},
         {"cat":"Node","name":"conv_kernel_time","dur":20,"args":{"op_name":"Conv","provider":"CPUExecutionProvider"}},
         {"cat":"Node","name":"conv_fence_before","dur":99,"args":{}}]
        """;
        var parsed = OrtProfileParser.Parse(trace);
        Assert.Equal([10.0, 30, 20], parsed.KernelMicroseconds["conv"]);
        Assert.Equal("Conv", parsed.OpTypes["conv"]);
        Assert.Equal("CPUExecutionProvider", parsed.Provider);
        Assert.Equal(20, OrtProfileParser.Median(parsed.KernelMicroseconds["conv"]));
        Assert.Equal([900.0], parsed.RunMicroseconds);
    }

    [Fact]
    public void ProfilerTimesEveryLayerOfARealModelAndRoundTripsAsJson()
    {
        var model = TestModelBuilder.ResidualInception(declareIntermediateShapes: false);
        var path = WriteModel(model);
        try
        {
            var reports = new List<ProfileProgress>();
            var profile = ModelProfiler.Profile(path, "test-cpu", new SessionSettings { Providers = [ExecutionProvider.Cpu], IntraOpThreads = 1 }, runs: 5, new SyncProgress(reports));
            var graph = LayerGraph.Load(path);
            Assert.Equal(graph.Nodes.Count, profile.Layers.Count);
            Assert.All(profile.Layers, l => Assert.True(l.Samples == 5 && l.MedianMicroseconds > 0, $"{l.Name}: {l.Samples} samples, {l.MedianMicroseconds} µs"));
            Assert.Equal(graph.Sha256, profile.ModelSha256);
            Assert.Equal("CPUExecutionProvider", profile.Provider);
            Assert.Equal(reports[^1].Total, reports[^1].Done);
            profile.EnsureMatches(graph);

            var json = Path.ChangeExtension(path, ".json");
            profile.Save(json);
            var loaded = LayerProfile.Load(json);
            Assert.Equal(profile.Layers, loaded.Layers);
            Assert.Contains("\"model_sha256\"", File.ReadAllText(json));
            File.Delete(json);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ProfileOfAnotherModelIsRefusedNamingTheHashes()
    {
        var a = LayerGraph.FromModel(TestModelBuilder.ResidualInception(true));
        var b = LayerGraph.FromModel(TestModelBuilder.TwoInputsTwoOutputs());
        var profile = new LayerProfile
        {
            ModelSha256 = a.Sha256, Device = "edge", Provider = "CPUExecutionProvider",
            Layers = [.. a.Nodes.Select(n => new LayerTiming(n.Name, n.OpType, 10, 3))],
        };
        var e = Assert.Throws<ProfileMismatchException>(() => profile.EnsureMatches(b));
        Assert.Contains(a.Sha256, e.Message);
        Assert.Contains(b.Sha256, e.Message);

        var missing = new LayerProfile
        {
            ModelSha256 = a.Sha256, Device = "edge", Provider = "CPUExecutionProvider",
            Layers = [.. a.Nodes.Skip(1).Select(n => new LayerTiming(n.Name, n.OpType, 10, 3))],
        };
        var f = Assert.Throws<ProfileMismatchException>(() => missing.EnsureMatches(a));
        Assert.Contains($"'{a.Nodes[0].Name}'", f.Message);
    }

    private sealed class SyncProgress(List<ProfileProgress> reports) : IProgress<ProfileProgress>
    {
        public void Report(ProfileProgress value) => reports.Add(value);
    }
}
