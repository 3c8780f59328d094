using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Coach.Engine.Data;
using Coach.Native.OnnxRuntime;
using Managed = Microsoft.ML.OnnxRuntime;

namespace Coach.Benchmarks;

/// <summary>
/// Coach's session facade (Coach.Native's <see cref="SessionBinding"/>) against calling ONNX Runtime's managed API
/// (Microsoft.ML.OnnxRuntime.Managed) directly, on the bundled models, one frame per run, inputs and outputs bound once
/// to caller-owned memory (what the edge's head and the cloud's tails do). Both call into the same libonnxruntime.so
/// with the same settings (one intra-op thread, all graph optimisations), so the difference is what the facade adds
/// per run and what it allocates. The measurements and the choice of binding: docs/onnxruntime.md.
/// </summary>
[MemoryDiagnoser]
public class OnnxRuntimeBindingBenchmarks
{
    private Coach.Native.OnnxRuntime.InferenceSession? _coachSession;
    private SessionBinding? _coachBinding;
    private readonly List<PinnedTensor> _pinned = [];

    private Managed.InferenceSession? _managedSession;
    private Managed.RunOptions? _runOptions;
    private Managed.OrtIoBinding? _ioBinding;
    private readonly List<Managed.OrtValue> _values = [];
    private string[] _inputNames = [];
    private string[] _outputNames = [];
    private Managed.OrtValue[] _inputValues = [];
    private Managed.OrtValue[] _outputValues = [];

    /// <summary>The bundled models, and ONNX's one-operator Relu test model (Debian's libonnx-testdata), where the run is
    /// so short that the binding's own cost per call shows.</summary>
    [Params("resnet-fm112", "vgg-fm112", "relu-3x4x5")]
    public string Model { get; set; } = "";

    private const string ReluModel = "/usr/share/libonnx-testdata/data/node/test_relu/model.onnx";

    [GlobalSetup]
    public void Setup()
    {
        var path = Model == "relu-3x4x5" ? ReluModel : ModelCatalog.Get(Model).Path;
        // Loads the library and hands it to the managed API as its "onnxruntime" import.
        OrtLibrary.EnsureLoaded();

        _coachSession = Coach.Native.OnnxRuntime.InferenceSession.Open(path, new SessionSettings { IntraOpThreads = 1 });
        var inputs = _coachSession.Inputs.Select(i => (i.Name, Track(PinnedTensor.Create(i.ElementType, i.ConcreteShape(dynamicDimension: 1))))).ToList();
        foreach (var (_, tensor) in inputs)
        {
            var span = tensor.AsSpan<float>();
            for (var k = 0; k < span.Length; k++)
            {
                span[k] = (k % 251) / 251f;
            }
        }
        var outputs = _coachSession.Outputs.Select(o => (o.Name, Track(PinnedTensor.Create(o.ElementType, o.ConcreteShape(dynamicDimension: 1))))).ToList();
        _coachBinding = _coachSession.Bind(inputs, outputs);

        using var options = new Managed.SessionOptions { IntraOpNumThreads = 1, GraphOptimizationLevel = Managed.GraphOptimizationLevel.ORT_ENABLE_ALL };
        _managedSession = new Managed.InferenceSession(path, options);
        _runOptions = new Managed.RunOptions();
        _ioBinding = _managedSession.CreateIoBinding();
        _inputNames = inputs.Select(i => i.Name).ToArray();
        _outputNames = outputs.Select(o => o.Name).ToArray();
        _inputValues = inputs.Select(i => Value(i.Item2)).ToArray();
        _outputValues = outputs.Select(o => Value(o.Item2)).ToArray();
        for (var i = 0; i < _inputNames.Length; i++)
        {
            _ioBinding.BindInput(_inputNames[i], _inputValues[i]);
        }
        for (var i = 0; i < _outputNames.Length; i++)
        {
            _ioBinding.BindOutput(_outputNames[i], _outputValues[i]);
        }
    }

    private PinnedTensor Track(PinnedTensor tensor)
    {
        _pinned.Add(tensor);
        return tensor;
    }

    // The managed API wraps the same pinned float memory, so both runs read and write the same buffers.
    private Managed.OrtValue Value(PinnedTensor tensor)
    {
        var value = Managed.OrtValue.CreateTensorValueWithData(Managed.OrtMemoryInfo.DefaultInstance, Managed.Tensors.TensorElementType.Float,
            tensor.Shape, PointerOf(tensor), tensor.ByteCount);
        _values.Add(value);
        return value;
    }

    private static unsafe nint PointerOf(PinnedTensor tensor) => (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(tensor.AsSpan<float>()));

    [Benchmark(Baseline = true, Description = "Coach binding: SessionBinding.Run")]
    public void CoachBindingRun() => _coachBinding!.Run();

    [Benchmark(Description = "Managed API: RunWithBinding (OrtIoBinding)")]
    public void ManagedIoBindingRun() => _managedSession!.RunWithBinding(_runOptions!, _ioBinding!);

    [Benchmark(Description = "Managed API: Run(names, OrtValues) into bound outputs")]
    public void ManagedOrtValueRun() => _managedSession!.Run(_runOptions!, _inputNames, _inputValues, _outputNames, _outputValues);

    [GlobalCleanup]
    public void Cleanup()
    {
        _ioBinding?.Dispose();
        _runOptions?.Dispose();
        foreach (var v in _values)
        {
            v.Dispose();
        }
        _managedSession?.Dispose();
        _coachBinding?.Dispose();
        _coachSession?.Dispose();
        foreach (var p in _pinned)
        {
            p.Dispose();
        }
    }
}
