using System.IO.Pipelines;
using Coach.Transport.Protocol;

namespace Coach.Transport.Connections;

/// <summary>
/// Explicit pipe settings of a connection (the Kestrel habit: pause/resume thresholds, resume =
/// pause/2, no synchronization context). The input pipe must be able to hold one whole frame —
/// otherwise a frame larger than the pause threshold would stall the reader waiting for bytes the
/// paused socket loop never delivers — so its threshold follows the largest frame allowed.
/// </summary>
public sealed record ConnectionOptions
{
    /// <summary>Unconsumed received bytes at which the socket receive loop stops reading.</summary>
    public long InputPauseThreshold { get; init; } = WireLimits.Default.MaxFrameBytes + FrameHeader.Size + (64 << 10);

    /// <summary>Unsent bytes at which writers' flushes wait: small, so a sender feels the link's pace.</summary>
    public long OutputPauseThreshold { get; init; } = 256 << 10;

    /// <summary>Smallest buffer asked of the pool for one socket receive.</summary>
    public int MinimumSegmentSize { get; init; } = 16 << 10;

    /// <summary>Shaper applied to the socket send loop (in-process token bucket), or null.</summary>
    public LinkShaper? Shaper { get; init; }

    /// <summary>Options whose input pipe holds the largest frame <paramref name="limits"/> admit.</summary>
    public static ConnectionOptions For(WireLimits limits, LinkShaper? shaper = null) => new()
    {
        InputPauseThreshold = (long)limits.MaxFrameBytes + FrameHeader.Size + (64 << 10),
        Shaper = shaper,
    };

    public PipeOptions CreateInputPipeOptions() => Create(InputPauseThreshold);

    public PipeOptions CreateOutputPipeOptions() => Create(OutputPauseThreshold);

    private PipeOptions Create(long pauseThreshold) => new(
        pool: null,
        readerScheduler: PipeScheduler.ThreadPool,
        writerScheduler: PipeScheduler.ThreadPool,
        pauseWriterThreshold: pauseThreshold,
        resumeWriterThreshold: pauseThreshold / 2,
        minimumSegmentSize: MinimumSegmentSize,
        useSynchronizationContext: false);
}
