using Coach.Engine.Data;
using Coach.Native.OnnxRuntime;

namespace Coach.Transport.Edge;

/// <summary>
/// The full model on the edge, answering frames while the cloud is away (edge-only fallback): one
/// pinned input and output bound once, so an answer allocates nothing; calls are serialised.
/// </summary>
public sealed class FallbackModel : IDisposable
{
    private readonly InferenceSession _session;
    private readonly PinnedTensor _input;
    private readonly PinnedTensor _output;
    private readonly SessionBinding _binding;
    private readonly Lock _gate = new();

    private FallbackModel(InferenceSession session, PinnedTensor input, PinnedTensor output, SessionBinding binding, string path)
    {
        _session = session;
        _input = input;
        _output = output;
        _binding = binding;
        ModelPath = path;
    }

    public string ModelPath { get; }

    /// <summary>Elements of one input frame.</summary>
    public long FrameElements => _input.ElementCount;

    public static FallbackModel Open(string fullModelPath, SessionSettings? settings = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(fullModelPath);
        var session = InferenceSession.Open(fullModelPath, settings);
        try
        {
            TensorMetadata input = session.Inputs[0];
            TensorMetadata output = session.Outputs[0];
            var inputTensor = PinnedTensor.Create(TensorElementType.Float, input.ConcreteShape(1));
            var outputTensor = PinnedTensor.Create(TensorElementType.Float, output.ConcreteShape(1));
            SessionBinding binding = session.Bind([(input.Name, inputTensor)], [(output.Name, outputTensor)]);
            return new FallbackModel(session, inputTensor, outputTensor, binding, fullModelPath);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>The label (argmax of the logits) of one frame given as its input values.</summary>
    public int Answer(ReadOnlySpan<float> frame)
    {
        lock (_gate)
        {
            Span<float> input = _input.AsSpan<float>();
            if (frame.Length != input.Length)
            {
                throw new ArgumentException($"the full model takes {input.Length} input values per frame, got {frame.Length}", nameof(frame));
            }

            frame.CopyTo(input);
            _binding.Run();
            return ModelEvaluator.ArgMax(_output.AsSpan<float>());
        }
    }

    /// <summary>The label of a frame rendered straight into the model's input by <paramref name="render"/>.</summary>
    public int Answer(IFrameSource source, int frame)
    {
        ArgumentNullException.ThrowIfNull(source);
        lock (_gate)
        {
            source.RenderFrame(frame, _input.AsSpan<float>());
            _binding.Run();
            return ModelEvaluator.ArgMax(_output.AsSpan<float>());
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _binding.Dispose();
            _input.Dispose();
            _output.Dispose();
            _session.Dispose();
        }
    }
}
