using System.Net;
using Coach.Engine.Planning.MultiStage;
using Coach.Native.OnnxRuntime;
using Coach.Transport.Cloud;
using Coach.Transport.Protocol;
using Coach.Transport.Security;

namespace Coach.Transport.Relay;

/// <summary>Settings of a <see cref="RelayServer"/> (coach-relay's command line).</summary>
public sealed record RelayOptions
{
    /// <summary>The folder coach plan --devices wrote (pipeline.json, stage-N.onnx, hop-N/).</summary>
    public required string PipelineDirectory { get; init; }

    /// <summary>Which stage this relay runs, 1-based: neither the first (the edge) nor the last (the cloud).</summary>
    public required int Stage { get; init; }

    /// <summary>The next hop: the next relay or the cloud.</summary>
    public required EndPoint Next { get; init; }

    public IPEndPoint Listen { get; init; } = new(IPAddress.Loopback, 7401);

    /// <summary>Keys of the previous hop's devices (null = no authentication, logged loudly).</summary>
    public EdgeKeyStore? Keys { get; init; }

    /// <summary>The key this relay proves itself with to the next hop (null when that hop runs without authentication).</summary>
    public PreSharedKey? NextKey { get; init; }

    public SessionSettings? StageSettings { get; init; }

    public string ServerId { get; init; } = $"coach-relay@{Environment.MachineName}";

    public Action<string> Log { get; init; } = static line => Console.Error.WriteLine(line);

    /// <summary>Emulates a device this many times slower: the stage's compute is stretched to that multiple of its measured time (1 = off).</summary>
    public double Slowdown { get; init; } = 1;

    /// <summary>Paces the link to the next hop at this rate in bit/s (an emulated link); null = unshaped.</summary>
    public double? NextLinkBitsPerSecond { get; init; }

    /// <summary>Most requests forwarded and unanswered at once.</summary>
    public int Window { get; init; } = 32;
}

/// <summary>
/// coach-relay (docs/edgepipe.md §7): serves the previous hop as coach-cloud serves an edge — the same protocol,
/// handshake and authentication, every request answered once — with the stage of <see cref="RelayOptions.Stage"/> in
/// place of a tail, and forwards each request's next cut over a <see cref="ResendingLink"/> to the next hop.
/// </summary>
public sealed class RelayServer : IAsyncDisposable
{
    private readonly CloudServer _server;
    private readonly RelayStage _stage;

    private RelayServer(CloudServer server, RelayStage stage, ResendingLink next)
    {
        _server = server;
        _stage = stage;
        Next = next;
    }

    public IPEndPoint LocalEndPoint => _server.LocalEndPoint;

    /// <summary>Mean time of the stage model on this machine, ms, before any emulated slowdown.</summary>
    public double MeanStageComputeMilliseconds => _stage.MeanComputeMilliseconds;

    /// <summary>The link to the next hop.</summary>
    public ResendingLink Next { get; }

    /// <summary>Loads the stage, connects to the next hop (retrying up to <paramref name="connectTimeout"/>) and starts listening.</summary>
    public static async Task<RelayServer> StartAsync(RelayOptions options, TimeSpan connectTimeout)
    {
        ArgumentNullException.ThrowIfNull(options);
        string planFile = Path.Combine(options.PipelineDirectory, PipelinePlanningSession.PlanFile);
        if (!File.Exists(planFile))
        {
            throw new FileNotFoundException($"{options.PipelineDirectory} has no {PipelinePlanningSession.PlanFile}: write it with coach plan --devices FILE --out DIR", planFile);
        }
        var pipeline = PipelinePlanDocument.Load(planFile);
        if (options.Stage < 2 || options.Stage >= pipeline.K)
        {
            throw new ArgumentException($"--stage {options.Stage}: a relay runs one of stages 2 … {pipeline.K - 1} of this {pipeline.K}-stage plan (stage 1 is the edge, stage {pipeline.K} the cloud)");
        }
        var stageDoc = pipeline.Stages[options.Stage - 1];
        var hop = PlanDirectory.Load(Path.Combine(options.PipelineDirectory, PipelinePlanWriter.HopDirectory(options.Stage)));
        string? modelPath = stageDoc.Model is { } part ? Path.Combine(options.PipelineDirectory, part.File) : null;
        var stage = new RelayStage(hop, stageDoc, modelPath, options.StageSettings ?? new SessionSettings { Providers = [ExecutionProvider.Cpu], IntraOpThreads = 1 }, options.Log, options.Slowdown);
        var hello = new HelloMessage
        {
            ClientId = options.ServerId,
            ModelSha256 = Convert.FromHexString(pipeline.Model.Sha256),
            PlanId = PipelinePlanWriter.HopPlanId(pipeline.Id, options.Stage + 1),
        };
        var next = new ResendingLink(options.Next, hello, options.NextKey, stage, options.Log, options.Window,
            options.NextLinkBitsPerSecond is { } rate ? new LinkShaper(rate) : null);
        stage.Attach(next);
        try
        {
            await next.ConnectAsync(connectTimeout).ConfigureAwait(false);
        }
        catch
        {
            stage.Dispose();
            await next.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        var server = new CloudServer(new CloudServerOptions
        {
            Listen = options.Listen,
            MaxBatch = 1,
            Keys = options.Keys,
            ServerId = options.ServerId,
            Log = options.Log,
            LogInterval = TimeSpan.Zero,
            StageFactory = (_, _, _) => stage,
        }, [hop]);
        server.Start();
        options.Log($"relay: stage {options.Stage} of {pipeline.Id} on {server.LocalEndPoint}, next hop {options.Next}; {stage.Describe()}");
        return new RelayServer(server, stage, next);
    }

    /// <summary>As SIGKILL: every connection dropped at once, nothing answered; what was in flight is the previous hop's to send again.</summary>
    public async Task AbortAsync()
    {
        await _server.AbortAsync().ConfigureAwait(false);
        await Next.DisposeAsync().ConfigureAwait(false);
        _stage.Dispose();
    }

    /// <summary>Graceful stop: the previous hop told Goodbye, what it sent answered (within <paramref name="drain"/>).</summary>
    public async Task ShutdownAsync(TimeSpan drain)
    {
        await _server.ShutdownAsync(drain).ConfigureAwait(false);
        await DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync().ConfigureAwait(false);
        await Next.DisposeAsync().ConfigureAwait(false);
        _stage.Dispose();
    }
}
