using BenchmarkDotNet.Attributes;
using Coach.Engine.Planning;

namespace Coach.Benchmarks;

/// <summary>
/// COACH's offline search on paper-scale graphs (ResNet-101: 240 layers, 33 bottleneck blocks; VGG-16), bits from a
/// fixed source so only the search is timed. The issue asks for under 20 ms on ResNet-101.
/// Run: dotnet run -c Release --project tests/Coach.Benchmarks -- --filter '*PlannerBenchmarks*'
/// </summary>
[MemoryDiagnoser]
public class PlannerBenchmarks
{
    private PlanningProblem _resnet101 = null!;
    private PlanningProblem _vgg16 = null!;
    private readonly FixedBits _bits = new(6);

    [Params(10e6, 100e6)]
    public double BandwidthBitsPerSecond { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var settings = new CostSettings { BandwidthBitsPerSecond = BandwidthBitsPerSecond };
        _resnet101 = SyntheticNetworks.ResNet(settings, edgeFlops: 200e9);
        _vgg16 = SyntheticNetworks.Vgg16(settings, edgeFlops: 200e9);
    }

    [Benchmark]
    public PartitionPlan CoachResNet101() => new CoachPlanner().Plan(_resnet101, _bits);

    [Benchmark]
    public PartitionPlan CoachVgg16() => new CoachPlanner().Plan(_vgg16, _bits);

    [Benchmark]
    public PartitionPlan DadsResNet101() => new DadsPlanner().Plan(_resnet101, _bits);

    [Benchmark]
    public System.Numerics.BigInteger CountIdealsResNet101() => IdealDecomposition.Build(_resnet101).CountIdeals();
}
