using Coach.Engine.Data;

namespace Coach.Transport.Edge;

/// <summary>
/// The dataset streams of the bundled data (<see cref="TaskStream"/>) as a frame source. Like a camera, it delivers
/// ready uint8 frames: up to <see cref="MaxCapturedBytes"/> of them are rendered before the run starts, so the
/// edge's measured compute is the model's and not the synthetic renderer's; longer streams render on demand.
/// </summary>
public sealed class TaskStreamSource : IFrameSource
{
    /// <summary>Largest pre-rendered stream (uint8 frames), 1 GiB.</summary>
    public const long MaxCapturedBytes = 1L << 30;

    private readonly byte[]? _captured;
    private readonly int _frameBytes;

    public TaskStreamSource(TaskStream stream, bool capture = true)
    {
        Stream = stream ?? throw new ArgumentNullException(nameof(stream));
        _frameBytes = FrameRenderer.PixelCount;
        if (capture && (long)_frameBytes * stream.Count <= MaxCapturedBytes)
        {
            _captured = GC.AllocateUninitializedArray<byte>(_frameBytes * stream.Count);
            Parallel.For(0, stream.Count, i => stream.RenderFrame(i, _captured.AsSpan(i * _frameBytes, _frameBytes)));
        }
    }

    public TaskStream Stream { get; }

    public int Count => Stream.Count;

    public string Description => $"stream:{Stream.Correlation.ToString().ToLowerInvariant()} ({Stream.Count} frames, run length {Stream.RunLength}, seed {Stream.Seed}{(_captured is null ? ", rendered on demand" : "")})";

    public int Label(int index) => Stream.Label(index);

    public void RenderFrame(int index, Span<float> chw)
    {
        if (_captured is null)
        {
            Stream.RenderFrame(index, chw);
            return;
        }

        if ((uint)index >= (uint)Count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"the stream holds {Count} frames");
        }

        FrameRenderer.ToUnitRange(_captured.AsSpan(index * _frameBytes, _frameBytes), chw);
    }

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
