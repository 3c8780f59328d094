using System.Runtime.InteropServices;

namespace Coach.Native.OnnxRuntime;

/// <summary>
/// One loaded ONNX model in ONNX Runtime: its inputs and outputs, the execution provider it runs
/// on (and why the preferred ones were refused), an allocating <see cref="Run"/> and an
/// allocation-free <see cref="Bind"/>.
/// </summary>
public sealed unsafe class InferenceSession : IDisposable
{
    private readonly OrtSessionHandle _session;
    private readonly Dictionary<string, int> _inputIndex;
    private readonly Dictionary<string, int> _outputIndex;
    private readonly string[] _allOutputNames;

    private InferenceSession(OrtSessionHandle session, string displayName, SessionSettings settings,
        ExecutionProvider provider, IReadOnlyList<ProviderRefusal> refusals)
    {
        _session = session;
        DisplayName = displayName;
        Settings = settings;
        Provider = provider;
        RefusedProviders = refusals;
        Inputs = ReadMetadata(session.DangerousGetHandle(), inputs: true);
        Outputs = ReadMetadata(session.DangerousGetHandle(), inputs: false);
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

    internal OrtSessionHandle Handle => _session;

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
        var pathBytes = Utf8.ToNullTerminated(fullPath);
        nint session;
        nint status;
        fixed (byte* path = pathBytes)
        {
            status = OrtApi.CreateSession(OrtLibrary.Environment, path, options.DangerousGetHandle(), &session);
        }
        if (status != 0)
        {
            var ort = OrtApi.TakeException(status);
            throw new OrtException(ort.Code, $"cannot load the ONNX model {fullPath}: {ort.Message}", ort);
        }
        return new InferenceSession(new OrtSessionHandle(session), fullPath, settings, provider, refusals);
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
        nint session;
        nint status;
        fixed (byte* data = modelBytes)
        {
            status = OrtApi.CreateSessionFromArray(OrtLibrary.Environment, data, (nuint)modelBytes.Length, options.DangerousGetHandle(), &session);
        }
        if (status != 0)
        {
            var ort = OrtApi.TakeException(status);
            throw new OrtException(ort.Code, $"cannot load the ONNX model {displayName}: {ort.Message}", ort);
        }
        return new InferenceSession(new OrtSessionHandle(session), displayName, settings, provider, refusals);
    }

