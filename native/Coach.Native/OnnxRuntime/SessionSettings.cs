namespace Coach.Native.OnnxRuntime;

/// <summary>An ONNX Runtime execution provider Coach knows how to append.</summary>
public enum ExecutionProvider
{
    TensorRt,
    Cuda,
    Cpu,
}

/// <summary>ORT graph optimisation level (<c>GraphOptimizationLevel</c>).</summary>
public enum GraphOptimization
{
    Disabled,
    Basic,
    Extended,
    All,
}

/// <summary>An execution provider that could not be appended, with ORT's reason.</summary>
public sealed record ProviderRefusal(ExecutionProvider Provider, string Reason)
{
    public override string ToString() => $"{Provider.OrtName()}: {Reason}";
}

/// <summary>TensorRT execution-provider options (the Jetson path).</summary>
public sealed class TensorRtSettings
{
    /// <summary>trt_fp16_enable.</summary>
    public bool Fp16 { get; init; } = true;

    /// <summary>trt_int8_enable (needs a calibration table or a QDQ model).</summary>
    public bool Int8 { get; init; }

    /// <summary>trt_engine_cache_path; when set, trt_engine_cache_enable is on. Building a TensorRT
    /// engine takes minutes on a Jetson; the cache makes the second start fast.</summary>
    public string? EngineCachePath { get; init; }

    /// <summary>trt_max_workspace_size in bytes.</summary>
    public long WorkspaceBytes { get; init; } = 1L << 30;

    /// <summary>trt_dla_core; -1 keeps DLA off (trt_dla_enable = 0).</summary>
    public int DlaCore { get; init; } = -1;
}

/// <summary>How an <see cref="InferenceSession"/> is created.</summary>
public sealed record SessionSettings
{
    /// <summary>Threads inside one operator; 0 = ORT's default (one per physical core).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Threads across independent operators; 0 = ORT's default.</summary>
    public int InterOpThreads { get; init; }

    public GraphOptimization Optimization { get; init; } = GraphOptimization.All;

    /// <summary>Turns on ORT's profiler; <see cref="InferenceSession.EndProfiling"/> returns the JSON path.</summary>
    public bool EnableProfiling { get; init; }

    /// <summary>Path prefix of the profile JSON; default: <c>coach-ort-profile</c> in the temp folder.</summary>
    public string? ProfilePrefix { get; init; }

    /// <summary>Providers in order of preference. Each is appended only if ORT accepts it; the CPU
    /// provider always remains as the fallback, listed or not.</summary>
    public IReadOnlyList<ExecutionProvider> Providers { get; init; } =
        [ExecutionProvider.TensorRt, ExecutionProvider.Cuda, ExecutionProvider.Cpu];

    public TensorRtSettings TensorRt { get; init; } = new();

    /// <summary>GPU device id for TensorRT and CUDA.</summary>
    public int DeviceId { get; init; }
}

public static class ExecutionProviderExtensions
{
    /// <summary>The provider's name in ORT (as in <see cref="OrtLibrary.AvailableProviders"/>).</summary>
    public static string OrtName(this ExecutionProvider provider) => provider switch
    {
        ExecutionProvider.TensorRt => "TensorrtExecutionProvider",
        ExecutionProvider.Cuda => "CUDAExecutionProvider",
        ExecutionProvider.Cpu => "CPUExecutionProvider",
        _ => throw new ArgumentOutOfRangeException(nameof(provider), provider, null),
    };

    /// <summary>Parses <c>tensorrt</c>, <c>trt</c>, <c>cuda</c> or <c>cpu</c> (any case).</summary>
    public static bool TryParse(string text, out ExecutionProvider provider)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "tensorrt" or "trt":
                provider = ExecutionProvider.TensorRt;
                return true;
            case "cuda":
                provider = ExecutionProvider.Cuda;
                return true;
            case "cpu":
                provider = ExecutionProvider.Cpu;
                return true;
            default:
                provider = ExecutionProvider.Cpu;
                return false;
        }
    }
}
