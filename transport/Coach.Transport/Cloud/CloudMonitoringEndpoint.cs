using System.Net;
using System.Net.Sockets;
using System.Text;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Coach.Transport.Cloud;

/// <summary>
/// What an operator watches of one cloud process, over HTTP on its own port (docs/fleet.md):
/// <c>/metrics</c>, the "Coach.Cloud" meter in Prometheus's text format through OpenTelemetry's
/// HttpListener exporter, and <c>/health</c>, 200 with a one-line JSON status while the server serves
/// and 503 from the moment its shutdown starts, so a load balancer's health check stops sending new
/// edges to a draining cloud (docs/protocol.md §1.7).
/// </summary>
/// <remarks>
/// The exporter takes every meter named "Coach.Cloud" in the process: one cloud per process, as
/// coach-cloud runs, gives that cloud's series. Both paths share one port: .NET's HttpListener lets
/// two listeners hold different paths of the same address and port.
/// </remarks>
public sealed class CloudMonitoringEndpoint : IDisposable
{
    public const string MetricsPath = "/metrics";
    public const string HealthPath = "/health";

    private readonly CloudServer _server;
    private readonly MeterProvider _meters;
    private readonly HttpListener _health;
    private readonly Task _healthLoop;

    private CloudMonitoringEndpoint(CloudServer server, MeterProvider meters, HttpListener health, string address)
    {
        _server = server;
        _meters = meters;
        _health = health;
        Address = address;
        _healthLoop = ServeHealthAsync();
    }

    /// <summary>Where the endpoint listens, as an HTTP base address such as <c>http://127.0.0.1:9464</c>.</summary>
    public string Address { get; }

    /// <summary>Starts serving /metrics and /health of <paramref name="server"/> on <paramref name="listen"/> (a fixed port).</summary>
    public static CloudMonitoringEndpoint Start(CloudServer server, IPEndPoint listen)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(listen);
        if (listen.Port == 0)
        {
            // HttpListener binds named ports only, and an operator's scrape configuration needs a known one.
            throw new ArgumentException($"the metrics address {listen} needs a port (HttpListener cannot pick a free one)");
        }

        string host = HostOf(listen.Address);
        int port = listen.Port;
        MeterProvider meters;
        try
        {
            meters = Sdk.CreateMeterProviderBuilder()
                .ConfigureResource(resource => resource.AddService("coach-cloud"))
                .AddMeter(CloudMetrics.MeterName)
                .AddPrometheusHttpListener(options =>
                {
                    options.Port = port;
                    options.ScrapeEndpointPath = MetricsPath;
                    // Every scrape reads the instruments afresh: a scrape right after a run sees all of it.
                    options.ScrapeResponseCacheDurationMilliseconds = 0;
                    options.ConfigureHttpListener = (_, listener) =>
                    {
                        listener.Prefixes.Clear();
                        listener.Prefixes.Add($"http://{host}:{port}{MetricsPath}/");
                    };
                })
                .Build();
        }
        catch (Exception e) when (e is HttpListenerException or InvalidOperationException or SocketException)
        {
            throw new InvalidOperationException($"cannot serve metrics on {listen}: {e.Message} (is the port taken?)", e);
        }

        var health = new HttpListener();
        health.Prefixes.Add($"http://{host}:{port}{HealthPath}/");
        try
        {
            health.Start();
        }
        catch (Exception e) when (e is HttpListenerException or InvalidOperationException or SocketException)
        {
            meters.Dispose();
            health.Close();
            throw new InvalidOperationException($"cannot serve {HealthPath} on {listen}: {e.Message}", e);
        }

        string shown = listen.Address.Equals(IPAddress.Any) || listen.Address.Equals(IPAddress.IPv6Any) ? $"http://{listen}" : $"http://{host}:{port}";
        return new CloudMonitoringEndpoint(server, meters, health, shown);
    }

    /// <summary>The health line now: 200 and "serving", or 503 and "draining" once the server's shutdown has started.</summary>
    public (HttpStatusCode Status, string Body) Health()
    {
        bool draining = _server.IsDraining;
        CloudMetrics m = _server.Metrics;
        string body = FormattableString.Invariant(
            $"{{\"status\":\"{(draining ? "draining" : "serving")}\",\"plans\":{_server.Plans.Count(p => !p.IsEdgeOnly)},\"connections\":{m.ConnectionsOpen},\"answered\":{m.RequestsTotal},\"errors\":{m.ErrorsTotal}}}");
        return (draining ? HttpStatusCode.ServiceUnavailable : HttpStatusCode.OK, body);
    }

    public void Dispose()
    {
        _health.Close();
        try
        {
            _healthLoop.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
        }

        _meters.Dispose();
    }

    // "+" is HttpListener's wildcard: every address of the machine, as --listen 0.0.0.0 means for the edge port.
    private static string HostOf(IPAddress address) =>
        address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) ? "+"
        : address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]"
        : address.ToString();

    private async Task ServeHealthAsync()
    {
        while (_health.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _health.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                break; // closed by Dispose
            }

            try
            {
                (HttpStatusCode status, string body) = Health();
                byte[] bytes = Encoding.UTF8.GetBytes(body + "\n");
                context.Response.StatusCode = (int)status;
                context.Response.ContentType = "application/json";
                context.Response.ContentLength64 = bytes.Length;
                if (context.Request.HttpMethod != "HEAD")
                {
                    await context.Response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
                }

                context.Response.Close();
            }
            catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
            {
                // The checker hung up mid-answer; the next check asks again.
            }
        }
    }
}
