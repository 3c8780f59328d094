using Coach.Native.OnnxRuntime;

namespace Coach.Engine.Profiling;

/// <summary>What one layer profile is measured with (docs/planner.md §2).</summary>
public sealed record ProfilingOptions
{
    public required string Model { get; init; }

    /// <summary>The device this profile stands for (server, xavier-nx, …), recorded in the profile.</summary>
    public required string Device { get; init; }

    /// <summary>The profile JSON to write.</summary>
    public required string OutputPath { get; init; }

    /// <summary>Measured runs after warm-up; each layer's time is the median.</summary>
    public int Runs { get; init; } = 20;

    public ExecutionProvider Provider { get; init; } = ExecutionProvider.Cpu;

    /// <summary>Intra-op threads (0 = ONNX Runtime's default).</summary>
    public int IntraOpThreads { get; init; }
}

/// <summary>Measures a model's per-layer latency on this machine and writes the profile: <c>coach profile</c>, <c>coach-edge profile</c> and the benches.</summary>
public static class ProfilingSession
{
    public static LayerProfile Run(ProfilingOptions options, IProgress<ProfileProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        // A non-CPU provider keeps the CPU behind it for the layers it cannot run.
        var settings = new SessionSettings
        {
            Providers = options.Provider == ExecutionProvider.Cpu ? [ExecutionProvider.Cpu] : [options.Provider, ExecutionProvider.Cpu],
            IntraOpThreads = options.IntraOpThreads,
        };
        var profile = ModelProfiler.Profile(options.Model, options.Device, settings, options.Runs, progress);
        profile.Save(options.OutputPath);
        return profile;
    }
}
