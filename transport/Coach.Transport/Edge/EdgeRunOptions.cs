using System.Net;
using Coach.Native.OnnxRuntime;
using Coach.Transport.Security;

namespace Coach.Transport.Edge;

/// <summary>Settings of one edge run.</summary>
public sealed record EdgeRunOptions
{
    /// <summary>The cloud to send to; null is fine for an edge-only plan.</summary>
    public EndPoint? Cloud { get; init; }

    public string ClientId { get; init; } = $"coach-edge@{Environment.MachineName}";

    /// <summary>
    /// Frames arrive at this rate, as from a camera (null: as fast as the pipeline takes them). A paced frame's latency
    /// counts from its arrival, so time spent waiting for a free slot behind a slower pipeline is part of it.
    /// </summary>
    public double? FramesPerSecond { get; init; }

    /// <summary>
    /// Stop taking new frames this long after the first (null: run every frame of the source). Frames already taken are
    /// still answered; the summary and the CSV cover the frames taken. For runs that follow a schedule (a link that changes
    /// rate) or a time budget, whatever throughput the pipeline reaches.
    /// </summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>
    /// Emulates a device this many times slower: every edge compute step (render and head, scheduling, packing) is
    /// stretched to this multiple of its measured time by waiting. For latency measurements on a fast machine, where a
    /// CPU quota cannot slow a lone frame (CFS quotas are ≥ 1 ms, more than a frame's CPU); 1 = off.
    /// </summary>
    public double EmulatedSlowdown { get; init; } = 1;

    /// <summary>Frames that can be in the pipeline's stages at once (head outputs held).</summary>
    public int Slots { get; init; } = 4;

    /// <summary>Capacity of each bounded queue between stages.</summary>
    public int QueueCapacity { get; init; } = 2;

    /// <summary>In-process link shaper for the send path, or null.</summary>
    public LinkShaper? Shaper { get; init; }

    /// <summary>ORT settings of the head.</summary>
    public SessionSettings? HeadSettings { get; init; }

    /// <summary>The full model, for an edge-only plan without head.onnx.</summary>
    public string? FullModelPath { get; init; }

    /// <summary>Ask the cloud for full logits in every Result.</summary>
    public bool WantLogits { get; init; }

    /// <summary>Writes a progress bar (stderr) while running.</summary>
    public bool ShowProgress { get; init; }

    /// <summary>This edge's pre-shared key (from a key file); null = no authentication.</summary>
    public PreSharedKey? Key { get; init; }

    /// <summary>TLS to the cloud (trust, server name, client certificate for mutual TLS); null = plain TCP.</summary>
    public EdgeTlsSettings? Tls { get; init; }

    /// <summary>Reconnect after the connection is lost (capped exponential backoff with jitter).</summary>
    public bool Reconnect { get; init; } = true;

    /// <summary>Answer on the edge with the full model while the cloud is away (needs plan.json's model.path or <see cref="FullModelPath"/>).</summary>
    public bool Fallback { get; init; } = true;

    public TimeSpan ReconnectInitialDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Handshake deadline of every (re)connection.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Cancelled to end the run gracefully (coach-edge on SIGTERM/SIGINT): no new frame is taken, the
    /// frames taken are still answered, then the edge says Goodbye — as when <see cref="Duration"/> ends.
    /// </summary>
    public CancellationToken StopTaking { get; init; }

    /// <summary>With requests outstanding and no byte moving for this long, the connection is declared dead; zero = never.</summary>
    public TimeSpan ResponseTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Most requests outstanding at the cloud (also capped by the cloud's HelloAck).</summary>
    public int MaxInFlight { get; init; } = 256;

    /// <summary>
    /// Load feedback (docs/fleet.md §7): when the queueing the cloud reports in its Results, smoothed, exceeds this, the
    /// edge answers frames with its full model (<see cref="Fallback"/>) and sends only a probe frame now and then, until
    /// the queueing falls below <see cref="CloudQueueResume"/>. Zero = never (the default).
    /// </summary>
    public TimeSpan CloudQueueFallback { get; init; }

    /// <summary>The reported queueing below which the edge returns to the cloud plan; zero = half of <see cref="CloudQueueFallback"/>.</summary>
    public TimeSpan CloudQueueResume { get; init; }

    /// <summary>On the load fallback, one frame in this many still goes to the cloud to learn its queueing.</summary>
    public int CloudQueueProbeEvery { get; init; } = 8;

    public Action<string> Log { get; init; } = static line => Console.Error.WriteLine(line);
}
