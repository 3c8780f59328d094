using Coach.Engine.Data;

namespace Coach.Transport.Edge;

/// <summary>The dataset streams of the bundled data (<see cref="TaskStream"/>) as a frame source.</summary>
public sealed class TaskStreamSource(TaskStream stream) : IFrameSource
{
    public TaskStream Stream { get; } = stream ?? throw new ArgumentNullException(nameof(stream));

    public int Count => Stream.Count;

    public string Description => $"stream:{Stream.Correlation.ToString().ToLowerInvariant()} ({Stream.Count} frames, run length {Stream.RunLength}, seed {Stream.Seed})";

    public int Label(int index) => Stream.Label(index);

    public void RenderFrame(int index, Span<float> chw) => Stream.RenderFrame(index, chw);

    /// <summary>
    /// Parses <c>stream:low|medium|high</c> and builds the stream over the bundled test split.
    /// </summary>
    public static TaskStreamSource Parse(string spec, int frames, int runLength, int seed)
    {
        ArgumentNullException.ThrowIfNull(spec);
        const string prefix = "stream:";
        if (!spec.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)
            || !Enum.TryParse(spec[prefix.Length..], ignoreCase: true, out StreamCorrelation correlation)
            || !Enum.IsDefined(correlation))
        {
            throw new FormatException($"--source {spec}: expected stream:low, stream:medium or stream:high");
        }

        return new TaskStreamSource(TaskStream.Create(BundledData.Load(DataSplit.Test), correlation, frames, runLength, seed));
    }
}
