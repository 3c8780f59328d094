using Coach.Engine.Graph;
using Coach.Engine.Planning;
using Coach.Engine.Profiling;
using Coach.Engine.Tests.Graph;
using Coach.Engine.Tests.Splitting;
using Coach.Native.OnnxRuntime;

namespace Coach.Engine.Tests.Planning;

public class PlanWriterTests
{
    private static (LayerGraph Graph, PlanningProblem Problem) SlowEdgeProblem(double bandwidth)
    {
        var graph = LayerGraph.FromModel(TestModelBuilder.ResidualInception(declareIntermediateShapes: false));
        ShapeDiscovery.Complete(graph);
        LayerProfile Profile(string device, double convMicroseconds) => new()
        {
            ModelSha256 = graph.Sha256, Device = device, Provider = "CPUExecutionProvider",
            Layers = [.. graph.Nodes.Select(n => new LayerTiming(n.Name, n.OpType, n.OpType == "Conv" ? convMicroseconds : convMicroseconds / 10, 5))],
        };
        var edge = Profile("edge", 400);
        var cloud = Profile("cloud", 40);
        return (graph, PlanningProblem.FromGraph(graph, edge, cloud, new CostSettings { BandwidthBitsPerSecond = bandwidth }, edgeSlowdown: 2));
    }

    [Theory]
    [InlineData("coach")]
    [InlineData("ns")]
    [InlineData("dads")]
    [InlineData("spinn")]
    [InlineData("jps")]
    [InlineData("edge")]
    [InlineData("cloud")]
    public void EveryMethodWritesAPlanTheTransportCanLoadAndThatComputesTheModel(string method)
    {
        var (graph, problem) = SlowEdgeProblem(5e5);
        var plan = Planners.Create(method).Plan(problem, new FixedBits(4));
        var dir = Path.Combine(Path.GetTempPath(), $"coach-plan-{method}-{Guid.NewGuid():N}");
        try
        {
            var doc = PlanWriter.Write(graph, problem, plan, new PlanContext("residual-inception", null, null, null, 2, 0.005), dir);
            Assert.Equal(method, doc.Method);
            Assert.Equal(plan.Cost.ThroughputPerSecond, doc.ThroughputFps, 9);
            Assert.Equal(doc.CutTensors.Length, doc.Bits.Length);
            var json = File.ReadAllText(Path.Combine(dir, "plan.json"));
            foreach (var field in new[] { "\"method\"", "\"cut_tensors\"", "\"bits\"", "\"t_edge_ms\"", "\"t_trans_ms\"", "\"t_cloud_ms\"", "\"latency_ms\"", "\"throughput_fps\"", "\"bubble_ms\"", "\"planner_ms\"", "\"scheduler\"", "\"model_sha256\"" })
            {
                Assert.Contains(field, json);
            }
            var loaded = PlanDocument.Load(dir);
            Assert.Equal(doc.Id, loaded.Id);

            var transport = Coach.Transport.PlanDirectory.Load(dir);
            Assert.Equal(doc.CutTensors.Select(c => c.Name), transport.CutTensors.Select(c => c.Name));
            Assert.Equal(doc.Bits, transport.CutTensors.Select(c => c.Bits));
            Assert.Equal(doc.CutTensors.Length == 0, transport.IsEdgeOnly);
            Assert.Equal(doc.Head is null && doc.Tail is not null, transport.IsCloudOnly);
            if (method is "edge" or "cloud")
            {
                Assert.Equal(method == "edge", transport.IsEdgeOnly);
                Assert.Equal(method == "cloud", transport.IsCloudOnly);
            }
            if (doc.Tail is not null)
            {
                Assert.Equal(doc.Tail.Sha256, transport.PlanHashHex);
            }

            // head.onnx then tail.onnx compute the model's output.
            var inputs = SplitHarness.RandomInputs(graph.Model, 1, 9);
            var values = inputs.ToDictionary(x => x.Name, x => x.Tensor);
            var cpu = new SessionSettings { Providers = [ExecutionProvider.Cpu] };
            if (doc.Head is not null)
            {
                using var head = InferenceSession.Open(Path.Combine(dir, "head.onnx"), cpu);
                var outs = head.Run([.. head.Inputs.Select(i => new NamedTensor(i.Name, values[i.Name]))], doc.Head.Outputs);
                for (int i = 0; i < outs.Length; i++)
                {
                    values[doc.Head.Outputs[i]] = outs[i];
                }
            }
            if (doc.Tail is not null)
            {
                using var tail = InferenceSession.Open(Path.Combine(dir, "tail.onnx"), cpu);
                var outs = tail.Run([.. doc.Tail.Inputs.Select(n => new NamedTensor(n, values[n]))], doc.Tail.Outputs);
                for (int i = 0; i < outs.Length; i++)
                {
                    values[doc.Tail.Outputs[i]] = outs[i];
                }
            }
            using var full = InferenceSession.Open(Google.Protobuf.MessageExtensions.ToByteArray(graph.Model), cpu);
            SplitHarness.AssertClose(full.Run(inputs)[0], values["logits"], 1e-5, method);
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, true);
            }
        }
    }

    [Fact]
    public void ExplanationNamesTheBottleneckAndCountsPartitions()
    {
        var (_, problem) = SlowEdgeProblem(5e5);
        var plan = new CoachPlanner().Plan(problem, new FixedBits(4));
        var text = PlanExplanation.Describe(problem, plan);
        Assert.Contains("bottleneck", text);
        Assert.Contains("Bubbles (eq. 5)", text);
        var space = PlanExplanation.SearchSpace(problem);
        Assert.Equal(SplitHarness.AllPartitions(LayerGraph.FromModel(TestModelBuilder.ResidualInception(true))).Count, (int)space.Ideals);
    }

    [Theory]
    [InlineData("10mbit", 10e6)]
    [InlineData("500kbit", 500e3)]
    [InlineData("1gbit", 1e9)]
    [InlineData("2.5Mbit/s", 2.5e6)]
    [InlineData("800000", 8e5)]
    public void BandwidthAcceptsTcUnits(string text, double expected) =>
        Assert.Equal(expected, Bandwidth.ParseBitsPerSecond(text));

    [Fact]
    public void BandwidthRejectsNonsense()
    {
        var e = Assert.Throws<FormatException>(() => Bandwidth.ParseBitsPerSecond("fast"));
        Assert.Contains("10mbit", e.Message);
    }

    [Theory]
    [InlineData("2.5Mbps")]
    [InlineData("100kbps")]
    [InlineData("8000bps")]
    public void ByteRateUnitsAreRefusedBecauseTcReadsThemAsBytes(string text)
    {
        var e = Assert.Throws<FormatException>(() => Bandwidth.ParseBitsPerSecond(text));
        Assert.Contains("BYTES per second", e.Message);
    }
}
