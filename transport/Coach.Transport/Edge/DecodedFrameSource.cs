using Coach.Engine.Data;
using Coach.Engine.Data.Media;
using Coach.Native.OnnxRuntime;

namespace Coach.Transport.Edge;

/// <summary>
/// Decoded images, video or tensors as the edge's frames (docs/data.md): decoded once, before the run, at the plan's input
/// size, so the edge's measured compute is the model's (and the preprocessing's) and not the decoder's, as with a camera that
/// hands over ready frames. Each decoded frame is played once, in order.
/// </summary>
public sealed class DecodedFrameSource(ILabelledFrames frames) : IFrameSource
{
    public ILabelledFrames Frames { get; } = frames ?? throw new ArgumentNullException(nameof(frames));

    public int Count => Frames.Count;

    public string Description => Frames.Source;

    public int Label(int index) => Frames.Label(index);

    public void RenderFrame(int index, Span<float> chw) => Frames.RenderFrame(index, chw);
}

/// <summary>Opens <c>coach-edge run --source</c>: <c>stream:low|medium|high</c>, <c>images:DIR</c>, <c>video:FILE</c>,
/// <c>tensors:FILE</c> or <c>camera:/dev/videoN</c>.</summary>
public static class FrameSources
{
    /// <summary>The source named by <paramref name="spec"/>; decoded media are sized to the plan's first model input and
    /// rendered through the plan's input contract, and hold at most <paramref name="frames"/> frames. <paramref name="notes"/>
    /// are for the operator (e.g. unlabelled frames).</summary>
    public static IFrameSource Open(string spec, PlanDirectory plan, int frames, int runLength, int seed, out IReadOnlyList<string> notes)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(plan);
        if (spec.StartsWith(CameraFrameSource.Prefix, StringComparison.Ordinal))
        {
            var contract = Contract(plan);
            notes = [$"camera frames are unlabelled; preprocessing: {contract.Describe()}"];
            return new CameraFrameSource(spec, contract, frames);
        }
        if (!MediaSource.IsMedia(spec))
        {
            notes = [];
            return TaskStreamSource.Parse(spec, frames, runLength, seed);
        }
        var input = Contract(plan);
        var source = new DecodedFrameSource(MediaSource.Load(spec, input, input.ClassNames ?? FrameSet.FashionMnistClasses, out var loadNotes, frames));
        notes = input.IsDefault ? loadNotes : [.. loadNotes, $"preprocessing: {input.Describe()}"];
        return source;
    }

    /// <summary>The plan's input contract: plan.json's <c>input</c> (written from the model's card by <c>coach plan</c>), else
    /// today's default at the first model's input size.</summary>
    public static InputContract Contract(PlanDirectory plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var (height, width) = InputSize(plan);
        if (plan.Document.Input is not { } card)
        {
            return InputContract.Default(height, width);
        }
        var contract = card.ToContract($"{Path.Combine(plan.DirectoryPath, PlanDirectory.PlanFileName)} (input)");
        if (contract.Height != height || contract.Width != width)
        {
            throw new InvalidDataException($"{plan}: plan.json's input is {contract.Width}×{contract.Height}, its model takes {width}×{height}; plan again with `coach plan`");
        }
        return contract;
    }

    /// <summary>Height and width of the frames the plan's first model takes (head, full model, or the tail of a cloud-only plan).</summary>
    public static (int Height, int Width) InputSize(PlanDirectory plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var path = plan.HeadPath ?? plan.ModelPath ?? plan.TailPath
            ?? throw new InvalidDataException($"{plan} names no model to take the input size from");
        using var session = InferenceSession.Open(path, new SessionSettings { Providers = [ExecutionProvider.Cpu], Optimization = GraphOptimization.Disabled });
        var shape = session.Inputs[0].Shape;
        if (shape.Length != 4 || shape[1] != 3 || shape[2] < 1 || shape[3] < 1)
        {
            throw new InvalidDataException(
                $"{path}: input '{session.Inputs[0].Name}' is [{string.Join(", ", shape)}]; images and video feed models that take RGB frames [N, 3, H, W] of a fixed size");
        }
        return ((int)shape[2], (int)shape[3]);
    }
}
