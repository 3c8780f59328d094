using Coach.Engine.Data;
using Coach.Engine.Graph;
using Coach.Engine.Planning;
using Coach.Engine.Planning.MultiStage;
using Coach.Native.OnnxRuntime;

namespace Coach.Engine.Tests.Planning.MultiStage;

/// <summary>
/// <c>coach plan --devices</c> end to end (docs/edgepipe.md §4): the chain file read, the plan made with COACH's bits
/// source, the stage models written and run one after another through ONNX Runtime.
/// </summary>
public sealed class PipelinePlanningSessionTests(ITestOutputHelper output) : IDisposable
{
    private static readonly SessionSettings Cpu = new() { Providers = [ExecutionProvider.Cpu], IntraOpThreads = 1 };
    private readonly string _dir = Directory.CreateTempSubdirectory("coach-pipe-plan-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [MemberData(nameof(BundledModelPlanTests.Models), MemberType = typeof(BundledModelPlanTests))]
    public void OneEdgeDeviceGivesCoachPlanOfCoachPlanCommand(string name)
    {
        string profile = BundledModelPlanTests.ProfilePath(name);
        string devices = WriteChain("two.json", profile, [("edge", "10mbit", null)], null);
        var pipe = PipelinePlanningSession.Run(new PipelinePlanningOptions { Model = name, DevicesFile = devices, BitsSource = "fixed:6" });
        var coach = PlanningSession.Run(new PlanningOptions
        {
            Model = name, EdgeProfile = profile, CloudProfile = profile, EdgeSlowdown = BundledModelPlanTests.EdgeSlowdown,
            // Layer cuts only: the k-stage planner cuts the graph; COACH's compressed input cut (docs/planner.md) is not a stage.
            Bandwidth = "10mbit", Method = "coach", BitsSource = "fixed:6", InputCodec = "none",
        }).Document;
        var doc = pipe.Document;
        output.WriteLine($"{name}: COACH cut [{string.Join(", ", coach.CutTensors.Select(c => $"{c.Name}@{c.Bits}"))}] {coach.ThroughputFps:F2} fps; "
            + $"k = 2 [{string.Join(", ", doc.Stages[0].Link!.CutTensors.Select(c => $"{c.Name}@{c.Bits}"))}] {doc.ThroughputFps:F2} fps, planner {doc.PlannerMs:F1} ms");
        Assert.Equal(2, doc.K);
        Assert.Equal(coach.EdgeLayers.Length, doc.Stages[0].Layers);
        Assert.Equal(coach.CutTensors.Select(c => c.Name), doc.Stages[0].Link!.CutTensors.Select(c => c.Name));
        Assert.Equal(coach.Bits, doc.Stages[0].Link!.Bits);
        Assert.Equal(coach.ThroughputFps, doc.ThroughputFps, 6);
        Assert.Equal(coach.TEdgeMs, doc.Stages[0].TMs, 6);
        Assert.Equal(coach.TCloudMs, doc.Stages[1].TMs, 6);
        Assert.True(doc.PlannerMs > 0);
    }

    [Theory]
    [MemberData(nameof(BundledModelPlanTests.Models), MemberType = typeof(BundledModelPlanTests))]
    public void StageModelsRunInChainReproduceTheFullModel(string name)
    {
        string profile = BundledModelPlanTests.ProfilePath(name);
        // Fast local links between three slow boards, a slow uplink: every stage takes layers.
        string devices = WriteChain("four.json", profile, [("a", "1gbit", null), ("b", "1gbit", null), ("c", "10mbit", null)], null);
        string planDir = Path.Combine(_dir, "plan");
        var result = PipelinePlanningSession.Run(new PipelinePlanningOptions { Model = name, DevicesFile = devices, BitsSource = "fixed:6", OutputDirectory = planDir });
        var doc = PipelinePlanDocument.Load(Path.Combine(planDir, PipelinePlanningSession.PlanFile));
        Assert.Equal(result.Document.Id, doc.Id);
        Assert.Equal(4, doc.K);
        Assert.Equal(result.Graph.Nodes.Count, doc.Stages.Sum(s => s.Layers));

        using var full = InferenceSession.Open(Google.Protobuf.MessageExtensions.ToByteArray(result.Graph.Model), Cpu, "full");
        var inputs = SyntheticInputs.Create(full.Inputs, seed: 11);
        var outputNames = full.Outputs.Select(o => o.Name).ToArray();
        var expected = full.Run(inputs, outputNames);

        // What each hop holds: exactly what it received, no more (a stage reading a value it was not sent fails here).
        var received = inputs.ToDictionary(x => x.Name, x => x.Tensor, StringComparer.Ordinal);
        Dictionary<string, DenseTensor> answers = new(StringComparer.Ordinal);
        foreach (var stage in doc.Stages)
        {
            Assert.Equal(received.Keys.Order(StringComparer.Ordinal), stage.Receives.Order(StringComparer.Ordinal));
            var produced = new Dictionary<string, DenseTensor>(StringComparer.Ordinal);
            if (stage.Model is { } part)
            {
                string file = Path.Combine(planDir, part.File);
                Assert.Equal(part.Sha256, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(file))));
                using var session = InferenceSession.Open(file, Cpu);
                var values = session.Run([.. part.Inputs.Select(n => new NamedTensor(n, received[n]))], part.Outputs);
                for (int i = 0; i < values.Length; i++)
                {
                    produced[part.Outputs[i]] = values[i];
                }
            }
            if (stage.Link is null)
            {
                answers = produced;
                break;
            }
            var next = new Dictionary<string, DenseTensor>(StringComparer.Ordinal);
            foreach (var cut in stage.Link.CutTensors)
            {
                bool relayed = stage.Relays.Contains(cut.Name);
                Assert.Equal(relayed, !produced.ContainsKey(cut.Name));
                next[cut.Name] = relayed ? received[cut.Name] : produced[cut.Name];
            }
            received = next;
        }
        output.WriteLine($"{name}: layers per stage {string.Join(" / ", doc.Stages.Select(s => s.Layers))}, relayed {string.Join(" / ", doc.Stages.Select(s => s.Relays.Length))}");
        for (int o = 0; o < outputNames.Length; o++)
        {
            var e = expected[o].AsSpan<float>();
            var a = answers[outputNames[o]].AsSpan<float>();
            Assert.Equal(e.Length, a.Length);
            for (int i = 0; i < e.Length; i++)
            {
                Assert.True(Math.Abs(e[i] - a[i]) <= 1e-4 * Math.Max(1, Math.Abs(e[i])), $"{outputNames[o]}[{i}]: {a[i]} against the full model's {e[i]}");
            }
        }
    }

    [Fact]
    public void AModelOverOneDevicesBudgetIsRefusedOnOneDeviceAndRunsAcrossFour()
    {
        const string name = "resnet-fm112";
        string profile = BundledModelPlanTests.ProfilePath(name);
        const long budget = 1_000_000; // below the model's 1.09 MB of weights
        string one = WriteChain("one.json", profile, [("edge", "10mbit", budget)], budget);
        var e = Assert.Throws<MemoryBudgetException>(() => PipelinePlanningSession.Run(new PipelinePlanningOptions { Model = name, DevicesFile = one, BitsSource = "fixed:6" }));
        output.WriteLine(e.Message);
        Assert.Contains("memory budgets", e.Message, StringComparison.Ordinal);
        Assert.Contains("'edge' 1 MB", e.Message, StringComparison.Ordinal);

        string four = WriteChain("four.json", profile, [("a", "1gbit", budget), ("b", "1gbit", budget), ("c", "10mbit", budget)], budget);
        var plan = PipelinePlanningSession.Run(new PipelinePlanningOptions { Model = name, DevicesFile = four, BitsSource = "fixed:6", OutputDirectory = Path.Combine(_dir, "p4") }).Document;
        Assert.True(plan.Stages.Sum(s => s.WeightBytes) > budget);
        Assert.All(plan.Stages, s => Assert.True(s.MemoryBytes <= budget, $"{s.Device}: {s.MemoryBytes} B over the budget"));
    }

    /// <summary>A chain file of edge devices (8× the profile, as the bundled plans) and the cloud.</summary>
    private string WriteChain(string file, string profile, (string Name, string Rate, long? Memory)[] edges, long? cloudMemory)
    {
        static string Memory(long? m) => m is { } b ? $", \"memory_bytes\": {b}" : "";
        var devices = string.Join(",\n", edges.Select(d =>
            $"{{ \"name\": \"{d.Name}\", \"profile\": \"{profile}\", \"slowdown\": {BundledModelPlanTests.EdgeSlowdown}{Memory(d.Memory)}, \"link\": {{ \"rate\": \"{d.Rate}\" }} }}"));
        string path = Path.Combine(_dir, file);
        File.WriteAllText(path, $"{{ \"schema\": \"coach.devices/1\", \"devices\": [ {devices} ], \"cloud\": {{ \"name\": \"cloud\", \"profile\": \"{profile}\"{Memory(cloudMemory)} }} }}");
        return path;
    }
}
