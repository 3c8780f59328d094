using System.Diagnostics;
using System.Net;
using Coach.Engine.Data;

namespace Coach.Experiments.Fleet;

/// <summary>What <c>coach bench fleet</c> runs.</summary>
public sealed record FleetSettings
{
    public bool Quick { get; init; } = true;

    /// <summary>Fleet sizes, one scenario each (K emulated edges against one cloud).</summary>
    public IReadOnlyList<int> EdgeCounts { get; init; } = [4, 8, 16];

    /// <summary>Seconds each edge takes frames in a scenario.</summary>
    public double Seconds { get; init; } = 5;

    /// <summary>Frames per second each edge's camera offers (0: as fast as its pipeline takes them).</summary>
    public double FramesPerSecond { get; init; } = 20;

    /// <summary>Edges of the failover scenario (two clouds behind HAProxy, one SIGKILLed mid-run); 0 = no failover scenario.</summary>
    public int FailoverEdges { get; init; } = 4;

    /// <summary>Edges of the mixed-plan scenario run twice, with independent tails and with fragment re-alignment; 0 = leave it out.</summary>
    public int RealignEdges { get; init; } = 6;

    /// <summary>The cloud-side latency budget both runs of the mixed-plan scenario are held to (coach-cloud --realign-budget-ms).</summary>
    public double RealignBudgetMs { get; init; } = 50;

    /// <summary>The cloud's max wait for batch company in the mixed-plan scenario (both runs).</summary>
    public double RealignMaxWaitMs { get; init; } = 5;

    /// <summary>Edges of the overload scenario (the cloud held to a CPU quota, shedding past a queue depth); 0 = leave it out.</summary>
    public int OverloadEdges { get; init; } = 6;

    /// <summary>The overloaded cloud's CPU quota, in cores.</summary>
    public double OverloadCloudCores { get; init; } = 0.1;

    /// <summary>The overloaded cloud's shedding limit (coach-cloud --shed-queue-depth).</summary>
    public int OverloadShedDepth { get; init; } = 4;

    /// <summary>Folder of the published coach-cloud and coach-edge (default dist/RID).</summary>
    public string? BinaryDirectory { get; init; }

    /// <summary>Where the plans, the metrics scrapes and the logs go.</summary>
    public required string WorkDirectory { get; init; }

    public Action<string> Log { get; init; } = static line => Console.Error.WriteLine(line);
}

/// <summary>
/// <c>coach bench fleet</c>: K emulated edges (published <c>coach-edge run</c> processes, each on its own plan, link and
/// emulated device) against real <c>coach-cloud</c> processes, for each fleet size; then the failover scenario of
/// docs/fleet.md §3 with the whole fleet: two clouds behind HAProxy (Debian's, with scripts/cloud/haproxy.cfg as shipped), the
/// one holding the most edges SIGKILLed mid-run. Every frame must be answered — by a cloud or by the edge's full-model
/// fallback — and the cloud's per-plan batch sizes and queueing delays are read from its /metrics.
/// </summary>
public static class FleetBenchmark
{
    public static async Task<FleetReport> RunAsync(FleetSettings settings, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        string binaries = settings.BinaryDirectory ?? PublishedBinaries.DefaultDirectory;
        string cloudBinary = Path.Combine(binaries, "coach-cloud");
        string edgeBinary = Path.Combine(binaries, "coach-edge");
        foreach (string binary in (string[])[cloudBinary, edgeBinary])
        {
            if (!File.Exists(binary))
            {
                throw new FileNotFoundException($"{binary} is missing: run `./coach publish` (or give --bin DIR)", binary);
            }
        }

        Directory.CreateDirectory(settings.WorkDirectory);
        string plansRoot = Path.Combine(settings.WorkDirectory, "plans");
        if (Directory.Exists(plansRoot))
        {
            Directory.Delete(plansRoot, recursive: true);
        }

        IReadOnlyList<FleetPlan> plans = FleetPlans.Write(plansRoot, settings.Log);
        var report = new FleetReport { Quick = settings.Quick, Plans = plans, FramesPerSecondPerEdge = settings.FramesPerSecond, Seconds = settings.Seconds };
        foreach (int edges in settings.EdgeCounts)
        {
            report.Scenarios.Add(await RunScaleAsync(settings, plans, plansRoot, cloudBinary, edgeBinary, edges, cancellationToken).ConfigureAwait(false));
        }

        if (settings.RealignEdges > 0)
        {
            report.Realignment = await RunRealignmentAsync(settings, plans, plansRoot, cloudBinary, edgeBinary, cancellationToken).ConfigureAwait(false);
        }

        if (settings.OverloadEdges > 0)
        {
            report.Overload = await RunOverloadAsync(settings, plans, plansRoot, cloudBinary, edgeBinary, cancellationToken).ConfigureAwait(false);
        }

        if (settings.FailoverEdges > 0)
        {
            report.Failover = await RunFailoverAsync(settings, plans, plansRoot, cloudBinary, edgeBinary, cancellationToken).ConfigureAwait(false);
        }

        return report;
    }

