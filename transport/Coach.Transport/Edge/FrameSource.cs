namespace Coach.Transport.Edge;

/// <summary>A finite stream of inference tasks (video frames) with known labels, rendered on demand.</summary>
public interface IFrameSource
{
    int Count { get; }

    /// <summary>The true label of task <paramref name="index"/> (for accuracy; -1 when unknown).</summary>
    int Label(int index);

    /// <summary>Renders task <paramref name="index"/> into <paramref name="chw"/> (float32, C×H×W, model input layout).</summary>
    void RenderFrame(int index, Span<float> chw);

    /// <summary>What the source is, for logs and summaries.</summary>
    string Description { get; }
}
