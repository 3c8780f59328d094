using System.Net;
using Coach.Native.OnnxRuntime;
using Coach.Transport.Protocol;
using Coach.Transport.Security;

namespace Coach.Transport.Cloud;

/// <summary>Settings of a <see cref="CloudServer"/>.</summary>
public sealed record CloudServerOptions
{
    /// <summary>Where to listen; port 0 picks a free port (see <see cref="CloudServer.LocalEndPoint"/>).</summary>
    public IPEndPoint Listen { get; init; } = new(IPAddress.Loopback, 7400);

    /// <summary>Makes what serves a plan's requests in place of its tail (a relay's stage, docs/edgepipe.md); null = the tail.</summary>
    internal Func<PlanDirectory, CloudServerOptions, CloudMetrics, IRequestStage>? StageFactory { get; init; }

    /// <summary>Largest batch formed from requests that share a tail.</summary>
    public int MaxBatch { get; init; } = 8;

    /// <summary>How long the first request of a batch waits for company.</summary>
    public TimeSpan MaxWait { get; init; } = TimeSpan.FromMilliseconds(2);

    public WireLimits Limits { get; init; } = WireLimits.Default;

    /// <summary>A connection that has not completed its handshake by then is dropped.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Pre-shared keys of the edges allowed in; with keys every edge must pass the HMAC
    /// challenge–response of the handshake. Null = no authentication (<c>--insecure-no-auth</c>), logged loudly.
    /// </summary>
    public EdgeKeyStore? Keys { get; init; }

    /// <summary>
    /// TLS on every connection (the handshake, bounded by <see cref="HandshakeTimeout"/>, runs before any
    /// protocol byte is read); with client CAs, mutual TLS authenticates edges without a key. Null = plain TCP.
    /// </summary>
    public CloudTlsSettings? Tls { get; init; }

    /// <summary>Whether edges must prove who they are: a pre-shared key, or a client certificate (mutual TLS).</summary>
    public bool AuthenticatesEdges => Keys is not null || Tls is { RequiresClientCertificate: true };

    /// <summary>A connection with no traffic and nothing in flight for this long is closed (Goodbye IdleTimeout); zero = never.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Extra delay before each batch of answers is written (fault injection: a slow cloud); see <see cref="CloudServer.ResponseDelay"/>.</summary>
    public TimeSpan ResponseDelay { get; init; }

    /// <summary>
    /// Read before each batch: a factor ≥ 1 stretches the batch's compute to that multiple of its measured time by
    /// waiting on the tail's thread (fault injection: a straggling worker, docs/coded.md §4); null or ≤ 1 = off.
    /// </summary>
    public Func<double>? ComputeSlowdown { get; init; }

    /// <summary>Most connections served at once; more are rejected with <see cref="ReasonCode.ServerBusy"/>.</summary>
    public int MaxConnections { get; init; } = 1024;

    /// <summary>Period of the metrics log line; zero turns it off.</summary>
    public TimeSpan LogInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>ORT settings of the tails (threads, providers).</summary>
    public SessionSettings? TailSettings { get; init; }

    /// <summary>Name the server gives in HelloAck and logs.</summary>
    public string ServerId { get; init; } = $"coach-cloud@{Environment.MachineName}";

    /// <summary>Where log lines go (one line per call); default: standard error.</summary>
    public Action<string> Log { get; init; } = static line => Console.Error.WriteLine(line);

    /// <summary>
    /// Fragment re-alignment (docs/fleet.md §4): plans of one model whose cuts nest share the later tail's batches through
    /// bridge fragments, chosen every <see cref="RealignInterval"/> from the measured request rates under <see cref="RealignBudget"/>.
    /// </summary>
    public bool Realign { get; init; }

    /// <summary>The cloud-side latency budget of every request (waits, bridge and tail runs) that re-alignment must keep.</summary>
    public TimeSpan RealignBudget { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>How often the re-alignment is chosen again from the request rates of the last period.</summary>
    public TimeSpan RealignInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Load shedding: a request that finds this many requests of its plan already waiting for the tail is answered at once with
    /// <see cref="Protocol.ReasonCode.Overloaded"/> (the edge answers that frame with its own model); 0 = never shed.
    /// </summary>
    public int ShedQueueDepth { get; init; }

    public void Validate()
    {
        if (ShedQueueDepth < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(ShedQueueDepth), ShedQueueDepth, "the shedding queue depth must be 0 (off) or positive");
        }

        Limits.Validate();
        if (Realign && (RealignBudget <= TimeSpan.Zero || RealignInterval < TimeSpan.FromMilliseconds(100)))
        {
            throw new ArgumentOutOfRangeException(nameof(RealignBudget), "the re-alignment budget must be positive and its interval at least 0.1 s");
        }

        if (MaxBatch is < 1 or > 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxBatch), MaxBatch, "max batch must be 1 … 1024");
        }

        if (MaxWait < TimeSpan.Zero || MaxWait > TimeSpan.FromSeconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(MaxWait), MaxWait, "max wait must be 0 … 1000 ms");
        }

        if (HandshakeTimeout <= TimeSpan.Zero || IdleTimeout < TimeSpan.Zero || ResponseDelay < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(HandshakeTimeout), "the handshake timeout must be positive; idle timeout and response delay must not be negative");
        }

        if (MaxConnections < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxConnections), MaxConnections, "max connections must be positive");
        }
    }
}
