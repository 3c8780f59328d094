using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Coach.Transport.Connections;
using Coach.Transport.Protocol;
using Coach.Transport.Security;

namespace Coach.Transport.Cloud;

/// <summary>
/// The cloud side of Coach (docs/architecture.md §2): accepts many edge connections, loads each plan's
/// tail once (keyed by plan hash) from the plan directories it was given, batches requests that
/// share a tail, and answers every request with a Result or an Error.
/// </summary>
public sealed class CloudServer : IAsyncDisposable
{
    private readonly Dictionary<string, PlanDirectory> _plansByHash = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<IRequestStage>> _tails = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<uint, Task> _connections = new();
    private readonly ConcurrentDictionary<uint, SocketConnection> _transports = new();
    private readonly ConcurrentDictionary<uint, CloudConnection> _live = new();
    private int _draining;
    private long _tlsHandshakeFailures;
    private int _disposed;
    private long _internalErrors;
    private long _responseDelayTicks;
    private long _tailStallTicks;
    private readonly CancellationTokenSource _stopping = new();
    private Socket? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private Task _logLoop = Task.CompletedTask;
    private FragmentRealigner? _realigner;
    private int _nextConnectionId;

    public CloudServer(CloudServerOptions options, IReadOnlyList<PlanDirectory> plans)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(plans);
        options.Validate();
        Options = options;
        Plans = plans;
        _responseDelayTicks = options.ResponseDelay.Ticks;
        foreach (PlanDirectory plan in plans.Where(p => !p.IsEdgeOnly))
        {
            _plansByHash.TryAdd(plan.PlanHashHex, plan);
        }
    }

    public CloudServerOptions Options { get; }

    public IReadOnlyList<PlanDirectory> Plans { get; }

    public CloudMetrics Metrics { get; } = new();

    /// <summary>With re-alignment on: plan id → the plan whose tail answers its requests now (docs/fleet.md §4); else null.</summary>
    public IReadOnlyDictionary<string, string>? Realignment => _realigner?.Routes;

    /// <summary>Delay before each batch of answers is written (fault injection); may be changed while serving.</summary>
    public TimeSpan ResponseDelay
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _responseDelayTicks));
        set => Interlocked.Exchange(ref _responseDelayTicks, Math.Max(0, value.Ticks));
    }

    /// <summary>
    /// Time each tail batch is held before it runs (fault injection: an overloaded cloud); may be changed while serving. The
    /// requests really wait, so each Result's queueing time (docs/protocol.md §4.5) grows by it.
    /// </summary>
    public TimeSpan TailStall
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _tailStallTicks));
        set
        {
            Interlocked.Exchange(ref _tailStallTicks, Math.Max(0, value.Ticks));
            foreach (Lazy<IRequestStage> tail in _tails.Values)
            {
                if (tail.IsValueCreated && tail.Value is TailModel model)
                {
                    Interlocked.Exchange(ref model.StallTicks, Math.Max(0, value.Ticks));
                }
            }
        }
    }

    /// <summary>Handshakes refused for missing or wrong authentication.</summary>
    public long AuthenticationFailures => Metrics.AuthenticationFailures;

    /// <summary>Connections closed because their TLS handshake failed (not TLS, an untrusted or missing client certificate, a timeout).</summary>
    public long TlsHandshakeFailures => Interlocked.Read(ref _tlsHandshakeFailures);

    /// <summary>Connections that ended on an unexpected exception (a server bug, not a hostile peer).</summary>
    public long InternalErrors => Interlocked.Read(ref _internalErrors);

    /// <summary>The bound address (with the real port when asked for port 0); set by <see cref="Start"/>.</summary>
    public IPEndPoint LocalEndPoint { get; private set; } = new(IPAddress.None, 0);

    /// <summary>True from the start of a shutdown (drain or stop) on: what /health reports as 503 (docs/fleet.md).</summary>
    public bool IsDraining => Volatile.Read(ref _draining) != 0;

    /// <summary>Completes when the server has stopped.</summary>
    public Task Completion => _acceptLoop;

    /// <summary>A server for every plan directory under <paramref name="plansDirectory"/> (or that directory itself).</summary>
    public static CloudServer FromPlansDirectory(string plansDirectory, CloudServerOptions options)
    {
        var plans = PlanDirectory.LoadAll(plansDirectory);
        if (!plans.Any(p => !p.IsEdgeOnly))
        {
            throw new InvalidDataException($"{Path.GetFullPath(plansDirectory)} holds no plan with a {PlanDirectory.TailFileName}; give --plans a folder of plan directories written by `coach plan`");
        }

        return new CloudServer(options, plans);
    }

    /// <summary>Binds, listens and starts accepting.</summary>
    public void Start()
    {
        var listener = new Socket(Options.Listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(Options.Listen);
            listener.Listen(512);
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new InvalidOperationException($"cannot listen on {Options.Listen}: {e.Message} (is another coach-cloud running there?)", e);
        }

        _listener = listener;
        LocalEndPoint = (IPEndPoint)listener.LocalEndPoint!;
        Log($"cloud: listening on {LocalEndPoint}, {_plansByHash.Count} plan(s): {string.Join(", ", _plansByHash.Values.Select(p => $"{p.Id} [{p.PlanHashHex[..12]}]"))}; max batch {Options.MaxBatch}, max wait {Options.MaxWait.TotalMilliseconds:0.###} ms");
        if (Options.Tls is { } tls)
        {
            Log($"cloud: {tls.Describe}");
        }

        if (!Options.AuthenticatesEdges)
        {
            Log("cloud: WARNING: authentication is OFF (no --keys nor --tls-client-ca, or --insecure-no-auth): any host that reaches this port can use the tails; give --keys DIR for pre-shared-key authentication or --tls-client-ca FILE for client certificates");
        }

        if (Options.Keys is not null)
        {
            Log($"cloud: edges must authenticate (HMAC-SHA256 challenge–response{(Options.Tls is { RequiresClientCertificate: true } ? ", or a client certificate" : string.Empty)}), {Options.Keys.Describe}");
        }
        else if (Options.Tls is { RequiresClientCertificate: true })
        {
            Log("cloud: edges authenticate with client certificates; a Hello's client id must equal its certificate's subject CN");
        }

        if (Options.Realign)
        {
            // Re-alignment measures and bridges every tail before the first edge arrives.
            PreloadTails();
            _realigner = FragmentRealigner.Start(Options, _plansByHash.Values.Select(GetTail)
                .Select(stage => stage as TailModel ?? throw new InvalidOperationException($"re-alignment bridges cloud tails; {stage.Describe()} is another kind of stage: serve it without --realign"))
                .ToArray());
        }

        _acceptLoop = AcceptLoopAsync(listener);
        if (Options.LogInterval > TimeSpan.Zero)
        {
            _logLoop = LogLoopAsync();
        }
    }

    /// <summary>Loads every plan's tail now instead of at its first handshake.</summary>
    public void PreloadTails()
    {
        foreach (PlanDirectory plan in _plansByHash.Values)
        {
            GetTail(plan);
        }
    }

    /// <summary>
    /// Graceful stop (docs/protocol.md §1.7), what SIGTERM and SIGINT do to coach-cloud: stops
    /// accepting, tells every edge Goodbye (ShuttingDown), keeps answering every request it
    /// receives until that edge says Goodbye or closes its side, for at most <paramref name="drain"/>;
    /// then stops. Returns the number of connections still open when the drain ran out (0 = clean).
    /// </summary>
    public async Task<int> ShutdownAsync(TimeSpan drain)
    {
        Interlocked.Exchange(ref _draining, 1);
        _listener?.Dispose();
        try
        {
            await _acceptLoop.ConfigureAwait(false);
        }
        catch (Exception)
        {
        }

        // The accept loop has ended: no connection joins after this sweep.
        Log($"cloud: shutting down: {_live.Count} connection(s) told Goodbye (ShuttingDown); draining for at most {drain.TotalSeconds:0.#} s");
        foreach (CloudConnection connection in _live.Values)
        {
            connection.BeginShutdown();
        }

        int left = 0;
        try
        {
            await Task.WhenAll(_connections.Values).WaitAsync(drain).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            left = _connections.Count;
            Log($"cloud: the drain of {drain.TotalSeconds:0.#} s ran out with {left} connection(s) open; closing them");
        }
        catch (Exception)
        {
        }

        await StopAsync().ConfigureAwait(false);
        return left;
    }

    /// <summary>Stops accepting, closes connections (telling edges Goodbye), and waits for them.</summary>
    public async Task StopAsync()
    {
        Interlocked.Exchange(ref _draining, 1);
        if (!_stopping.IsCancellationRequested)
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
        }

        _listener?.Dispose();
        try
        {
            await _acceptLoop.ConfigureAwait(false);
        }
        catch (Exception)
        {
        }

        try
        {
            await Task.WhenAll(_connections.Values).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (Exception)
        {
        }

        try
        {
            await _logLoop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// Hard stop, as if the process were killed: every connection is aborted at once (no Goodbye,
    /// nothing more sent), the listener closes, then the server is disposed.
    /// </summary>
    public async Task AbortAsync()
    {
        // Sockets first, so no connection gets to say Goodbye: the edges see the link die as on SIGKILL.
        _listener?.Dispose();
        foreach (SocketConnection transport in _transports.Values)
        {
            transport.Abort();
        }

        if (!_stopping.IsCancellationRequested)
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
        }

        await DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopAsync().ConfigureAwait(false);
        if (_realigner is not null)
        {
            await _realigner.DisposeAsync().ConfigureAwait(false);
        }

        foreach (Lazy<IRequestStage> tail in _tails.Values)
        {
            if (tail.IsValueCreated)
            {
                tail.Value.Dispose();
            }
        }

        Metrics.Dispose();
        _stopping.Dispose();
    }

    internal void Log(string line) => Options.Log(line);

    internal void CountAuthenticationFailure() => Metrics.AuthenticationFailed();

    internal void CountInternalError() => Interlocked.Increment(ref _internalErrors);

    internal PlanDirectory? FindPlan(byte[] planHash, string planId, string tailName)
    {
        if (_plansByHash.TryGetValue(Convert.ToHexStringLower(planHash), out PlanDirectory? plan))
        {
            return plan;
        }

        // Only when the edge sent no hash: match by id or folder name (a human-chosen tail name).
        if (planHash.AsSpan().IndexOfAnyExcept((byte)0) >= 0)
        {
            return null;
        }

        // docs/protocol.md §4.1: the plan id first, then the tail name (a plan id or a plan folder's name).
        return _plansByHash.Values.FirstOrDefault(p => planId.Length > 0 && p.Id == planId)
            ?? (tailName.Length == 0 ? null : _plansByHash.Values.FirstOrDefault(p => p.Id == tailName || Path.GetFileName(p.DirectoryPath) == tailName));
    }

    internal IRequestStage GetTail(PlanDirectory plan)
    {
        Lazy<IRequestStage> lazy = _tails.GetOrAdd(plan.PlanHashHex, _ => new Lazy<IRequestStage>(() =>
        {
            long start = MonotonicClock.NowMicros;
            IRequestStage tail = Options.StageFactory is { } factory ? factory(plan, Options, Metrics.ForPlan(plan.Id)) : TailModel.Load(plan, Options, Metrics.ForPlan(plan.Id));
            if (tail is TailModel model)
            {
                model.StallTicks = Interlocked.Read(ref _tailStallTicks);
            }

            Log($"cloud: loaded the tail of plan {plan.Id} in {(MonotonicClock.NowMicros - start) / 1000.0:0.0} ms: {tail.Describe()}");
            return tail;
        }, LazyThreadSafetyMode.ExecutionAndPublication));
        try
        {
            return lazy.Value;
        }
        catch
        {
            _tails.TryRemove(new KeyValuePair<string, Lazy<IRequestStage>>(plan.PlanHashHex, lazy));
            throw;
        }
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        CancellationToken stopping = _stopping.Token;
        var connectionOptions = ConnectionOptions.For(Options.Limits);
        while (!stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(stopping).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                break;
            }
            catch (SocketException e)
            {
                if (Volatile.Read(ref _draining) != 0)
                {
                    break; // the listener was closed by a shutdown
                }

                Log($"cloud: accept failed: {e.Message}");
                continue;
            }

            uint id = (uint)Interlocked.Increment(ref _nextConnectionId);
            var transport = new SocketConnection(socket, connectionOptions);
            CloudTlsSettings? tls = Options.Tls;
            if (tls is null)
            {
                transport.Start();
            }

            if (Metrics.ConnectionsOpen >= Options.MaxConnections)
            {
                Log($"cloud: connection #{id} from {transport.RemoteEndPoint} refused: {Options.MaxConnections} connections already open");
                if (tls is null)
                {
                    new RejectMessage(ReasonCode.ServerBusy, $"the server already serves {Options.MaxConnections} connections").Write(transport.Output);
                    _ = transport.Output.FlushAsync().AsTask().ContinueWith(_ => transport.CloseAsync(TimeSpan.FromSeconds(1)), TaskScheduler.Default);
                }
                else
                {
                    // No TLS handshake spent on a connection that cannot be served: closed at once.
                    _ = transport.DisposeAsync().AsTask();
                }

                continue;
            }

            Metrics.ConnectionOpened();
            var connection = new CloudConnection(this, transport, id);
            _transports[id] = transport;
            _live[id] = connection;
            Task run = Task.Run(() => tls is null ? connection.RunAsync(stopping) : ServeTlsAsync(connection, transport, tls, stopping), CancellationToken.None);
            _connections[id] = run;
            _ = run.ContinueWith(_ =>
            {
                _connections.TryRemove(id, out Task? _);
                _transports.TryRemove(id, out SocketConnection? _);
                _live.TryRemove(id, out CloudConnection? _);
            }, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// The TLS handshake of one accepted connection, bounded by the handshake timeout, then the
    /// protocol. A failed handshake is logged with the peer address and closes this connection only.
    /// </summary>
    private async Task ServeTlsAsync(CloudConnection connection, SocketConnection transport, CloudTlsSettings tls, CancellationToken stopping)
    {
        var verdict = new TlsPeerVerdict();
        string? failure = null;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping))
        {
            timeout.CancelAfter(Options.HandshakeTimeout);
            try
            {
                await transport.AuthenticateAsServerAsync(tls.CreateServerOptions(verdict), timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
            {
                failure = $"{ReasonCode.HandshakeTimeout}: the TLS handshake did not complete within {Options.HandshakeTimeout.TotalSeconds:0.#} s";
            }
            catch (OperationCanceledException)
            {
                await transport.DisposeAsync().ConfigureAwait(false);
                Metrics.ConnectionClosed(violation: false);
                return; // the server is stopping
            }
            catch (Exception e) when (e is AuthenticationException or IOException or ObjectDisposedException or System.ComponentModel.Win32Exception)
            {
                failure = verdict.Failure is { } refused
                    ? $"{ReasonCode.AuthenticationFailed}: client certificate refused: {refused}"
                    : $"{e.Message}{(e.InnerException is { } inner ? $" ({inner.Message})" : string.Empty)} — not a TLS client? (edges need --tls)";
            }
        }

        if (failure is not null)
        {
            Interlocked.Increment(ref _tlsHandshakeFailures);
            if (verdict.Failure is not null)
            {
                CountAuthenticationFailure();
            }

            Log($"cloud: connection #{connection.Id} from {transport.RemoteEndPoint}: TLS handshake failed: {failure}");
            await transport.DisposeAsync().ConfigureAwait(false);
            Metrics.ConnectionClosed(violation: true);
            return;
        }

        transport.Start();
        await connection.RunAsync(stopping).ConfigureAwait(false);
    }

    private async Task LogLoopAsync()
    {
        CloudMetricsSnapshot previous = Metrics.Snapshot();
        long last = MonotonicClock.NowMicros;
        using var timer = new PeriodicTimer(Options.LogInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                CloudMetricsSnapshot now = Metrics.Snapshot();
                long t = MonotonicClock.NowMicros;
                if (now.Requests != previous.Requests || now.Errors != previous.Errors || now.ConnectionsTotal != previous.ConnectionsTotal)
                {
                    Log(now.Describe(previous, TimeSpan.FromMicroseconds(t - last)));
                }

                previous = now;
                last = t;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
