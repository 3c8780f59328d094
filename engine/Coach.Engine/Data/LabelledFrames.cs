namespace Coach.Engine.Data;

/// <summary>
/// Frames a model can be evaluated or calibrated on: a fixed count, each rendered into the model's input layout
/// (float32, C×H×W) with its class label, or -1 where the label is unknown.
/// </summary>
public interface ILabelledFrames
{
    int Count { get; }

    /// <summary>Channels, height and width of one frame.</summary>
    (int Channels, int Height, int Width) FrameShape { get; }

    /// <summary>The class names labels index into, in label order.</summary>
    IReadOnlyList<string> ClassNames { get; }

    /// <summary>Where the frames come from, for logs and summaries.</summary>
    string Source { get; }

    /// <summary>True only for the whole bundled test set, whose accuracy the manifest records.</summary>
    bool IsFullTestSet { get; }

    /// <summary>A short digest of the frames and labels: results measured on one set are never reused for another.</summary>
    string Fingerprint { get; }

    int Label(int index);

    void RenderFrame(int index, Span<float> chw);
}