    /// <summary>Edges spread over the plans in turn: edge i runs plan i mod P on that plan's link and device.</summary>
    public static IReadOnlyList<FleetEdgeSpec> Edges(IReadOnlyList<FleetPlan> plans, int count) =>
        Enumerable.Range(0, count).Select(i =>
        {
            FleetPlan plan = plans[i % plans.Count];
            return new FleetEdgeSpec($"edge{i + 1:00}", plan, plan.Link, plan.EdgeSlowdown);
        }).ToArray();

    private static async Task<FleetScenario> RunScaleAsync(FleetSettings settings, IReadOnlyList<FleetPlan> plans, string plansRoot, string cloudBinary, string edgeBinary, int count, CancellationToken cancellationToken)
    {
        settings.Log($"fleet: {count} edges against one coach-cloud, {settings.Seconds:0.#} s at {(settings.FramesPerSecond > 0 ? $"{settings.FramesPerSecond:0.#} frames/s" : "full speed")} each");
        await using FleetCloud cloud = await FleetCloud.StartAsync("coach-cloud", cloudBinary, plansRoot, [], cancellationToken).ConfigureAwait(false);
        var scenario = new FleetScenario { Name = $"scale-{count}", Clouds = 1 };
        string scrapePath = Path.Combine(settings.WorkDirectory, $"metrics-{count}-edges.prom");
        scenario.Edges.AddRange(await RunEdgesAsync(settings, Edges(plans, count), cloud.EndPoint, edgeBinary, ct => cloud.ConnectionsAsync(ct), async () =>
        {
            // The operator's view mid-run: the scrape is kept as the bench's evidence of per-plan batches and queueing.
            string? metrics = await cloud.TryGetAsync("/metrics", cancellationToken).ConfigureAwait(false);
            if (metrics is not null)
            {
                await File.WriteAllTextAsync(scrapePath, metrics, cancellationToken).ConfigureAwait(false);
                scenario.MidRunScrape = scrapePath;
            }
        }, cancellationToken).ConfigureAwait(false));
        string? final = await cloud.TryGetAsync("/metrics", cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"coach-cloud's /metrics did not answer after the run:\n{cloud.StderrTail()}");
        scenario.Cloud.AddRange(CloudPlanFigures.From(PrometheusText.Parse(final)));
        settings.Log($"fleet: {scenario.Describe()}");
        return scenario;
    }

    /// <summary>
    /// The mixed-plan scenario twice, in one bench run and at one latency budget: the cloud with one independent tail per plan,
    /// then with fragment re-alignment (coach-cloud --realign); the cloud's CPU time over each run gives the throughput per unit
    /// of cloud compute that Graft reports as resource efficiency.
    /// </summary>
    private static async Task<FleetRealignment> RunRealignmentAsync(FleetSettings settings, IReadOnlyList<FleetPlan> plans, string plansRoot, string cloudBinary, string edgeBinary, CancellationToken cancellationToken)
    {
        var result = new FleetRealignment { BudgetMs = settings.RealignBudgetMs, MaxWaitMs = settings.RealignMaxWaitMs };
        foreach (bool realign in (bool[])[false, true])
        {
            string name = realign ? "mixed-realigned" : "mixed-independent";
            settings.Log($"fleet: {name}: {settings.RealignEdges} edges on {plans.Count} cuts, cloud budget {settings.RealignBudgetMs:0.#} ms, max wait {settings.RealignMaxWaitMs:0.#} ms");
            string[] arguments =
            [
                "--max-wait-ms", settings.RealignMaxWaitMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--realign-budget-ms", settings.RealignBudgetMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
                .. realign ? (string[])["--realign", "--realign-interval-s", "0.5"] : [],
            ];
            await using FleetCloud cloud = await FleetCloud.StartAsync("coach-cloud", cloudBinary, plansRoot, arguments, cancellationToken).ConfigureAwait(false);
            var scenario = new FleetScenario { Name = name, Clouds = 1 };
            double cpuBefore = 0;
            scenario.Edges.AddRange(await RunEdgesAsync(settings, Edges(plans, settings.RealignEdges), cloud.EndPoint, edgeBinary, ct => cloud.ConnectionsAsync(ct), () =>
            {
                return Task.CompletedTask;
            }, cancellationToken, onConnected: () => cpuBefore = cloud.CpuSeconds()).ConfigureAwait(false));
            double cpu = cloud.CpuSeconds() - cpuBefore;
            string? final = await cloud.TryGetAsync("/metrics", cancellationToken).ConfigureAwait(false);
            if (final is not null)
            {
                scenario.Cloud.AddRange(CloudPlanFigures.From(PrometheusText.Parse(final)));
            }

            var run = new FleetRealignmentRun(scenario, cpu, realign ? cloud.LogLines("cloud: re-align") : []);
            if (realign)
            {
                result.Realigned = run;
            }
            else
            {
                result.Independent = run;
            }

            settings.Log($"fleet: {scenario.Describe()}; cloud CPU {cpu:0.00} s");
        }

        settings.Log($"fleet: {result.Describe()}");
        return result;
    }

    /// <summary>
    /// Overload: the cloud in a CPU cgroup of a tenth of a core (real kernel throttling), shedding past a queue depth; every frame
    /// must still be answered, by the cloud or, for each shed request (Error 310 Overloaded), by the edge's full model.
    /// </summary>
    private static async Task<FleetOverload> RunOverloadAsync(FleetSettings settings, IReadOnlyList<FleetPlan> plans, string plansRoot, string cloudBinary, string edgeBinary, CancellationToken cancellationToken)
    {
        var result = new FleetOverload { Scenario = new FleetScenario { Name = "overload", Clouds = 1 }, CloudCores = settings.OverloadCloudCores, ShedDepth = settings.OverloadShedDepth };
        if (CpuQuotaGroup.Unavailability() is { } why)
        {
            result.Skipped = $"no CPU cgroup to throttle the cloud: {why}";
            settings.Log($"fleet: overload skipped: {result.Skipped}");
            return result;
        }

        settings.Log($"fleet: overload: {settings.OverloadEdges} edges against one coach-cloud held to {settings.OverloadCloudCores:0.##} core, shedding past {settings.OverloadShedDepth} waiting requests");
        using CpuQuotaGroup group = CpuQuotaGroup.Create($"coach-fleet-{Environment.ProcessId}", settings.OverloadCloudCores);
        await using FleetCloud cloud = await FleetCloud.StartAsync("coach-cloud", cloudBinary, plansRoot,
            ["--shed-queue-depth", settings.OverloadShedDepth.ToString(System.Globalization.CultureInfo.InvariantCulture)], cancellationToken, group).ConfigureAwait(false);
        result.Scenario.Edges.AddRange(await RunEdgesAsync(settings, Edges(plans, settings.OverloadEdges), cloud.EndPoint, edgeBinary, ct => cloud.ConnectionsAsync(ct), () => Task.CompletedTask, cancellationToken).ConfigureAwait(false));
        string? final = await cloud.TryGetAsync("/metrics", cancellationToken).ConfigureAwait(false);
        if (final is not null)
        {
            IReadOnlyList<PrometheusSample> samples = PrometheusText.Parse(final);
            result.Scenario.Cloud.AddRange(CloudPlanFigures.From(samples));
            result.Shed = PrometheusText.SumBy(samples, "coach_cloud_errors_total", "reason").GetValueOrDefault("Overloaded");
        }

        settings.Log($"fleet: {result.Describe()}");
        return result;
    }

    private static async Task<FleetFailover> RunFailoverAsync(FleetSettings settings, IReadOnlyList<FleetPlan> plans, string plansRoot, string cloudBinary, string edgeBinary, CancellationToken cancellationToken)
    {
        var failover = new FleetFailover { Scenario = new FleetScenario { Name = "failover", Clouds = 2 } };
        string? haproxy = FindOnPath("haproxy");
        if (haproxy is null)
        {
            failover.Skipped = "haproxy is not installed (apt-get install haproxy; ./coach setup installs it)";
            settings.Log($"fleet: failover skipped: {failover.Skipped}");
            return failover;
        }

        settings.Log($"fleet: failover: {settings.FailoverEdges} edges through HAProxy to two coach-cloud; the busier one is SIGKILLed mid-run");
        await using FleetCloud first = await FleetCloud.StartAsync("coach-cloud-1", cloudBinary, plansRoot, [], cancellationToken).ConfigureAwait(false);
        await using FleetCloud second = await FleetCloud.StartAsync("coach-cloud-2", cloudBinary, plansRoot, [], cancellationToken).ConfigureAwait(false);
        int frontendPort = FleetCloud.FreePort();
        var frontend = new IPEndPoint(IPAddress.Loopback, frontendPort);
        string config = Path.Combine(ModelCatalog.RepositoryRoot, "scripts", "cloud", "haproxy.cfg");
        var environment = new Dictionary<string, string>
        {
            ["COACH_FRONTEND"] = frontend.ToString(),
            ["COACH_CLOUD1"] = first.EndPoint.ToString(),
            ["COACH_HEALTH1"] = first.MetricsPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["COACH_CLOUD2"] = second.EndPoint.ToString(),
            ["COACH_HEALTH2"] = second.MetricsPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        await using ChildProcess balancer = ChildProcess.Start("haproxy", haproxy, ["-db", "-f", config], environment: environment);
        await WaitListeningAsync(frontend, balancer, cancellationToken).ConfigureAwait(false);

        FleetCloud? victim = null;
        long killedAt = 0;
        failover.Scenario.Edges.AddRange(await RunEdgesAsync(settings, Edges(plans, settings.FailoverEdges), frontend, edgeBinary, async ct =>
            Math.Max(0, await first.ConnectionsAsync(ct).ConfigureAwait(false)) + Math.Max(0, await second.ConnectionsAsync(ct).ConfigureAwait(false)), async () =>
        {
            int a = await first.ConnectionsAsync(cancellationToken).ConfigureAwait(false);
            int b = await second.ConnectionsAsync(cancellationToken).ConfigureAwait(false);
            victim = a >= b ? first : second;
            failover.VictimConnections = Math.Max(a, b);
            killedAt = Stopwatch.GetTimestamp();
            victim.Kill();
            settings.Log($"fleet: failover: SIGKILL to {victim.Name} holding {Math.Max(a, b)} of {a + b} edges");
        }, cancellationToken).ConfigureAwait(false));
        FleetCloud survivor = victim == first ? second : first;
        failover.Victim = victim?.Name;
        string? final = await survivor.TryGetAsync("/metrics", cancellationToken).ConfigureAwait(false);
        if (final is not null)
        {
            failover.Scenario.Cloud.AddRange(CloudPlanFigures.From(PrometheusText.Parse(final)));
        }

        foreach (FleetEdgeResult edge in failover.Scenario.Edges)
        {
            var after = edge.Events.Where(e => e.Ticks >= killedAt).ToArray();
            (long Ticks, string Line)? lost = after.Cast<(long, string)?>().FirstOrDefault(e => e!.Value.Item2.Contains("answering on the edge", StringComparison.Ordinal));
            (long Ticks, string Line)? back = after.Cast<(long, string)?>().FirstOrDefault(e => e!.Value.Item2.Contains("reconnected to the cloud", StringComparison.Ordinal));
            if (lost is null && back is null)
            {
                continue;
            }

            failover.Reconnects.Add(new FleetReconnect(
                edge.Spec.Name,
                lost is { } l ? Stopwatch.GetElapsedTime(killedAt, l.Ticks).TotalMilliseconds : null,
                back is { } r ? Stopwatch.GetElapsedTime(killedAt, r.Ticks).TotalMilliseconds : null));
        }

        settings.Log($"fleet: {failover.Describe()}");
        return failover;
    }

    /// <summary>
    /// Starts every edge, waits until the clouds hold all their connections (<paramref name="connections"/>), runs
    /// <paramref name="midRun"/> 40 % of the run later, and collects every summary.
    /// </summary>
    private static async Task<IReadOnlyList<FleetEdgeResult>> RunEdgesAsync(FleetSettings settings, IReadOnlyList<FleetEdgeSpec> specs, EndPoint cloud, string edgeBinary,
        Func<CancellationToken, Task<int>> connections, Func<Task> midRun, CancellationToken cancellationToken, Action? onConnected = null)
    {
        var edges = specs.Select(s => new FleetEdge(s)).ToArray();
        try
        {
            foreach (FleetEdge edge in edges)
            {
                edge.Start(edgeBinary, cloud, settings.FramesPerSecond, settings.Seconds);
            }

            // The edges load their models before connecting and taking frames: the run starts when all are connected.
            var clock = Stopwatch.StartNew();
            while (await connections(cancellationToken).ConfigureAwait(false) < edges.Length)
            {
                if (clock.Elapsed > TimeSpan.FromSeconds(60))
                {
                    throw new TimeoutException($"only {await connections(cancellationToken).ConfigureAwait(false)} of {edges.Length} edges connected within 60 s");
                }

                await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            }

            onConnected?.Invoke();

            await Task.Delay(TimeSpan.FromSeconds(settings.Seconds * 0.4), cancellationToken).ConfigureAwait(false);
            await midRun().ConfigureAwait(false);
            var timeout = TimeSpan.FromSeconds(settings.Seconds + 120);
            return await Task.WhenAll(edges.Select(e => e.WaitAsync(timeout, cancellationToken))).ConfigureAwait(false);
        }
        finally
        {
            foreach (FleetEdge edge in edges)
            {
                await edge.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static async Task WaitListeningAsync(IPEndPoint frontend, ChildProcess balancer, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            if (balancer.HasExited)
            {
                throw new InvalidOperationException($"haproxy exited with code {balancer.ExitCode}:\n{balancer.StderrTail()}");
            }

            using var probe = new System.Net.Sockets.TcpClient();
            try
            {
                await probe.ConnectAsync(frontend, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (System.Net.Sockets.SocketException)
            {
                await Task.Delay(100, cancellationToken).ConfigureAwait(false);
            }
        }

        throw new TimeoutException($"haproxy did not listen on {frontend} within 20 s:\n{balancer.StderrTail()}");
    }

    private static string? FindOnPath(string name)
    {
        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Concat(["/usr/sbin", "/sbin"]))
        {
            string candidate = Path.Combine(directory, name);
            if (directory.Length > 0 && File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
