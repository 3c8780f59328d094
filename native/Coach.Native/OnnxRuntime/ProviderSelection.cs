using System.Globalization;
using Ort = Microsoft.ML.OnnxRuntime;

namespace Coach.Native.OnnxRuntime;

/// <summary>
/// Appends execution providers to session options in the order of
/// <see cref="SessionSettings.Providers"/>; each one only if ORT accepts it, otherwise its refusal
/// (ORT's status message) is recorded. The CPU provider is always there as the fallback.
/// </summary>
internal static class ProviderSelection
{
    public static ExecutionProvider Append(Ort.SessionOptions options, SessionSettings settings, List<ProviderRefusal> refusals)
    {
        ExecutionProvider? chosen = null;
        foreach (var provider in settings.Providers)
        {
            if (provider == ExecutionProvider.Cpu)
            {
                // ORT always registers its CPU provider last; nothing listed after CPU could run first.
                chosen ??= ExecutionProvider.Cpu;
                break;
            }

            var status = provider switch
            {
                ExecutionProvider.TensorRt => AppendTensorRt(options, settings),
                ExecutionProvider.Cuda => AppendCuda(options, settings),
                _ => throw new ArgumentOutOfRangeException(nameof(settings), provider, "unknown execution provider"),
            };
            if (status is null)
            {
                chosen ??= provider;
            }
            else
            {
                refusals.Add(new ProviderRefusal(provider, status));
            }
        }
        return chosen ?? ExecutionProvider.Cpu;
    }

    /// <summary>Returns null when appended, else ORT's reason.</summary>
    private static string? AppendTensorRt(Ort.SessionOptions options, SessionSettings settings)
    {
        var trt = settings.TensorRt;
        var values = new Dictionary<string, string>
        {
            ["device_id"] = settings.DeviceId.ToString(CultureInfo.InvariantCulture),
            ["trt_fp16_enable"] = trt.Fp16 ? "1" : "0",
            ["trt_int8_enable"] = trt.Int8 ? "1" : "0",
            ["trt_max_workspace_size"] = trt.WorkspaceBytes.ToString(CultureInfo.InvariantCulture),
            ["trt_engine_cache_enable"] = trt.EngineCachePath is null ? "0" : "1",
            ["trt_dla_enable"] = trt.DlaCore >= 0 ? "1" : "0",
        };
        if (trt.EngineCachePath is not null)
        {
            Directory.CreateDirectory(trt.EngineCachePath);
            values["trt_engine_cache_path"] = Path.GetFullPath(trt.EngineCachePath);
        }
        if (trt.DlaCore >= 0)
        {
            values["trt_dla_core"] = trt.DlaCore.ToString(CultureInfo.InvariantCulture);
        }
        return Refusal(() =>
        {
            using var providerOptions = new Ort.OrtTensorRTProviderOptions();
            providerOptions.UpdateOptions(values);
            options.AppendExecutionProvider_Tensorrt(providerOptions);
        });
    }

    private static string? AppendCuda(Ort.SessionOptions options, SessionSettings settings) =>
        Refusal(() =>
        {
            using var providerOptions = new Ort.OrtCUDAProviderOptions();
            providerOptions.UpdateOptions(new Dictionary<string, string>
            {
                ["device_id"] = settings.DeviceId.ToString(CultureInfo.InvariantCulture),
            });
            options.AppendExecutionProvider_CUDA(providerOptions);
        });

    /// <summary>ORT's own reason when <paramref name="append"/> is refused, else null.</summary>
    private static string? Refusal(Action append)
    {
        try
        {
            append();
            return null;
        }
        catch (Ort.OnnxRuntimeException e)
        {
            return OrtException.From(e, "").Message;
        }
    }
}
