namespace Coach.Engine.Online;

/// <summary>
/// Whether a model's output is class scores, which the semantic cache needs: a label per frame to learn centres from (eq. 7)
/// and to answer with on an early exit (eq. 10). The number of labels is the output's class dimension, not a fixed 10.
/// </summary>
public static class ModelOutputKind
{
    /// <summary>
    /// The number of classes of an output shaped [N, classes] with at least 2 classes (N may be symbolic, −1); null for any
    /// other shape (a detection head's boxes, a feature map, a scalar), whose frames have no label to exit with.
    /// </summary>
    /// <remarks>
    /// An embedding model's [N, D] output has the same shape as class scores; only the user can tell them apart, so
    /// <c>coach calibrate-online --adaptive-bits-only</c> forces the label-free mode for such a model.
    /// </remarks>
    public static int? Classes(IReadOnlyList<long>? outputShape) =>
        outputShape is { Count: 2 } && outputShape[1] >= 2 && outputShape[1] <= int.MaxValue ? (int)outputShape[1] : null;

    /// <summary>Why a model with <paramref name="outputShape"/> runs with adaptive bits only, for logs and scheduler.json.</summary>
    public static string NotClassScores(IReadOnlyList<long>? outputShape) =>
        $"the tail's output is [{string.Join(", ", outputShape ?? [])}], not class scores [N, classes]: no labels to learn semantic centres from or to answer an early exit with";
}
