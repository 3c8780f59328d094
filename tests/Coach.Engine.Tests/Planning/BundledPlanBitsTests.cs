using System.Text.Json;
using Coach.Engine.Data;
using Coach.Engine.Graph;
using Coach.Engine.Planning;
using Coach.Engine.Profiling;

namespace Coach.Engine.Tests.Planning;

/// <summary>
/// Pins what COACH plans for the bundled models with the committed profiles (models/profiles/) in the demo's setting
/// (20 Mbit/s, an edge 4× slower) and the paper table's (10 Mbit/s, 8×): the cut, its bits and the calibrated minimum they were raised from, so that a change to the cost
/// model or to eq. 11 cannot move the demo's plans without this test saying so. The minimum bits are the committed
/// calibration's where it has the cut and 4 elsewhere, so no calibration runs here.
/// </summary>
public class BundledPlanBitsTests(ITestOutputHelper output)
{
    public static TheoryData<string, string, double, int, string, string> Plans() => new()
    {
        { "resnet-fm112", "20mbit", 4, 10, "/blocks/blocks.0/Relu_1_output_0", "4 from 4" },
        { "resnet-fm112", "10mbit", 8, 10, "/blocks/blocks.0/Relu_1_output_0", "4 from 4" },
        { "resnet-fm112", "100mbit", 8, 2, "/normalise/Mul_output_0", "5 from 5" },
        { "resnet-fm112", "50mbit", 2, 10, "/blocks/blocks.0/Relu_1_output_0", "4 from 4" },
        { "resnet-fm112", "1gbit", 1, 21, "/blocks/blocks.2/Relu_1_output_0|/blocks/blocks.3/shortcut/shortcut.0/Conv_output_0", "8,8 from 4,4" },
        { "resnet-fm112", "300mbit", 4, 3, "/stem/stem.0/Conv_output_0", "6 from 4" },
        { "vgg-fm112", "20mbit", 4, 10, "/features/features.10/Relu_output_0", "3 from 3" },
        { "vgg-fm112", "10mbit", 8, 10, "/features/features.10/Relu_output_0", "3 from 3" },
        { "vgg-fm112", "100mbit", 8, 5, "/features/features.3/MaxPool_output_0", "4 from 4" },
        { "vgg-fm112", "50mbit", 2, 13, "/features/features.14/MaxPool_output_0", "8 from 4" },
        { "vgg-fm112", "1gbit", 1, 13, "/features/features.14/MaxPool_output_0", "5 from 4" },
        { "vgg-fm112", "300mbit", 4, 5, "/features/features.3/MaxPool_output_0", "4 from 4" },
    };

    [Theory]
    [MemberData(nameof(Plans))]
    public void CoachPlansTheBundledModelWithThePinnedCutAndBits(string model, string bandwidth, double edgeSlowdown, int edgeLayers, string cut, string bits)
    {
        var graph = LayerGraph.Load(Path.Combine(ModelCatalog.RepositoryRoot, "models", $"{model}.onnx"));
        ShapeDiscovery.Complete(graph);
        var profile = LayerProfile.Load(BundledModelPlanTests.ProfilePath(model))!;
        var settings = new CostSettings { BandwidthBitsPerSecond = Bandwidth.ParseBitsPerSecond(bandwidth) };
        var problem = PlanningProblem.FromGraph(graph, profile, profile, settings, edgeSlowdown);
        var plan = new CoachPlanner().Plan(problem, new CommittedBits(BundledModelPlanTests.CalibrationPath(model)));
        string planCut = string.Join('|', plan.CutTensors.Select(k => problem.Tensors[k].Name));
        string planBits = $"{string.Join(',', plan.Bits)} from {string.Join(',', plan.MinimumBits ?? [])}";
        output.WriteLine($"{{ \"{model}\", \"{bandwidth}\", {edgeSlowdown}, {plan.EdgeLayerCount}, \"{planCut}\", \"{planBits}\" }},");
        Assert.Equal((edgeLayers, cut, bits), (plan.EdgeLayerCount, planCut, planBits));
    }

    /// <summary>The committed calibration's minimum bits per cut (read whatever its schema), 4 for a cut it lacks.</summary>
    private sealed class CommittedBits : ICutBitsProvider
    {
        private readonly Dictionary<string, int> _bits = new(StringComparer.Ordinal);

        public CommittedBits(string path)
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            foreach (var cut in document.RootElement.GetProperty("cuts").EnumerateObject())
            {
                _bits[cut.Name] = cut.Value.GetProperty("bits").GetInt32();
            }
        }

        public int MinimumBits(PlanningProblem problem, IReadOnlyList<int> cutTensors) =>
            _bits.TryGetValue(string.Join('|', cutTensors.Select(k => problem.Tensors[k].Name).Order(StringComparer.Ordinal)), out int b) ? b : 4;
    }
}
