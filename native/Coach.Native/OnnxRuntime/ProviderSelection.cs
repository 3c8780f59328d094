using System.Globalization;

namespace Coach.Native.OnnxRuntime;

/// <summary>
/// Appends execution providers to session options in the order of
/// <see cref="SessionSettings.Providers"/>; each one only if ORT accepts it, otherwise its refusal
/// (ORT's status message) is recorded. The CPU provider is always there as the fallback.
/// </summary>
internal static unsafe class ProviderSelection
{
    public static ExecutionProvider Append(nint options, SessionSettings settings, List<ProviderRefusal> refusals)
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
    private static string? AppendTensorRt(nint options, SessionSettings settings)
    {
        var trt = settings.TensorRt;
        nint providerOptions;
        var status = OrtApi.CreateTensorRTProviderOptions(&providerOptions);
        if (status != 0)
        {
            return OrtApi.TakeException(status).Message;
        }
        try
        {
            var keys = new List<string>
            {
                "device_id", "trt_fp16_enable", "trt_int8_enable", "trt_max_workspace_size",
                "trt_engine_cache_enable", "trt_dla_enable",
            };
            var values = new List<string>
            {
                settings.DeviceId.ToString(CultureInfo.InvariantCulture),
                trt.Fp16 ? "1" : "0",
                trt.Int8 ? "1" : "0",
                trt.WorkspaceBytes.ToString(CultureInfo.InvariantCulture),
                trt.EngineCachePath is null ? "0" : "1",
                trt.DlaCore >= 0 ? "1" : "0",
            };
            if (trt.EngineCachePath is not null)
            {
                Directory.CreateDirectory(trt.EngineCachePath);
                keys.Add("trt_engine_cache_path");
                values.Add(Path.GetFullPath(trt.EngineCachePath));
            }
            if (trt.DlaCore >= 0)
            {
                keys.Add("trt_dla_core");
                values.Add(trt.DlaCore.ToString(CultureInfo.InvariantCulture));
            }

            using var keyArray = new Utf8StringArray(keys);
            using var valueArray = new Utf8StringArray(values);
            status = OrtApi.UpdateTensorRTProviderOptions(providerOptions, keyArray.Pointers, valueArray.Pointers, (nuint)keys.Count);
            if (status == 0)
            {
                status = OrtApi.SessionOptionsAppendExecutionProvider_TensorRT_V2(options, providerOptions);
            }
            return status == 0 ? null : OrtApi.TakeException(status).Message;
        }
        finally
        {
            OrtApi.ReleaseTensorRTProviderOptions(providerOptions);
        }
    }

    private static string? AppendCuda(nint options, SessionSettings settings)
    {
        nint providerOptions;
        var status = OrtApi.CreateCUDAProviderOptions(&providerOptions);
        if (status != 0)
        {
            return OrtApi.TakeException(status).Message;
        }
        try
        {
            using var keyArray = new Utf8StringArray(["device_id"]);
            using var valueArray = new Utf8StringArray([settings.DeviceId.ToString(CultureInfo.InvariantCulture)]);
            status = OrtApi.UpdateCUDAProviderOptions(providerOptions, keyArray.Pointers, valueArray.Pointers, 1);
            if (status == 0)
            {
                status = OrtApi.SessionOptionsAppendExecutionProvider_CUDA_V2(options, providerOptions);
            }
            return status == 0 ? null : OrtApi.TakeException(status).Message;
        }
        finally
        {
            OrtApi.ReleaseCUDAProviderOptions(providerOptions);
        }
    }
}
