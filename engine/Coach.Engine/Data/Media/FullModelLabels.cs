using Coach.Native.OnnxRuntime;

namespace Coach.Engine.Data.Media;

/// <summary>
/// Label-free calibration: frames without labels get the full model's own top-1 answers as labels, so eq. 1's accuracy
/// loss of a quantized cut becomes its disagreement with the full model on the same frames (docs/data.md).
/// </summary>
public static class FullModelLabels
{
    /// <summary>Runs the full model over <paramref name="frames"/> and returns them labelled with its top-1 answers.</summary>
    public static DecodedFrames Apply(InferenceSession fullModel, DecodedFrames frames, int batchSize = 16) =>
        (DecodedFrames)Apply(fullModel, (ILabelledFrames)frames, batchSize);

    /// <summary>As above for any frames the loaders return (decoded media, or float32 tensors).</summary>
    public static ILabelledFrames Apply(InferenceSession fullModel, ILabelledFrames frames, int batchSize = 16)
    {
        ArgumentNullException.ThrowIfNull(fullModel);
        ArgumentNullException.ThrowIfNull(frames);
        var output = fullModel.Outputs[0];
        if (output.Shape.Length != 2 || output.Shape[1] < 2)
        {
            throw new ModelDataMismatchException(
                $"{fullModel.DisplayName}: output '{output.Name}' is [{string.Join(", ", output.Shape)}], not class scores [N, classes]; " +
                "label-free calibration compares top-1 answers, so it needs a classifier");
        }
        var classes = (int)output.Shape[1];
        var (channels, height, width) = frames.FrameShape;
        var frameFloats = channels * height * width;
        var labels = new int[frames.Count];
        var input = fullModel.Inputs[0].Name;
        for (var start = 0; start < frames.Count; start += batchSize)
        {
            var count = Math.Min(batchSize, frames.Count - start);
            var batch = DenseTensor.Create(TensorElementType.Float, [count, channels, height, width]);
            var span = batch.AsSpan<float>();
            for (var i = 0; i < count; i++)
            {
                frames.RenderFrame(start + i, span.Slice(i * frameFloats, frameFloats));
            }
            var scores = fullModel.Run([new NamedTensor(input, batch)], [output.Name])[0].AsSpan<float>();
            for (var i = 0; i < count; i++)
            {
                labels[start + i] = ModelEvaluator.ArgMax(scores.Slice(i * classes, classes));
            }
        }
        var names = Enumerable.Range(0, classes).Select(c => c.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var source = $"{frames.Source}, labelled by the full model's top-1 (label-free)";
        return frames switch
        {
            DecodedFrames decoded => decoded.Relabelled(labels, names, source),
            FloatFrames floats => floats.Relabelled(labels, names, source),
            _ => throw new ArgumentException($"{frames.Source}: frames of type {frames.GetType().Name} cannot be relabelled", nameof(frames)),
        };
    }
}
