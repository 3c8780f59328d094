using System.Collections.Concurrent;
using System.Net;
using Coach.Transport.Cloud;
using Coach.Transport.Edge;
using Coach.Transport.Protocol;

namespace Coach.Transport.Tests.Fleet;

/// <summary>
/// Behind a load balancer an edge may land on any cloud of the fleet (docs/fleet.md): a cloud finds the
/// edge's plan by the SHA-256 of its tail.onnx (docs/protocol.md §4.1), so every cloud that holds a copy
/// of the plan, under any folder, serves it, and one whose tail differs refuses it even under the same id.
/// </summary>
public sealed class SharedPlanTests : IAsyncDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"coach-fleet-plans-{Guid.NewGuid():N}");
    private readonly ConcurrentQueue<string> _log = new();
    private readonly List<CloudServer> _clouds = [];

    public async ValueTask DisposeAsync()
    {
        foreach (CloudServer cloud in _clouds)
        {
            await cloud.DisposeAsync();
        }

        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task EveryCloudHoldingACopyOfThePlanUnderAnyFolderServesTheEdge()
    {
        PlanDirectory edgePlan = PlanDirectory.Load(TinyModels.WritePlan(Path.Combine(_root, "edge"), "shared", TinyModels.Head(), TinyModels.Tail(), bits: 4));
        CloudServer first = StartCloud(Path.Combine(_root, "cloud-a"), "shared", TinyModels.Tail());
        CloudServer second = StartCloud(Path.Combine(_root, "cloud-b"), "renamed-folder", TinyModels.Tail());

        foreach (CloudServer cloud in (CloudServer[])[first, second])
        {
            await using EdgeClient client = await EdgeClient.ConnectAsync(cloud.LocalEndPoint, HelloFor(edgePlan));
            Assert.True(client.Ack.MaxBatch >= 1);
        }
    }

    [Fact]
    public async Task ACloudWhoseTailDiffersRefusesThePlanEvenUnderTheSameId()
    {
        PlanDirectory edgePlan = PlanDirectory.Load(TinyModels.WritePlan(Path.Combine(_root, "edge"), "shared", TinyModels.Head(), TinyModels.Tail(), bits: 4));
        CloudServer other = StartCloud(Path.Combine(_root, "cloud-c"), "shared", TinyModels.Tail("other"), cutName: "other");

        HandshakeRejectedException refused = await Assert.ThrowsAsync<HandshakeRejectedException>(async () => await EdgeClient.ConnectAsync(other.LocalEndPoint, HelloFor(edgePlan)));
        Assert.Equal(ReasonCode.UnknownPlan, refused.Reason);
    }

    private static HelloMessage HelloFor(PlanDirectory plan) =>
        new() { ClientId = "fleet-edge", PlanId = plan.Id, PlanHash = plan.PlanHash, TailName = Path.GetFileName(plan.DirectoryPath) };

    private CloudServer StartCloud(string plans, string folder, byte[] tail, string cutName = "cut")
    {
        string dir = TinyModels.WritePlan(plans, folder, head: null, tail, bits: 4, cutName);
        // The plan's id stays "shared" whatever the folder is called: only the tail's bytes differ or not.
        File.WriteAllText(Path.Combine(dir, PlanDirectory.PlanFileName), File.ReadAllText(Path.Combine(dir, PlanDirectory.PlanFileName)).Replace($"\"id\":\"{folder}\"", "\"id\":\"shared\"", StringComparison.Ordinal));
        var cloud = CloudServer.FromPlansDirectory(plans, new CloudServerOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), LogInterval = TimeSpan.Zero, Log = _log.Enqueue });
        _clouds.Add(cloud);
        cloud.Start();
        return cloud;
    }
}
