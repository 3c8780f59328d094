using System.Runtime.InteropServices;

namespace Coach.Native.OnnxRuntime;

/// <summary>
/// A prepared run of one <see cref="InferenceSession"/> over fixed <see cref="PinnedTensor"/>
/// buffers: names are marshalled and OrtValues wrap the buffers once, so <see cref="Run"/> is one
/// native call that allocates no managed memory. Write the inputs through their spans, call
/// <see cref="Run"/>, read the outputs through theirs. Not for concurrent use: one binding per thread.
/// </summary>
public sealed unsafe class SessionBinding : IDisposable
{
    private readonly InferenceSession _session;
    private readonly SafeHandle[] _keptAlive;
    private readonly OrtValueHandle[] _values;
    private readonly Utf8StringArray _inputNames;
    private readonly Utf8StringArray _outputNames;
    private readonly int _inputCount;
    private readonly int _outputCount;
    private readonly nint _sessionPointer;
    private nint* _inputValues;
    private nint* _outputValues;
    private int _disposed;

    internal SessionBinding(InferenceSession session, IReadOnlyList<(string Name, PinnedTensor Tensor)> inputs,
        IReadOnlyList<(string Name, PinnedTensor Tensor)> outputs)
    {
        _session = session;
        _inputCount = inputs.Count;
        _outputCount = outputs.Count;
        InputNames = inputs.Select(i => i.Name).ToArray();
        OutputNames = outputs.Select(o => o.Name).ToArray();

        // The session and every buffer must outlive this binding even if their owners are disposed
        // first: hold a reference on each SafeHandle until Dispose.
        var kept = new List<SafeHandle>();
        var values = new List<OrtValueHandle>();
        try
        {
            AddRef(session.Handle, kept);
            _sessionPointer = session.Handle.DangerousGetHandle();
            _inputValues = (nint*)NativeMemory.AllocZeroed((nuint)Math.Max(1, _inputCount), (nuint)sizeof(nint));
            _outputValues = (nint*)NativeMemory.AllocZeroed((nuint)Math.Max(1, _outputCount), (nuint)sizeof(nint));
            for (var i = 0; i < _inputCount; i++)
            {
                _inputValues[i] = Wrap(inputs[i].Tensor, kept, values);
            }
            for (var i = 0; i < _outputCount; i++)
            {
                _outputValues[i] = Wrap(outputs[i].Tensor, kept, values);
            }
            _inputNames = new Utf8StringArray(InputNames);
            _outputNames = new Utf8StringArray(OutputNames);
        }
        catch
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
            foreach (var handle in kept)
            {
                handle.DangerousRelease();
            }
            FreeArrays();
            throw;
        }
        _keptAlive = kept.ToArray();
        _values = values.ToArray();
    }

    public IReadOnlyList<string> InputNames { get; }

    public IReadOnlyList<string> OutputNames { get; }

    /// <summary>Runs the model from the bound input buffers into the bound output buffers.
    /// Allocates no managed memory (on success).</summary>
    public void Run()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var status = OrtApi.Run(_sessionPointer, 0,
            _inputNames.Pointers, _inputValues, (nuint)_inputCount,
            _outputNames.Pointers, (nuint)_outputCount, _outputValues);
        if (status != 0)
        {
            _session.ThrowRunFailure(status);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        foreach (var value in _values)
        {
            value.Dispose();
        }
        _inputNames.Dispose();
        _outputNames.Dispose();
        FreeArrays();
        foreach (var handle in _keptAlive)
        {
            handle.DangerousRelease();
        }
    }

    private static nint Wrap(PinnedTensor tensor, List<SafeHandle> kept, List<OrtValueHandle> values)
    {
        ObjectDisposedException.ThrowIf(tensor.IsDisposed, tensor);
        AddRef(tensor.Buffer, kept);
        var value = InferenceSession.CreateTensorValue(tensor.ElementType, tensor.Shape,
            (void*)tensor.Buffer.DangerousGetHandle(), tensor.ByteCount);
        values.Add(new OrtValueHandle(value));
        return value;
    }

    private static void AddRef(SafeHandle handle, List<SafeHandle> kept)
    {
        var added = false;
        handle.DangerousAddRef(ref added);
        if (added)
        {
            kept.Add(handle);
        }
    }

    private void FreeArrays()
    {
        NativeMemory.Free(_inputValues);
        NativeMemory.Free(_outputValues);
        _inputValues = null;
        _outputValues = null;
    }
}
