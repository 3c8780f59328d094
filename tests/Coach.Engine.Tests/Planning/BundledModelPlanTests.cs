using Coach.Engine.Calibration;
using Coach.Engine.Data;
using Coach.Engine.Graph;
using Coach.Engine.Planning;
using Coach.Engine.Profiling;
using Coach.Engine.Tests.Splitting;
using Coach.Native.OnnxRuntime;

namespace Coach.Engine.Tests.Planning;

/// <summary>
/// The issue's claims on the bundled models, with the profiles committed under models/profiles/ (measured here by
/// `coach profile`, one CPU profile per model) standing for both sides: the edge is that profile slowed
/// <see cref="EdgeSlowdown"/>× (a Jetson-class device), the cloud is the profile as measured.
/// </summary>
public class BundledModelPlanTests(ITestOutputHelper output)
{
    public const double EdgeSlowdown = 8;
    public const double TenMbit = 10e6;

    public static TheoryData<string> Models() => ["resnet-fm112", "vgg-fm112"];

    private static string Root => ModelCatalog.RepositoryRoot;

    /// <summary>models/, or COACH_MODELS_DIR (to check other exports of the same models).</summary>
    private static string ModelsDirectory =>
        Environment.GetEnvironmentVariable("COACH_MODELS_DIR") is { Length: > 0 } dir ? dir : Path.Combine(Root, "models");

    private static string ModelPath(string name)
    {
        var path = Path.Combine(ModelsDirectory, $"{name}.onnx");
        Assert.True(File.Exists(path), $"{path} is missing: the bundled models are built by scripts/models (see models/manifest.json)");
        return path;
    }

    public static string ProfilePath(string name) => Path.Combine(Root, "models", "profiles", $"{name}.cpu.json");

    public static string CalibrationPath(string name) => Path.Combine(Root, "models", "profiles", $"{name}.calibration.json");

    [Theory]
    [MemberData(nameof(Models))]
    public void CoachThroughputBeatsTheBaselinesAtTenMbitWithASlowEdge(string name)
    {
        var graph = LayerGraph.Load(ModelPath(name));
        ShapeDiscovery.Complete(graph);
        var profile = ProfileFor(graph, name);
        var problem = PlanningProblem.FromGraph(graph, profile, profile, new CostSettings { BandwidthBitsPerSecond = TenMbit }, EdgeSlowdown);
        var bits = new CommittedOrMeasuredBits(graph, CalibrationPath(name));
        var coach = new CoachPlanner().Plan(problem, bits);
        output.WriteLine($"{name} coach: {Describe(coach)} bits [{string.Join(",", coach.Bits)}]");
        IPartitionPlanner[] baselines = [new EdgeOnlyPlanner(), new CloudOnlyPlanner(), new NeurosurgeonPlanner(), new DadsPlanner(DadsLoad.Light), new DadsPlanner(DadsLoad.Heavy), new SpinnPlanner(), new JpsPlanner()];
        foreach (var baseline in baselines)
        {
            var plan = baseline.Plan(problem, new FixedBits(32));
            output.WriteLine($"{name} {baseline.Method}{(baseline is DadsPlanner d ? "-" + d.Load.ToString().ToLowerInvariant() : "")}: {Describe(plan)}");
            Assert.True(coach.Cost.ThroughputPerSecond >= plan.Cost.ThroughputPerSecond * (1 - 1e-12), $"{baseline.Method} beats COACH");
            if (baseline is NeurosurgeonPlanner or DadsPlanner or JpsPlanner)
            {
                Assert.True(coach.Cost.ThroughputPerSecond > plan.Cost.ThroughputPerSecond, $"COACH is not strictly faster than {baseline.Method}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void EveryPrefixCutOfTheBundledModelReproducesIt(string name)
    {
        var graph = LayerGraph.Load(ModelPath(name));
        var prefixes = ChainCuts.TopologicalPrefixes(SplitHarness.AllPartitionsProblem(graph)).ToList();
        var frames = BundledData.Load(DataSplit.Calibration);
        var tensor = DenseTensor.Create(TensorElementType.Float, [2, 3, FrameRenderer.Size, FrameRenderer.Size]);
        frames.RenderFrame(0, tensor.AsSpan<float>()[..FrameRenderer.PixelCount]);
        frames.RenderFrame(1, tensor.AsSpan<float>()[FrameRenderer.PixelCount..]);
        int n = SplitHarness.AssertEveryPartitionMatches(graph.Model, prefixes, [new NamedTensor(graph.Tensors[graph.InputTensors[0]].Name, tensor)]);
        output.WriteLine($"{name}: {n} prefix cuts, each tail(head(x)) within 1e-5 of the full model");
        Assert.Equal(graph.Nodes.Count + 1, n);
    }

    /// <summary>The committed profile when it belongs to this model, else one measured now (10 runs).</summary>
    private LayerProfile ProfileFor(LayerGraph graph, string name)
    {
        var path = ProfilePath(name);
        if (File.Exists(path) && LayerProfile.Load(path) is { } committed && committed.ModelSha256 == graph.Sha256)
        {
            output.WriteLine($"{name}: committed profile {path}");
            return committed;
        }
        output.WriteLine($"{name}: no committed profile for sha256 {graph.Sha256[..12]}, measuring one (10 runs)");
        return ModelProfiler.Profile(ModelPath(name), "server-cpu", new SessionSettings { Providers = [ExecutionProvider.Cpu] }, runs: 10);
    }

    private static string Describe(PartitionPlan p) =>
        $"{p.EdgeLayerCount} edge layers, {p.CutTensors.Length} cut tensors, T_e {p.Cost.EdgeSeconds * 1e3:F2} T_t {p.Cost.TransmissionSeconds * 1e3:F2} T_c {p.Cost.CloudSeconds * 1e3:F2} ms, {p.Cost.ThroughputPerSecond:F1} fps, latency {p.Cost.LatencySeconds * 1e3:F2} ms";

    /// <summary>Bits from the committed calibration results; a cut they lack is measured on the calibration split.</summary>
    private sealed class CommittedOrMeasuredBits(LayerGraph graph, string path) : ICutBitsProvider
    {
        private readonly CalibrationResults? _committed = CalibrationResults.TryLoad(path) is { } r && r.ModelSha256 == graph.Sha256 ? r : null;
        private CutCalibrator? _calibrator;

        public int MinimumBits(PlanningProblem problem, IReadOnlyList<int> cutTensors)
        {
            var key = CalibrationResults.Key(cutTensors.Select(k => problem.Tensors[k].Name));
            if (_committed is not null && _committed.Cuts.TryGetValue(key, out var c))
            {
                return c.Bits;
            }
            _calibrator ??= new CutCalibrator(graph, BundledData.Load(DataSplit.Calibration));
            return _calibrator.MinimumBits(problem, cutTensors);
        }
    }
}
