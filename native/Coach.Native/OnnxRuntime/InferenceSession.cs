using System.Runtime.InteropServices;
using Ort = Microsoft.ML.OnnxRuntime;

namespace Coach.Native.OnnxRuntime;

/// <summary>
/// One loaded ONNX model in ONNX Runtime: its inputs and outputs, the execution provider it runs
/// on (and why the preferred ones were refused), an allocating <see cref="Run"/> and an
/// allocation-free <see cref="Bind"/>. A facade over the managed API's session that keeps Coach's
/// checks and error messages (docs/onnxruntime.md).
/// </summary>
public sealed class InferenceSession : IDisposable
{
    private readonly Ort.InferenceSession _session;
    private readonly Ort.RunOptions _runOptions = new();
    private readonly Dictionary<string, int> _inputIndex;
    private readonly Dictionary<string, int> _outputIndex;
    private readonly string[] _allOutputNames;
    private readonly Lock _leaseGate = new();
    private int _leases;
    private bool _disposed;

    private InferenceSession(Ort.InferenceSession session, string displayName, SessionSettings settings,
        ExecutionProvider provider, IReadOnlyList<ProviderRefusal> refusals)
    {
        _session = session;
        DisplayName = displayName;
        Settings = settings;
        Provider = provider;
        RefusedProviders = refusals;
        Inputs = ReadMetadata(session.InputNames, session.InputMetadata, "input");
        Outputs = ReadMetadata(session.OutputNames, session.OutputMetadata, "output");
        _inputIndex = IndexByName(Inputs);
        _outputIndex = IndexByName(Outputs);
        _allOutputNames = Outputs.Select(o => o.Name).ToArray();
    }

    /// <summary>The model file path, or the display name given for a model loaded from bytes.</summary>
    public string DisplayName { get; }

    public SessionSettings Settings { get; }

    public IReadOnlyList<TensorMetadata> Inputs { get; }

    public IReadOnlyList<TensorMetadata> Outputs { get; }

    /// <summary>The preferred provider ORT accepted (nodes it cannot take still fall back to CPU).</summary>
    public ExecutionProvider Provider { get; }

    /// <summary>Providers tried before <see cref="Provider"/> that ORT refused, with ORT's reason.</summary>
    public IReadOnlyList<ProviderRefusal> RefusedProviders { get; }

    /// <summary>Loads a model file. A missing file raises <see cref="FileNotFoundException"/>; a file
    /// ORT cannot load raises <see cref="OrtException"/> naming the file and ORT's reason.</summary>
    public static InferenceSession Open(string modelPath, SessionSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        var fullPath = Path.GetFullPath(modelPath);
        if (!File.Exists(fullPath))
        {
            throw new FileNotFoundException(
                Directory.Exists(fullPath)
                    ? $"ONNX model path {fullPath} is a directory; give the .onnx file"
                    : $"ONNX model file not found: {fullPath}",
                fullPath);
        }

        settings ??= new SessionSettings();
        using var options = CreateOptions(settings, out var provider, out var refusals);
        try
        {
            return new InferenceSession(new Ort.InferenceSession(fullPath, options), fullPath, settings, provider, refusals);
        }
        catch (Ort.OnnxRuntimeException e)
        {
            throw OrtException.From(e, $"cannot load the ONNX model {fullPath}");
        }
    }

    /// <summary>Loads a model from its serialized bytes; <paramref name="displayName"/> names it in errors.</summary>
    public static InferenceSession Open(ReadOnlySpan<byte> modelBytes, SessionSettings? settings = null, string? displayName = null)
    {
        displayName ??= $"<{modelBytes.Length}-byte model in memory>";
        if (modelBytes.IsEmpty)
        {
            throw new ArgumentException($"cannot load the ONNX model {displayName}: it is empty", nameof(modelBytes));
        }

        settings ??= new SessionSettings();
        using var options = CreateOptions(settings, out var provider, out var refusals);
        try
        {
            return new InferenceSession(new Ort.InferenceSession(modelBytes.ToArray(), options), displayName, settings, provider, refusals);
        }
        catch (Ort.OnnxRuntimeException e)
        {
            throw OrtException.From(e, $"cannot load the ONNX model {displayName}");
        }
    }

