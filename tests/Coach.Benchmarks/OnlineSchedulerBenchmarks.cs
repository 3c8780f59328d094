using BenchmarkDotNet.Attributes;
using Coach.Engine.Online;

namespace Coach.Benchmarks;

/// <summary>The per-frame decision (GAP of a 64×28×28 cut tensor, 10 similarities, S, bits); 0 B allocated is the budget.</summary>
[MemoryDiagnoser]
public class OnlineSchedulerBenchmarks
{
    private const int Channels = 64;
    private const int Spatial = 28 * 28;
    private OnlineScheduler _scheduler = null!;
    private float[] _tensor = [];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(3);
        var cache = new SemanticCache(10, Channels);
        var feature = new float[Channels];
        for (int j = 0; j < 10; j++)
        {
            for (int c = 0; c < Channels; c++)
            {
                feature[c] = random.NextSingle();
            }

            cache.Update(j, feature);
        }

        var calibration = new SchedulerCalibration { ExitThreshold = 5, BitThresholds = [new BitThreshold(4, 1), new BitThreshold(2, 3)], PlanBits = 8 };
        _scheduler = new OnlineScheduler(cache, calibration, new TransferCostModel(0.004, 0.002, [Channels * Spatial], [4]), new BandwidthEstimator(16, 2e6));
        _tensor = new float[Channels * Spatial];
        for (int i = 0; i < _tensor.Length; i++)
        {
            _tensor[i] = Math.Max(0f, random.NextSingle() - 0.3f);
        }
    }

    [Benchmark]
    public SchedulerDecision Decide() => _scheduler.DecideFromCutTensor(_tensor, Channels);
}
