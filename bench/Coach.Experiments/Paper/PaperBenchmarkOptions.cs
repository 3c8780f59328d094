using Coach.Engine.Planning;

namespace Coach.Experiments;

/// <summary>What <c>coach bench paper</c> runs.</summary>
public sealed record PaperBenchmarkOptions
{
    public required bool Quick { get; init; }

    public required string OutputDirectory { get; init; }

    public required string WorkDirectory { get; init; }

    public required string BinaryDirectory { get; init; }

    public required IReadOnlyList<string> Models { get; init; }

    public bool KernelTestbed { get; init; } = true;

    public string CommandLine { get; init; } = "coach bench paper";
}

/// <summary>One Fig. 5 run: COACH (one plan variant) while the link follows a schedule; throughput per second and per phase.</summary>
internal sealed record DynamicRun(string Schedule, MethodSpec Method, List<(double T, double Fps)> Series, double[] PhaseFps, PlanDocument Plan)
{
    /// <summary>Throughput in the second phase over that in the first (the paper's "kept" figure when the rate halves).</summary>
    public double? KeptSecondOfFirst => PhaseFps is { Length: >= 2 } p && p[0] > 0 ? p[1] / p[0] : null;

    /// <summary>This variant planned the same cut and bits as the first, so the first's run stands for it.</summary>
    public bool SharesFirstRun { get; init; }
}

/// <summary>Two edge speeds standing in for the paper's devices: the edge's CPU quota makes it this many times slower than the cloud.</summary>
internal sealed record EdgeSpeed(string Name, double Slowdown);
