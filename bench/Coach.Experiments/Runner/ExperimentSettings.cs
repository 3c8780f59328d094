using Coach.Engine.Data;

namespace Coach.Experiments;

/// <summary>What one end-to-end experiment runs: a model, a link, a slowed edge and a task stream.</summary>
public sealed record ExperimentSettings
{
    public required string Model { get; init; }

    /// <summary>Uplink rate in tc syntax (e.g. 20mbit).</summary>
    public required string Bandwidth { get; init; }

    /// <summary>How many times slower than this machine the edge is (its CPU quota is 1/slowdown of one core).</summary>
    public double EdgeSlowdown { get; init; } = 4;

    public int Frames { get; init; } = 1000;

    public StreamCorrelation Correlation { get; init; } = StreamCorrelation.Medium;

    public int RunLength { get; init; } = 30;

    public int Seed { get; init; } = 1;

    public double Epsilon { get; init; } = 0.005;

    /// <summary>Folder for profiles, plans, CSV files and logs.</summary>
    public required string WorkDirectory { get; init; }

    /// <summary>Folder holding the published coach-edge and coach-cloud binaries.</summary>
    public required string BinaryDirectory { get; init; }

    /// <summary>Shape the link with the kernel testbed (network namespaces + tc, scripts/testbed/testbed.sh) instead of the in-process shaper.</summary>
    public bool KernelTestbed { get; init; }

    /// <summary>
    /// The user's frames, <c>images:DIR</c> or <c>video:FILE</c> (docs/data.md): the edge runs them instead of the bundled
    /// stream, the plan's bits and the online scheduler are calibrated on them label-free (the full model's top-1); null:
    /// the bundled data.
    /// </summary>
    public string? Data { get; init; }

    /// <summary>Frames of <see cref="Data"/> the offline and online calibrations use (0 = all).</summary>
    public int CalibrationFrames { get; init; }

    public string SourceArgument => Data ?? "stream:" + Correlation.ToString().ToLowerInvariant();
}
