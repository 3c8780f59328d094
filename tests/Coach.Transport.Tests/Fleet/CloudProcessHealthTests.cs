using System.Globalization;
using System.Net;
using Coach.Transport.Tests.Conformance;

namespace Coach.Transport.Tests.Fleet;

/// <summary>
/// The real <c>coach-cloud serve --metrics-listen</c> process: what HAProxy's health check sees
/// (scripts/cloud/haproxy.cfg) before and during the drain that SIGTERM starts (docs/protocol.md §1.7).
/// </summary>
public sealed class CloudProcessHealthTests : IDisposable
{
    private readonly ConformancePlans _plans = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public void Dispose()
    {
        _http.Dispose();
        _plans.Dispose();
    }

    [Fact]
    public async Task ASignalledCloudAnswers503OnItsHealthPortWhileItDrainsAnEdge()
    {
        int port = CloudMonitoringEndpointTests.FreeLoopbackPort();
        string health = $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/health";
        await using CloudProcess cloud = await CloudProcess.StartAsync(_plans.PlansDirectory, "--keys", _plans.KeysDirectory, "--metrics-listen", $"127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}", "--drain-s", "20");
        await cloud.WaitForLogAsync("health on", TimeSpan.FromSeconds(10));
        using (HttpResponseMessage serving = await _http.GetAsync(health))
        {
            Assert.Equal(HttpStatusCode.OK, serving.StatusCode);
        }

        // An edge that never says Goodbye keeps the drain open (docs/protocol.md §1.7) while the check looks.
        await using WireClient edge = await WireClient.HandshakeAsync(cloud.EndPoint, _plans);
        cloud.Signal("TERM");
        await cloud.WaitForLogAsync("told Goodbye", TimeSpan.FromSeconds(10));
        using (HttpResponseMessage draining = await _http.GetAsync(health))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, draining.StatusCode);
            Assert.Contains("\"status\":\"draining\"", await draining.Content.ReadAsStringAsync());
        }

        Assert.False(cloud.HasExited);
        edge.ShutdownSend(); // the edge's side ends: the drain completes, the process exits 0
        Assert.Equal(0, await cloud.WaitForExitAsync(TimeSpan.FromSeconds(20)));
    }
}
