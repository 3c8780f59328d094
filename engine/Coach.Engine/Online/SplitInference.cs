using Coach.Native.OnnxRuntime;

namespace Coach.Engine.Online;

/// <summary>One cut tensor of a split model, batch 1: its name, channel count C and element count C·H·W.</summary>
public readonly record struct CutTensorLayout(string Name, int Channels, int Length, int Rank);

/// <summary>A model split at a cut: the head (frame → cut tensors, on the edge) and the tail (cut tensors → label, in the cloud).</summary>
public interface ISplitInference
{
    /// <summary>Values of one input frame (3·112·112 for the bundled models).</summary>
    int FrameLength { get; }

    /// <summary>The cut tensors, in the order they are concatenated in the cut buffers.</summary>
    IReadOnlyList<CutTensorLayout> CutTensors { get; }

    /// <summary>Runs the head; writes the cut tensors, concatenated, into <paramref name="cut"/>.</summary>
    void RunHead(ReadOnlySpan<float> frame, Span<float> cut);

    /// <summary>Runs the tail on (possibly dequantized) cut tensors; returns the predicted label.</summary>
    int RunTail(ReadOnlySpan<float> cut);

    /// <summary>The tail's output as declared by the model; null when unknown (the labels of the frames then say how many classes).</summary>
    long[]? OutputShape => null;
}

/// <summary>Head and tail ONNX models run through ONNX Runtime with pre-bound, pinned batch-1 buffers.</summary>
public sealed class OnnxSplitInference : ISplitInference, IDisposable
{
    private readonly InferenceSession _head;
    private readonly InferenceSession _tail;
    private readonly PinnedTensor _frame;
    private readonly PinnedTensor[] _headOutputs;
    private readonly int[] _cutOutputIndex;
    private readonly PinnedTensor[] _tailInputs;
    private readonly PinnedTensor _logits;
    private readonly SessionBinding _headBinding;
    private readonly SessionBinding _tailBinding;

    public OnnxSplitInference(ReadOnlySpan<byte> headModel, ReadOnlySpan<byte> tailModel, SessionSettings? settings = null)
    {
        settings ??= new SessionSettings { Providers = [ExecutionProvider.Cpu] };
        _head = InferenceSession.Open(headModel, settings, "head");
        _tail = InferenceSession.Open(tailModel, settings, "tail");
        if (_head.Inputs.Count != 1 || _tail.Outputs.Count < 1)
        {
            throw new InvalidDataException($"A split for the online evaluation needs a head with one input (the frame) and a tail with an output (logits); got {_head.Inputs.Count} head inputs and {_tail.Outputs.Count} tail outputs.");
        }

        _frame = PinnedTensor.Create(TensorElementType.Float, Batch1(_head.Inputs[0].Shape));
        FrameLength = checked((int)_frame.ElementCount);
        _headOutputs = [.. _head.Outputs.Select(o => PinnedTensor.Create(o.ElementType, Batch1(o.Shape)))];
        var cuts = new List<CutTensorLayout>();
        _cutOutputIndex = new int[_tail.Inputs.Count];
        _tailInputs = new PinnedTensor[_tail.Inputs.Count];
        for (int k = 0; k < _tail.Inputs.Count; k++)
        {
            var input = _tail.Inputs[k];
            int index = _head.Outputs.ToList().FindIndex(o => o.Name == input.Name);
            if (index < 0 || input.ElementType != TensorElementType.Float)
            {
                throw new InvalidDataException($"Tail input '{input.Name}' is not a float output of the head; split the model at float cut tensors.");
            }

            _cutOutputIndex[k] = index;
            _tailInputs[k] = PinnedTensor.Create(TensorElementType.Float, Batch1(input.Shape));
            var shape = _tailInputs[k].Shape;
            cuts.Add(new CutTensorLayout(input.Name, shape.Length >= 2 ? (int)shape[1] : 1, checked((int)_tailInputs[k].ElementCount), shape.Length));
        }

        CutTensors = cuts;
        OutputShape = _tail.Outputs[0].Shape;
        _logits = PinnedTensor.Create(TensorElementType.Float, Batch1(_tail.Outputs[0].Shape));
        _headBinding = _head.Bind([(_head.Inputs[0].Name, _frame)], [.. _head.Outputs.Select((o, i) => (o.Name, _headOutputs[i]))]);
        _tailBinding = _tail.Bind([.. _tail.Inputs.Select((t, i) => (t.Name, _tailInputs[i]))], [(_tail.Outputs[0].Name, _logits)]);
    }

    public int FrameLength { get; }

    public IReadOnlyList<CutTensorLayout> CutTensors { get; }

    public long[] OutputShape { get; }

    public ExecutionProvider Provider => _head.Provider;

    public void RunHead(ReadOnlySpan<float> frame, Span<float> cut)
    {
        frame[..FrameLength].CopyTo(_frame.AsSpan<float>());
        _headBinding.Run();
        int offset = 0;
        for (int k = 0; k < _cutOutputIndex.Length; k++)
        {
            var values = _headOutputs[_cutOutputIndex[k]].AsSpan<float>();
            values.CopyTo(cut[offset..]);
            offset += values.Length;
        }
    }

    public int RunTail(ReadOnlySpan<float> cut)
    {
        int offset = 0;
        foreach (var input in _tailInputs)
        {
            var target = input.AsSpan<float>();
            cut.Slice(offset, target.Length).CopyTo(target);
            offset += target.Length;
        }

        _tailBinding.Run();
        var logits = _logits.AsSpan<float>();
        int best = 0;
        for (int j = 1; j < logits.Length; j++)
        {
            if (logits[j] > logits[best])
            {
                best = j;
            }
        }

        return best;
    }

    public void Dispose()
    {
        _headBinding.Dispose();
        _tailBinding.Dispose();
        _frame.Dispose();
        foreach (var t in _headOutputs)
        {
            t.Dispose();
        }

        foreach (var t in _tailInputs)
        {
            t.Dispose();
        }

        _logits.Dispose();
        _head.Dispose();
        _tail.Dispose();
    }

    private static long[] Batch1(long[] shape) => [.. shape.Select(d => d < 0 ? 1 : d)];
}
