using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Coach.Transport.Cloud;
using Coach.Transport.Edge;

namespace Coach.Transport.Tests.Fleet;

/// <summary>
/// docs/fleet.md: a real cloud on loopback with its /metrics and /health port, a real edge pipeline
/// sending frames to it, and plain HTTP GETs of what an operator's Prometheus and load balancer read.
/// </summary>
public sealed partial class CloudMonitoringEndpointTests : IAsyncLifetime
{
    private const int Frames = 200;

    // Other tests of this assembly run clouds in parallel on the same "Coach.Cloud" meter name: the
    // plan id, unique to this test, picks out this cloud's per-plan series.
    private readonly string _planId = $"fleet-{Guid.NewGuid():N}"[..14];
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"coach-fleet-{Guid.NewGuid():N}");
    private readonly ConcurrentQueue<string> _log = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private CloudServer _server = null!;
    private CloudMonitoringEndpoint _monitoring = null!;

    public ValueTask InitializeAsync()
    {
        TinyModels.WritePlan(_root, _planId, TinyModels.Head(), TinyModels.Tail(), bits: 4);
        _server = CloudServer.FromPlansDirectory(_root, new CloudServerOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), LogInterval = TimeSpan.Zero, Log = _log.Enqueue });
        _server.Start();
        _monitoring = CloudMonitoringEndpoint.Start(_server, new IPEndPoint(IPAddress.Loopback, FreeLoopbackPort()));
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _monitoring.Dispose();
        _http.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task MetricsShowTheRequestsOfEveryFrameSentAndPerPlanBatchAndQueueingSeries()
    {
        PlanDirectory plan = PlanDirectory.Load(Path.Combine(_root, _planId));
        var (summary, _) = await EdgeRun.RunAsync(plan, new PatternSource(Frames), new FixedBitsScheduler(), new EdgeRunOptions { Cloud = _server.LocalEndPoint, Log = _log.Enqueue });
        Assert.Equal(Frames, summary.RequestsAnswered);

        string metrics = await _http.GetStringAsync($"{_monitoring.Address}{CloudMonitoringEndpoint.MetricsPath}");

        Assert.Equal(Frames, PlanSample(metrics, "coach_cloud_requests_total"));
        Assert.Equal(Frames, PlanSample(metrics, "coach_cloud_answers_total"));
        // Every request ran in exactly one batch and waited once: the histograms add up to the frames.
        Assert.Equal(Frames, PlanSample(metrics, "coach_cloud_batch_size_sum"));
        Assert.InRange(PlanSample(metrics, "coach_cloud_batch_size_count"), 1, Frames);
        Assert.Equal(Frames, PlanSample(metrics, "coach_cloud_queue_wait_milliseconds_count"));
        Assert.Equal(PlanSample(metrics, "coach_cloud_batch_size_count"), PlanSample(metrics, "coach_cloud_tail_compute_milliseconds_count"));
        // No batch is larger than the server's largest batch: its bucket holds them all.
        double batches = PlanSample(metrics, "coach_cloud_batch_size_count");
        Assert.Equal(batches, PlanSample(metrics, "coach_cloud_batch_size_bucket", $"le=\"{_server.Options.MaxBatch}\""));
        Assert.Contains("# TYPE coach_cloud_connections gauge", metrics);
    }

    [Fact]
    public async Task ErrorsAreCountedByTheirReasonCode()
    {
        // A Hello for a plan this cloud does not have is refused with 201 UnknownPlan (docs/protocol.md §6).
        var hello = new Coach.Transport.Protocol.HelloMessage { ClientId = "stranger", PlanId = "no-such-plan", PlanHash = new byte[32] };
        await Assert.ThrowsAnyAsync<Exception>(async () => await EdgeClient.ConnectAsync(_server.LocalEndPoint, hello));

        string metrics = await _http.GetStringAsync($"{_monitoring.Address}{CloudMonitoringEndpoint.MetricsPath}");

        Assert.True(Sample(metrics, "coach_cloud_errors_total", "reason=\"UnknownPlan\"") >= 1, metrics);
    }

    [Fact]
    public async Task HealthIsServingWhileTheCloudServesAndUnavailableOnceItsShutdownStarts()
    {
        string url = $"{_monitoring.Address}{CloudMonitoringEndpoint.HealthPath}";
        using (HttpResponseMessage serving = await _http.GetAsync(url))
        {
            Assert.Equal(HttpStatusCode.OK, serving.StatusCode);
            string body = await serving.Content.ReadAsStringAsync();
            Assert.StartsWith("{\"status\":\"serving\",\"plans\":1,", body);
            Assert.Single(body.TrimEnd().Split('\n'));
        }

        Task<int> drain = _server.ShutdownAsync(TimeSpan.FromSeconds(5));
        using (HttpResponseMessage draining = await _http.GetAsync(url))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, draining.StatusCode);
            Assert.StartsWith("{\"status\":\"draining\"", await draining.Content.ReadAsStringAsync());
        }

        Assert.Equal(0, await drain);
    }

    [Fact]
    public void AMetricsAddressWithoutAPortIsRefused()
    {
        ArgumentException refused = Assert.Throws<ArgumentException>(() => CloudMonitoringEndpoint.Start(_server, new IPEndPoint(IPAddress.Loopback, 0)));
        Assert.Contains("needs a port", refused.Message);
    }

    /// <summary>A loopback port free now (HttpListener cannot bind port 0).</summary>
    internal static int FreeLoopbackPort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private double PlanSample(string metrics, string name, string? label = null) =>
        Sample(metrics, name, $"plan=\"{_planId}\"", label);

    /// <summary>The value of the one sample of <paramref name="name"/> whose labels hold every one of <paramref name="labels"/>.</summary>
    internal static double Sample(string metrics, string name, params string?[] labels)
    {
        var values = new List<double>();
        foreach (Match sample in SampleLine().Matches(metrics))
        {
            string labelText = sample.Groups["labels"].Value;
            if (sample.Groups["name"].Value == name && labels.All(l => l is null || labelText.Contains(l, StringComparison.Ordinal)))
            {
                values.Add(double.Parse(sample.Groups["value"].Value, CultureInfo.InvariantCulture));
            }
        }

        return values.Count == 1 ? values[0] : throw new InvalidOperationException($"{values.Count} samples of {name} with {string.Join(", ", labels)} in:\n{metrics}");
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?<labels>[^}]*)\})? (?<value>\S+)", RegexOptions.Multiline)]
    private static partial Regex SampleLine();
}