    /// <summary>
    /// Runs the model on managed tensors and returns the requested outputs (all by default), in the
    /// order asked. Allocates; for a steady stream of frames use <see cref="Bind"/>.
    /// </summary>
    public DenseTensor[] Run(IReadOnlyList<NamedTensor> inputs, IReadOnlyList<string>? outputNames = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ObjectDisposedException.ThrowIf(_session.IsClosed, this);
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
        var inputValues = new nint[inputs.Count];
        var outputValues = new nint[outputNames.Count];
        try
        {
            for (var i = 0; i < inputs.Count; i++)
            {
                var tensor = inputs[i].Tensor;
                pins[i] = GCHandle.Alloc(tensor.Data, GCHandleType.Pinned);
                inputValues[i] = CreateTensorValue(tensor.ElementType, tensor.Shape, (void*)pins[i].AddrOfPinnedObject(), tensor.Data.LongLength);
            }

            using var inputNameArray = new Utf8StringArray(inputs.Select(t => t.Name).ToArray());
            using var outputNameArray = new Utf8StringArray(outputNames);
            var addedRef = false;
            _session.DangerousAddRef(ref addedRef);
            try
            {
                fixed (nint* inputPointers = inputValues)
                fixed (nint* outputPointers = outputValues)
                {
                    var status = OrtApi.Run(_session.DangerousGetHandle(), 0,
                        inputNameArray.Pointers, inputPointers, (nuint)inputs.Count,
                        outputNameArray.Pointers, (nuint)outputNames.Count, outputPointers);
                    ThrowRunFailure(status);
                }
            }
            finally
            {
                if (addedRef)
                {
                    _session.DangerousRelease();
                }
            }

            var results = new DenseTensor[outputNames.Count];
            for (var i = 0; i < results.Length; i++)
            {
                results[i] = CopyOut(outputValues[i], outputNames[i]);
            }
            return results;
        }
        finally
        {
            foreach (var value in inputValues)
            {
                if (value != 0)
                {
                    OrtApi.ReleaseValue(value);
                }
            }
            foreach (var value in outputValues)
            {
                if (value != 0)
                {
                    OrtApi.ReleaseValue(value);
                }
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
        ObjectDisposedException.ThrowIf(_session.IsClosed, this);
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
        ObjectDisposedException.ThrowIf(_session.IsClosed, this);
        if (!Settings.EnableProfiling)
        {
            throw new InvalidOperationException(
                $"profiling is off for {DisplayName}; open the session with SessionSettings {{ EnableProfiling = true }}");
        }
        byte* path;
        OrtApi.Check(OrtApi.SessionEndProfiling(_session.DangerousGetHandle(), OrtLibrary.DefaultAllocator, &path));
        try
        {
            return Path.GetFullPath(Utf8.ToString(path));
        }
        finally
        {
            OrtApi.Check(OrtApi.AllocatorFree(OrtLibrary.DefaultAllocator, path));
        }
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

    public void Dispose() => _session.Dispose();

    internal static nint CreateTensorValue(TensorElementType type, long[] shape, void* data, long byteCount)
    {
        nint value;
        fixed (long* dims = shape)
        {
            OrtApi.Check(OrtApi.CreateTensorWithDataAsOrtValue(OrtLibrary.CpuMemoryInfo, data, (nuint)byteCount,
                dims, (nuint)shape.Length, (int)type, &value));
        }
        return value;
    }

    internal void ThrowRunFailure(nint status)
    {
        if (status != 0)
        {
            var ort = OrtApi.TakeException(status);
            throw new OrtException(ort.Code, $"running {DisplayName} failed: {ort.Message}", ort);
        }
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

    private static DenseTensor CopyOut(nint value, string name)
    {
        nint info;
        OrtApi.Check(OrtApi.GetTensorTypeAndShape(value, &info));
        TensorElementType type;
        long[] shape;
        try
        {
            (type, shape) = ReadTensorInfo(info);
        }
        finally
        {
            OrtApi.ReleaseTensorTypeAndShapeInfo(info);
        }
        if (type == TensorElementType.String)
        {
            throw new NotSupportedException($"output '{name}' is a string tensor; Coach reads numeric tensors only");
        }
        var tensor = DenseTensor.Create(type, shape);
        void* data;
        OrtApi.Check(OrtApi.GetTensorMutableData(value, &data));
        new ReadOnlySpan<byte>(data, tensor.Data.Length).CopyTo(tensor.Data);
        return tensor;
    }

    private static (TensorElementType Type, long[] Shape) ReadTensorInfo(nint info)
    {
        int elementType;
        OrtApi.Check(OrtApi.GetTensorElementType(info, &elementType));
        nuint rank;
        OrtApi.Check(OrtApi.GetDimensionsCount(info, &rank));
        var shape = new long[(int)rank];
        fixed (long* dims = shape)
        {
            OrtApi.Check(OrtApi.GetDimensions(info, dims, rank));
        }
        return ((TensorElementType)elementType, shape);
    }

    private static TensorMetadata[] ReadMetadata(nint session, bool inputs)
    {
        nuint count;
        OrtApi.Check(inputs ? OrtApi.SessionGetInputCount(session, &count) : OrtApi.SessionGetOutputCount(session, &count));
        var result = new TensorMetadata[(int)count];
        for (nuint i = 0; i < count; i++)
        {
            byte* namePointer;
            OrtApi.Check(inputs
                ? OrtApi.SessionGetInputName(session, i, OrtLibrary.DefaultAllocator, &namePointer)
                : OrtApi.SessionGetOutputName(session, i, OrtLibrary.DefaultAllocator, &namePointer));
            string name;
            try
            {
                name = Utf8.ToString(namePointer);
            }
            finally
            {
                OrtApi.Check(OrtApi.AllocatorFree(OrtLibrary.DefaultAllocator, namePointer));
            }

            nint typeInfo;
            OrtApi.Check(inputs
                ? OrtApi.SessionGetInputTypeInfo(session, i, &typeInfo)
                : OrtApi.SessionGetOutputTypeInfo(session, i, &typeInfo));
            try
            {
                int onnxType;
                OrtApi.Check(OrtApi.GetOnnxTypeFromTypeInfo(typeInfo, &onnxType));
                const int OnnxTypeTensor = 1;
                if (onnxType != OnnxTypeTensor)
                {
                    throw new NotSupportedException(
                        $"{(inputs ? "input" : "output")} '{name}' is not a tensor (ONNXType {onnxType}: sequence, map or optional); Coach binds tensors only");
                }
                nint tensorInfo; // owned by typeInfo
                OrtApi.Check(OrtApi.CastTypeInfoToTensorInfo(typeInfo, &tensorInfo));
                var (type, shape) = ReadTensorInfo(tensorInfo);
                result[(int)i] = new TensorMetadata(name, type, shape);
            }
            finally
            {
                OrtApi.ReleaseTypeInfo(typeInfo);
            }
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

    private static OrtSessionOptionsHandle CreateOptions(SessionSettings settings, out ExecutionProvider provider,
        out List<ProviderRefusal> refusals)
    {
        if (settings.IntraOpThreads < 0 || settings.InterOpThreads < 0)
        {
            throw new ArgumentException("thread counts must be 0 (ORT's default) or positive", nameof(settings));
        }

        OrtLibrary.EnsureLoaded();
        nint raw;
        OrtApi.Check(OrtApi.CreateSessionOptions(&raw));
        var options = new OrtSessionOptionsHandle(raw);
        try
        {
            if (settings.IntraOpThreads > 0)
            {
                OrtApi.Check(OrtApi.SetIntraOpNumThreads(raw, settings.IntraOpThreads));
            }
            if (settings.InterOpThreads > 0)
            {
                OrtApi.Check(OrtApi.SetInterOpNumThreads(raw, settings.InterOpThreads));
            }
            var level = settings.Optimization switch
            {
                GraphOptimization.Disabled => 0,
                GraphOptimization.Basic => 1,
                GraphOptimization.Extended => 2,
                GraphOptimization.All => 99,
                _ => throw new ArgumentOutOfRangeException(nameof(settings), settings.Optimization, "unknown optimisation level"),
            };
            OrtApi.Check(OrtApi.SetSessionGraphOptimizationLevel(raw, level));
            if (settings.EnableProfiling)
            {
                var prefix = Path.GetFullPath(settings.ProfilePrefix ?? Path.Combine(Path.GetTempPath(), "coach-ort-profile"));
                var folder = Path.GetDirectoryName(prefix);
                if (!string.IsNullOrEmpty(folder))
                {
                    Directory.CreateDirectory(folder);
                }
                fixed (byte* prefixBytes = Utf8.ToNullTerminated(prefix))
                {
                    OrtApi.Check(OrtApi.EnableProfiling(raw, prefixBytes));
                }
            }

            refusals = [];
            provider = ProviderSelection.Append(raw, settings, refusals);
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
