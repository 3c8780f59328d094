using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Coach.Transport.Edge;

namespace Coach.Experiments.Fleet;

/// <summary>A published <c>coach-cloud serve</c> child on fixed loopback ports, with its /metrics and /health endpoint.</summary>
internal sealed class FleetCloud : IAsyncDisposable
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(3) };
    private readonly ChildProcess _process;

    private FleetCloud(string name, ChildProcess process, IPEndPoint endPoint, int metricsPort)
    {
        Name = name;
        _process = process;
        EndPoint = endPoint;
        MetricsPort = metricsPort;
    }

    public string Name { get; }

    public IPEndPoint EndPoint { get; }

    public int MetricsPort { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>Starts the cloud on <paramref name="plansRoot"/> and waits (≤ 60 s) until /health answers 200.</summary>
    public static async Task<FleetCloud> StartAsync(string name, string binary, string plansRoot, IEnumerable<string> extraArguments, CancellationToken cancellationToken, CpuQuotaGroup? cpuGroup = null)
    {
        int port = FreePort();
        int metricsPort = FreePort();
        string[] arguments =
        [
            "serve", "--listen", $"127.0.0.1:{port}", "--metrics-listen", $"127.0.0.1:{metricsPort}", "--plans", plansRoot,
            "--preload", "--threads", "1", "--log-interval-s", "0", .. extraArguments,
        ];
        var process = ChildProcess.Start(name, binary, arguments, cpuGroup);
        var cloud = new FleetCloud(name, process, new IPEndPoint(IPAddress.Loopback, port), metricsPort);
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{name} exited with code {process.ExitCode} before serving: {process.CommandLine}\n{process.StderrTail()}");
            }

            string? health = await cloud.TryGetAsync("/health", cancellationToken).ConfigureAwait(false);
            if (health is not null && health.Contains("\"serving\"", StringComparison.Ordinal))
            {
                return cloud;
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(60))
            {
                await cloud.DisposeAsync().ConfigureAwait(false);
                throw new TimeoutException($"{name} did not report healthy on 127.0.0.1:{metricsPort}/health within 60 s:\n{process.StderrTail()}");
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>GET of a path on the metrics port; null when it does not answer 200.</summary>
    public async Task<string?> TryGetAsync(string path, CancellationToken cancellationToken)
    {
        try
        {
            using HttpResponseMessage response = await Http.GetAsync(new Uri($"http://127.0.0.1:{MetricsPort}{path}"), cancellationToken).ConfigureAwait(false);
            return response.IsSuccessStatusCode ? await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false) : null;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>The <c>connections</c> field of /health, or -1 when it does not answer.</summary>
    public async Task<int> ConnectionsAsync(CancellationToken cancellationToken)
    {
        string? health = await TryGetAsync("/health", cancellationToken).ConfigureAwait(false);
        if (health is null)
        {
            return -1;
        }

        int at = health.IndexOf("\"connections\":", StringComparison.Ordinal);
        if (at < 0)
        {
            return -1;
        }

        int start = at + "\"connections\":".Length;
        int end = start;
        while (end < health.Length && char.IsAsciiDigit(health[end]))
        {
            end++;
        }

        return int.Parse(health.AsSpan(start, end - start), CultureInfo.InvariantCulture);
    }

    /// <summary>SIGKILL, as a crash would end it.</summary>
    public void Kill() => _process.Kill();

    public string StderrTail() => _process.StderrTail();

    /// <summary>Lines of its log that contain <paramref name="text"/>.</summary>
    public IReadOnlyList<string> LogLines(string text) =>
        _process.Stderr.Split('\n').Where(l => l.Contains(text, StringComparison.Ordinal)).Select(l => l.TrimEnd('\r')).ToArray();

    /// <summary>CPU seconds the process has used (user + system, every thread), from /proc/PID/stat.</summary>
    public double CpuSeconds()
    {
        string stat = File.ReadAllText($"/proc/{_process.Id}/stat");
        // Fields after the command name (which may hold spaces) start after the last ')'; utime and stime are fields 14 and 15.
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        long ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return ticks / 100.0; // USER_HZ is 100 on Linux
    }

    public ValueTask DisposeAsync() => _process.DisposeAsync();

    /// <summary>A loopback port nobody listens on now (the kernel's choice for port 0).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}

/// <summary>One emulated edge of the fleet: the published <c>coach-edge run</c> on one plan, its link shaped in-process.</summary>
public sealed record FleetEdgeSpec(string Name, FleetPlan Plan, string Link, double Slowdown);

/// <summary>What one edge reported (its JSON summary) and when it lost and regained its cloud.</summary>
public sealed record FleetEdgeResult(FleetEdgeSpec Spec, EdgeRunSummaryDocument Summary, IReadOnlyList<(long Ticks, string Line)> Events)
{
    public int FramesLost => Summary.FramesSent - Summary.FramesAnswered;
}

/// <summary>A running <c>coach-edge run</c> child whose log lines are stamped on arrival (to time a reconnect).</summary>
internal sealed class FleetEdge : IAsyncDisposable
{
    private readonly List<(long Ticks, string Line)> _events = [];
    private ChildProcess? _process;

    public FleetEdge(FleetEdgeSpec spec) => Spec = spec;

    public FleetEdgeSpec Spec { get; }

    public void Start(string binary, EndPoint cloud, double framesPerSecond, double seconds)
    {
        var arguments = new List<string>
        {
            "run", "--plan", Spec.Plan.DirectoryPath, "--cloud", cloud.ToString()!, "--frames", "1000000",
            "--duration-s", seconds.ToString(CultureInfo.InvariantCulture), "--scheduler", "fixed", "--shape", Spec.Link,
            "--emulate-slowdown", Spec.Slowdown.ToString(CultureInfo.InvariantCulture), "--threads", "1", "--no-progress", "--no-telemetry",
            "--response-timeout-s", "3", "--json",
        };
        if (framesPerSecond > 0)
        {
            arguments.AddRange(["--fps", framesPerSecond.ToString(CultureInfo.InvariantCulture)]);
        }

        _process = ChildProcess.Start(Spec.Name, binary, arguments, onStderrLine: line =>
        {
            if (line.StartsWith("edge: ", StringComparison.Ordinal))
            {
                lock (_events)
                {
                    _events.Add((Stopwatch.GetTimestamp(), line));
                }
            }
        });
    }

    public async Task<FleetEdgeResult> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        ChildProcess process = _process ?? throw new InvalidOperationException($"{Spec.Name} was not started");
        int code = await process.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        string? last = process.LastStdoutLine;
        if (code != 0 || last is null)
        {
            throw new InvalidOperationException($"{Spec.Name} ({process.CommandLine}) exited with code {code}:\n{process.StderrTail()}");
        }

        EdgeRunSummaryDocument summary = EdgeRunSummaryDocument.Parse(last, Spec.Name);
        lock (_events)
        {
            return new FleetEdgeResult(Spec, summary, _events.ToArray());
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync().ConfigureAwait(false);
        }
    }
}
