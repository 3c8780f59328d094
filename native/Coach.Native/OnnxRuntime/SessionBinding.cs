using System.Runtime.InteropServices;
using Ort = Microsoft.ML.OnnxRuntime;

namespace Coach.Native.OnnxRuntime;

/// <summary>
/// A prepared run of one <see cref="InferenceSession"/> over fixed <see cref="PinnedTensor"/>
/// buffers: OrtValues wrap the buffers and are bound to ORT's <c>OrtIoBinding</c> once, so
/// <see cref="Run"/> is one native call that allocates no managed memory. Write the inputs through
/// their spans, call <see cref="Run"/>, read the outputs through theirs. Not for concurrent use:
/// one binding per thread.
/// </summary>
public sealed class SessionBinding : IDisposable
{
    private readonly InferenceSession _session;
    private readonly Ort.OrtIoBinding _binding;
    private readonly SafeHandle[] _keptAlive;
    private readonly Ort.OrtValue[] _values;
    private int _disposed;

    internal SessionBinding(InferenceSession session, IReadOnlyList<(string Name, PinnedTensor Tensor)> inputs,
        IReadOnlyList<(string Name, PinnedTensor Tensor)> outputs)
    {
        _session = session;
        InputNames = inputs.Select(i => i.Name).ToArray();
        OutputNames = outputs.Select(o => o.Name).ToArray();

        // The session and every buffer must outlive this binding even if their owners are disposed
        // first: a lease on the session and a reference on each buffer's SafeHandle until Dispose.
        session.AcquireLease();
        var kept = new List<SafeHandle>();
        var values = new List<Ort.OrtValue>();
        Ort.OrtIoBinding? binding = null;
        try
        {
            binding = session.Native.CreateIoBinding();
            foreach (var (name, tensor) in inputs)
            {
                binding.BindInput(name, Wrap(tensor, kept, values));
            }
            foreach (var (name, tensor) in outputs)
            {
                binding.BindOutput(name, Wrap(tensor, kept, values));
            }
        }
        catch (Exception e)
        {
            binding?.Dispose();
            Release(values, kept);
            session.ReleaseLease();
            if (e is Ort.OnnxRuntimeException ort)
            {
                throw OrtException.From(ort, $"binding buffers to {session.DisplayName} failed");
            }
            throw;
        }
        _binding = binding;
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
        try
        {
            _session.Native.RunWithBinding(_session.RunOptions, _binding);
        }
        catch (Ort.OnnxRuntimeException e)
        {
            throw OrtException.From(e, $"running {_session.DisplayName} failed");
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _binding.Dispose();
        Release(_values, _keptAlive);
        _session.ReleaseLease();
    }

    private static Ort.OrtValue Wrap(PinnedTensor tensor, List<SafeHandle> kept, List<Ort.OrtValue> values)
    {
        ObjectDisposedException.ThrowIf(tensor.IsDisposed, tensor);
        var added = false;
        tensor.Buffer.DangerousAddRef(ref added);
        if (added)
        {
            kept.Add(tensor.Buffer);
        }
        var value = InferenceSession.CreateTensorValue(tensor.ElementType, tensor.Shape,
            tensor.Buffer.DangerousGetHandle(), tensor.ByteCount);
        values.Add(value);
        return value;
    }

    private static void Release(IEnumerable<Ort.OrtValue> values, IEnumerable<SafeHandle> kept)
    {
        foreach (var value in values)
        {
            value.Dispose();
        }
        foreach (var handle in kept)
        {
            handle.DangerousRelease();
        }
    }
}