    /// <summary>
    /// Runs the model on managed tensors and returns the requested outputs (all by default), in the
    /// order asked. Allocates; for a steady stream of frames use <see cref="Bind"/>.
    /// </summary>
    public DenseTensor[] Run(IReadOnlyList<NamedTensor> inputs, IReadOnlyList<string>? outputNames = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ObjectDisposedException.ThrowIf(_disposed, this);
        outputNames ??= _allOutputNames;
        foreach (var input in inputs)
        {
            CheckInput(input.Name, input.Tensor.ElementType, input.Tensor.Shape);
        }
        foreach (var name in outputNames)
        {
            OutputMetadata(name);
        }

        var pins = new GCHandle[inputs.Count];
        var inputValues = new Ort.OrtValue[inputs.Count];
        try
        {
            for (var i = 0; i < inputs.Count; i++)
            {
                var tensor = inputs[i].Tensor;
                pins[i] = GCHandle.Alloc(tensor.Data, GCHandleType.Pinned);
                inputValues[i] = CreateTensorValue(tensor.ElementType, tensor.Shape, pins[i].AddrOfPinnedObject(), tensor.Data.LongLength);
            }

            using var outputs = RunGuarded(() => _session.Run(_runOptions, inputs.Select(t => t.Name).ToArray(), inputValues, outputNames.ToArray()));
            var results = new DenseTensor[outputNames.Count];
            var index = 0;
            foreach (var value in outputs)
            {
                results[index] = CopyOut(value, outputNames[index]);
                index++;
            }
            return results;
        }
        finally
        {
            foreach (var value in inputValues)
            {
                value?.Dispose();
            }
            foreach (var pin in pins)
            {
                if (pin.IsAllocated)
                {
                    pin.Free();
                }
            }
        }
    }

