using Coach.Native.OnnxRuntime;

namespace Coach.Engine.Data;

/// <summary>Top-1 result of a model on labelled frames (<see cref="Samples"/> counts the labelled ones).</summary>
public sealed record EvaluationResult(string Model, int Correct, int Samples, string Source, bool IsFullTestSet, ExecutionProvider Provider)
{
    public double Accuracy => Samples == 0 ? 0 : (double)Correct / Samples;
}

/// <summary>A model's input or output does not fit the frames it is asked to classify.</summary>
public sealed class ModelDataMismatchException(string message) : InvalidOperationException(message);

/// <summary>Runs a classifier over rendered frames through ONNX Runtime and counts top-1 hits.</summary>
public static class ModelEvaluator
{
    /// <summary>Checks that <paramref name="session"/> takes float32 [N, C, H, W] frames of the data's shape and yields
    /// [N, classes]; returns the fixed batch size the model demands, or 0 when its batch dimension is dynamic.</summary>
    public static int CheckCompatible(InferenceSession session, ILabelledFrames frames)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(frames);
        if (session.Inputs.Count != 1 || session.Outputs.Count < 1)
        {
            throw new ModelDataMismatchException(
                $"{session.DisplayName} has {session.Inputs.Count} inputs and {session.Outputs.Count} outputs; a frame classifier has one input (frames) and a logits output");
        }

        var input = session.Inputs[0];
        long[] s = input.Shape;
        var (channels, height, width) = frames.FrameShape;
        bool shapeFits = s.Length == 4 && s[1] == channels && s[2] == height && s[3] == width;
        if (!shapeFits || input.ElementType != TensorElementType.Float)
        {
            throw new ModelDataMismatchException(
                $"{session.DisplayName}: input '{input.Name}' is {input.ElementType} [{FormatShape(s)}], but the data ({frames.Source}) " +
                $"are float32 frames [N, {channels}, {height}, {width}]; decode the data at the model's input size, or use a model trained on these frames");
        }

        var output = session.Outputs[0];
        long classes = output.Shape.Length == 2 ? output.Shape[1] : -2;
        if (classes != frames.ClassNames.Count || output.ElementType != TensorElementType.Float)
        {
            throw new ModelDataMismatchException(
                $"{session.DisplayName}: output '{output.Name}' is {output.ElementType} [{FormatShape(output.Shape)}], but the data have {frames.ClassNames.Count} classes; expected float32 [N, {frames.ClassNames.Count}] logits");
        }

        return s[0] > 0 ? (int)s[0] : 0;
    }

    /// <summary>Top-1 accuracy of the model at <paramref name="modelPath"/> on every sample of <paramref name="frames"/>.</summary>
    /// <param name="progress">Called after each batch with (samples done, total).</param>
    public static EvaluationResult Evaluate(string modelPath, ILabelledFrames frames, int batchSize = 32,
        Action<int, int>? progress = null, SessionSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(frames);
        if (!File.Exists(modelPath))
        {
            throw new FileNotFoundException($"{modelPath}: model file not found", modelPath);
        }

        using var session = InferenceSession.Open(modelPath, settings);
        return Evaluate(session, frames, batchSize, progress);
    }

    public static EvaluationResult Evaluate(InferenceSession session, ILabelledFrames frames, int batchSize = 32, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(frames);
        if (batchSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "the batch size must be at least 1");
        }

        int fixedBatch = CheckCompatible(session, frames);
        var (channels, height, width) = frames.FrameShape;
        int frameFloats = channels * height * width;
        int labelled = 0;
        for (int i = 0; i < frames.Count; i++)
        {
            labelled += frames.Label(i) >= 0 ? 1 : 0;
        }
        if (labelled == 0)
        {
            throw new ModelDataMismatchException(
                $"{frames.Source} has no labelled frame, so there is no accuracy to measure; put images in class subfolders " +
                "named like the model's classes, or give a video its .labels file (docs/data.md)");
        }
        if (fixedBatch > 0)
        {
            batchSize = fixedBatch;
        }

        string inputName = session.Inputs[0].Name;
        string outputName = session.Outputs[0].Name;
        int classes = frames.ClassNames.Count;
        int correct = 0;
        int done = 0;
        Batch? full = null;
        Batch? tail = null;
        try
        {
            while (done < frames.Count)
            {
                int n = Math.Min(batchSize, frames.Count - done);
                if (fixedBatch > 0)
                {
                    n = batchSize;   // a fixed-batch model gets padded batches; only real samples are counted
                }

                Batch batch = n == batchSize
                    ? full ??= new Batch(session, inputName, outputName, batchSize, classes, frames.FrameShape)
                    : tail ??= new Batch(session, inputName, outputName, n, classes, frames.FrameShape);
                var input = batch.Input.AsSpan<float>();
                int real = Math.Min(n, frames.Count - done);
                for (int i = 0; i < real; i++)
                {
                    frames.RenderFrame(done + i, input.Slice(i * frameFloats, frameFloats));
                }

                batch.Binding.Run();
                var logits = batch.Output.AsSpan<float>();
                for (int i = 0; i < real; i++)
                {
                    if (ArgMax(logits.Slice(i * classes, classes)) == frames.Label(done + i))
                    {
                        correct++;
                    }
                }

                done += real;
                progress?.Invoke(done, frames.Count);
            }
        }
        finally
        {
            full?.Dispose();
            tail?.Dispose();
        }

        return new EvaluationResult(session.DisplayName, correct, labelled, frames.Source, frames.IsFullTestSet, session.Provider);
    }

    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }

        return best;
    }

    private static string FormatShape(long[] shape) => string.Join(", ", shape.Select(d => d < 0 ? "N" : d.ToString()));

    private sealed class Batch : IDisposable
    {
        public Batch(InferenceSession session, string inputName, string outputName, int size, int classes,
            (int Channels, int Height, int Width) frame)
        {
            Input = PinnedTensor.Create(TensorElementType.Float, [size, frame.Channels, frame.Height, frame.Width]);
            Output = PinnedTensor.Create(TensorElementType.Float, [size, classes]);
            Binding = session.Bind([(inputName, Input)], [(outputName, Output)]);
        }

        public PinnedTensor Input { get; }

        public PinnedTensor Output { get; }

        public SessionBinding Binding { get; }

        public void Dispose()
        {
            Binding.Dispose();
            Input.Dispose();
            Output.Dispose();
        }
    }
}