    /// <summary>
    /// Prepares a run into caller-owned pinned buffers: names are marshalled and OrtValues created
    /// once, so <see cref="SessionBinding.Run"/> allocates nothing. Output tensors must have the
    /// model's output shapes (for dynamic dimensions: the shapes this input size produces).
    /// </summary>
    public SessionBinding Bind(IReadOnlyList<(string Name, PinnedTensor Tensor)> inputs,
        IReadOnlyList<(string Name, PinnedTensor Tensor)> outputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputs);
        ObjectDisposedException.ThrowIf(_disposed, this);
        foreach (var (name, tensor) in inputs)
        {
            CheckInput(name, tensor.ElementType, tensor.Shape);
        }
        foreach (var (name, tensor) in outputs)
        {
            CheckOutput(name, tensor.ElementType, tensor.Shape);
        }
        if (outputs.Count == 0)
        {
            throw new ArgumentException($"bind at least one output of {DisplayName}", nameof(outputs));
        }
        return new SessionBinding(this, inputs, outputs);
    }

    /// <summary>Stops ORT's profiler and returns the absolute path of its JSON trace.</summary>
    public string EndProfiling()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!Settings.EnableProfiling)
        {
            throw new InvalidOperationException(
                $"profiling is off for {DisplayName}; open the session with SessionSettings {{ EnableProfiling = true }}");
        }
        return Path.GetFullPath(RunGuarded(_session.EndProfiling));
    }

    public TensorMetadata InputMetadata(string name) =>
        _inputIndex.TryGetValue(name, out var index)
            ? Inputs[index]
            : throw new ArgumentException(
                $"{DisplayName} has no input '{name}'; its inputs are: {string.Join(", ", Inputs)}", nameof(name));

    public TensorMetadata OutputMetadata(string name) =>
        _outputIndex.TryGetValue(name, out var index)
            ? Outputs[index]
            : throw new ArgumentException(
                $"{DisplayName} has no output '{name}'; its outputs are: {string.Join(", ", Outputs)}", nameof(name));

    /// <summary>Closes the session; ORT's session is released once no <see cref="SessionBinding"/> uses it any more.</summary>
    public void Dispose()
    {
        lock (_leaseGate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            if (_leases > 0)
            {
                return;
            }
        }
        ReleaseNative();
    }

    internal Ort.InferenceSession Native => _session;

    internal Ort.RunOptions RunOptions => _runOptions;

    /// <summary>Keeps ORT's session alive for a binding even if this session is disposed first.</summary>
    internal void AcquireLease()
    {
        lock (_leaseGate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _leases++;
        }
    }

    internal void ReleaseLease()
    {
        lock (_leaseGate)
        {
            if (--_leases > 0 || !_disposed)
            {
                return;
            }
        }
        ReleaseNative();
    }

    internal static Ort.OrtValue CreateTensorValue(TensorElementType type, long[] shape, nint data, long byteCount) =>
        Ort.OrtValue.CreateTensorValueWithData(Ort.OrtMemoryInfo.DefaultInstance,
            (Ort.Tensors.TensorElementType)(int)type, shape, data, byteCount);

    /// <summary>Runs an ORT call, turning its failure into an <see cref="OrtException"/> naming this model.</summary>
    internal T RunGuarded<T>(Func<T> call)
    {
        try
        {
            return call();
        }
        catch (Ort.OnnxRuntimeException e)
        {
            throw OrtException.From(e, $"running {DisplayName} failed");
        }
    }

    private void ReleaseNative()
    {
        _session.Dispose();
        _runOptions.Dispose();
    }

    private void CheckInput(string name, TensorElementType type, long[] shape) =>
        CheckAgainst(InputMetadata(name), "input", type, shape);

    private void CheckOutput(string name, TensorElementType type, long[] shape) =>
        CheckAgainst(OutputMetadata(name), "output", type, shape);

    private void CheckAgainst(TensorMetadata expected, string role, TensorElementType type, long[] shape)
    {
        if (expected.ElementType != type)
        {
            throw new ArgumentException(
                $"{role} '{expected.Name}' of {DisplayName} is {expected.ElementType.DisplayName()}, the tensor given is {type.DisplayName()}");
        }
        var matches = expected.Shape.Length == shape.Length;
        for (var i = 0; matches && i < shape.Length; i++)
        {
            matches = expected.Shape[i] < 0 || expected.Shape[i] == shape[i];
        }
        if (!matches)
        {
            throw new ArgumentException(
                $"{role} '{expected.Name}' of {DisplayName} has shape {TensorElementTypeExtensions.FormatShape(expected.Shape)} " +
                $"(-1 = any), the tensor given has {TensorElementTypeExtensions.FormatShape(shape)}");
        }
    }

    private static DenseTensor CopyOut(Ort.OrtValue value, string name)
    {
        var info = value.GetTensorTypeAndShape();
        if (info.IsString)
        {
            throw new NotSupportedException($"output '{name}' is a string tensor; Coach reads numeric tensors only");
        }
        var tensor = DenseTensor.Create((TensorElementType)(int)info.ElementDataType, info.Shape);
        value.GetTensorMutableRawData().CopyTo(tensor.Data);
        return tensor;
    }

    private static TensorMetadata[] ReadMetadata(IReadOnlyList<string> names,
        IReadOnlyDictionary<string, Ort.NodeMetadata> metadata, string role)
    {
        var result = new TensorMetadata[names.Count];
        for (var i = 0; i < names.Count; i++)
        {
            var node = metadata[names[i]];
            if (node.OnnxValueType != Ort.OnnxValueType.ONNX_TYPE_TENSOR)
            {
                throw new NotSupportedException(
                    $"{role} '{names[i]}' is not a tensor ({node.OnnxValueType}: sequence, map or optional); Coach binds tensors only");
            }
            result[i] = new TensorMetadata(names[i], (TensorElementType)(int)node.ElementDataType,
                Array.ConvertAll(node.Dimensions, d => (long)d));
        }
        return result;
    }

    private static Dictionary<string, int> IndexByName(IReadOnlyList<TensorMetadata> tensors)
    {
        var index = new Dictionary<string, int>(tensors.Count, StringComparer.Ordinal);
        for (var i = 0; i < tensors.Count; i++)
        {
            index[tensors[i].Name] = i;
        }
        return index;
    }

    private static Ort.SessionOptions CreateOptions(SessionSettings settings, out ExecutionProvider provider,
        out List<ProviderRefusal> refusals)
    {
        if (settings.IntraOpThreads < 0 || settings.InterOpThreads < 0)
        {
            throw new ArgumentException("thread counts must be 0 (ORT's default) or positive", nameof(settings));
        }

        OrtLibrary.EnsureLoaded();
        var options = new Ort.SessionOptions();
        try
        {
            options.LogSeverityLevel = Ort.OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR;
            if (settings.IntraOpThreads > 0)
            {
                options.IntraOpNumThreads = settings.IntraOpThreads;
            }
            if (settings.InterOpThreads > 0)
            {
                options.InterOpNumThreads = settings.InterOpThreads;
            }
            options.GraphOptimizationLevel = settings.Optimization switch
            {
                GraphOptimization.Disabled => Ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                GraphOptimization.Basic => Ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                GraphOptimization.Extended => Ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                GraphOptimization.All => Ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                _ => throw new ArgumentOutOfRangeException(nameof(settings), settings.Optimization, "unknown optimisation level"),
            };
            if (settings.EnableProfiling)
            {
                var prefix = Path.GetFullPath(settings.ProfilePrefix ?? Path.Combine(Path.GetTempPath(), "coach-ort-profile"));
                var folder = Path.GetDirectoryName(prefix);
                if (!string.IsNullOrEmpty(folder))
                {
                    Directory.CreateDirectory(folder);
                }
                // The prefix first: turning profiling on hands ORT the prefix set at that moment.
                options.ProfileOutputPathPrefix = prefix;
                options.EnableProfiling = true;
            }

            refusals = [];
            provider = ProviderSelection.Append(options, settings, refusals);
            return options;
        }
        catch
        {
            options.Dispose();
            throw;
        }
    }
}

/// <summary>A tensor with the model input or output name it is for.</summary>
public sealed record NamedTensor(string Name, DenseTensor Tensor);
