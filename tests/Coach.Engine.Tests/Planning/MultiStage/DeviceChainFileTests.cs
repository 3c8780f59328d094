using Coach.Engine.Graph;
using Coach.Engine.Planning.MultiStage;
using Coach.Engine.Profiling;
using Coach.Engine.Tests.Graph;

namespace Coach.Engine.Tests.Planning.MultiStage;

public class DeviceChainFileTests
{
    private const string Valid = """
        {
          "schema": "coach.devices/1",
          "order": "free",
          "latency_budget_ms": 40,
          // the camera's device first
          "devices": [
            { "name": "jetson-nano", "slowdown": 8, "memory_bytes": 400000000, "frame_overhead_ms": 1.5,
              "link": { "rate": "20mbit", "frame_overhead_ms": 0.4, "frame_overhead_bytes": 64 } },
            { "name": "jetson-orin", "profile": "orin.json", "memory_bytes": 2000000000,
              "link": { "rate": "100mbit" } },
          ],
          "cloud": { "name": "server", "slowdown": 1 }
        }
        """;

    private static DeviceChainDescription Parse(string json) => DeviceChainFile.Parse(json, "chain.json", "/plans");

    private static string Error(string json) => Assert.Throws<InvalidDataException>(() => Parse(json)).Message;

    private static string Without(string field) => Valid.Replace(field, "", StringComparison.Ordinal);

    [Fact]
    public void AValidFileGivesEveryField()
    {
        var chain = Parse(Valid);
        Assert.True(chain.OrderIsFree);
        Assert.Equal(0.040, chain.LatencyBudgetSeconds!.Value, 12);
        Assert.Equal(["jetson-nano", "jetson-orin"], chain.EdgeDevices.Select(d => d.Name));
        var nano = chain.EdgeDevices[0];
        Assert.Null(nano.ProfilePath);
        Assert.Equal(8, nano.Slowdown);
        Assert.Equal(400_000_000, nano.MemoryBudgetBytes);
        Assert.Equal(1.5e-3, nano.FrameOverheadSeconds, 12);
        Assert.Equal(new DeviceLink(20e6, 0.4e-3, 64), nano.Uplink);
        Assert.Equal(0.4e-3 + 64 * 8 / 20e6, nano.Uplink!.FrameSeconds, 15);
        var orin = chain.EdgeDevices[1];
        Assert.Equal("orin.json", orin.ProfilePath);
        Assert.Equal(1, orin.Slowdown);
        Assert.Equal(new DeviceLink(100e6, 0.5e-3, 0), orin.Uplink);
        Assert.Equal("server", chain.Cloud.Name);
        Assert.Null(chain.Cloud.MemoryBudgetBytes);
        Assert.Null(chain.Cloud.Uplink);
    }

    [Theory]
    [InlineData("\"coach.devices/1\"", "\"coach.devices/2\"", "schema is 'coach.devices/2'")]
    [InlineData("\"free\"", "\"random\"", "order is 'random'")]
    [InlineData("\"latency_budget_ms\": 40", "\"latency_budget_ms\": -1", "latency_budget_ms must be a positive number")]
    [InlineData("\"slowdown\": 8", "\"slowdown\": 0", "devices[0].slowdown must be a positive factor")]
    [InlineData("\"memory_bytes\": 2000000000", "\"memory_bytes\": -5", "devices[1].memory_bytes must be a positive number of bytes")]
    [InlineData("\"20mbit\"", "\"20mbps\"", "devices[0].link.rate rate '20mbps': tc reads bps")]
    [InlineData("\"100mbit\"", "\"fast\"", "devices[1].link.rate rate 'fast' is not a positive link rate")]
    [InlineData("\"frame_overhead_bytes\": 64", "\"frame_overhead_bytes\": -64", "devices[0].link.frame_overhead_bytes must be zero or more")]
    [InlineData("\"name\": \"jetson-orin\"", "\"name\": \"jetson-nano\"", "'jetson-nano' names more than one device")]
    [InlineData("\"name\": \"server\", ", "", "cloud.name is missing")]
    [InlineData("\"slowdown\": 1 }", "\"link\": { \"rate\": \"1gbit\" } }", "cloud.link is not allowed")]
    public void AWrongValueIsRefusedWithItsField(string valid, string wrong, string expected)
    {
        Assert.Contains(valid, Valid, StringComparison.Ordinal);
        var message = Error(Valid.Replace(valid, wrong, StringComparison.Ordinal));
        Assert.StartsWith("'chain.json': ", message, StringComparison.Ordinal);
        Assert.Contains(expected, message, StringComparison.Ordinal);
    }

    [Fact]
    public void AMissingLinkIsRefusedWithItsDevice() =>
        Assert.Contains("devices[1].link is missing", Error("""
            { "schema": "coach.devices/1",
              "devices": [ { "name": "a", "link": { "rate": "1mbit" } }, { "name": "b" } ],
              "cloud": { "name": "c" } }
            """), StringComparison.Ordinal);

    [Fact]
    public void AMisspelledFieldIsRefusedByName()
    {
        var message = Error(Valid.Replace("\"memory_bytes\": 400000000", "\"memory_mb\": 400", StringComparison.Ordinal));
        Assert.Contains("memory_mb", message, StringComparison.Ordinal);
        Assert.Contains("$.devices[0]", message, StringComparison.Ordinal);
    }

    [Fact]
    public void AValueOfTheWrongTypeIsRefusedWithItsPath()
    {
        var message = Error(Valid.Replace("\"slowdown\": 8", "\"slowdown\": \"8x\"", StringComparison.Ordinal));
        Assert.Contains("$.devices[0].slowdown", message, StringComparison.Ordinal);
    }

    [Fact]
    public void AChainWithoutEdgeDevicesOrCloudIsRefused()
    {
        Assert.Contains("devices must list at least one edge device", Error("""{ "schema": "coach.devices/1", "devices": [], "cloud": { "name": "c" } }"""), StringComparison.Ordinal);
        Assert.Contains("cloud is missing", Error("""{ "schema": "coach.devices/1", "devices": [ { "name": "a", "link": { "rate": "1mbit" } } ] }"""), StringComparison.Ordinal);
        Assert.Contains("schema is ''", Error("""{ "devices": [] }"""), StringComparison.Ordinal);
    }

    [Fact]
    public void ResolveScalesTheReferenceProfileAndReadsNamedProfilesBesideTheFile()
    {
        var graph = LayerGraph.FromModel(TestModelBuilder.ResidualInception(declareIntermediateShapes: true));
        var reference = Profile(graph, "server", 100);
        var orin = Profile(graph, "orin", 300);
        var requested = new List<string>();
        var (problem, chain) = Parse(Valid).Resolve(graph, reference, path =>
        {
            requested.Add(path);
            return orin;
        });
        Assert.Equal([Path.Combine("/plans", "orin.json")], requested);
        int n = graph.Nodes.Count;
        Assert.Equal(n, problem.NodeCount);
        for (int i = 0; i < n; i++)
        {
            double us = (100 + i) * 1e-6;
            Assert.Equal(us * 8, chain.EdgeDevices[0].LayerSeconds[i], 15);
            Assert.Equal((300 + i) * 1e-6, chain.EdgeDevices[1].LayerSeconds[i], 15);
            Assert.Equal(us, chain.Cloud.LayerSeconds[i], 15);
        }
        Assert.Equal(20e6, problem.Settings.BandwidthBitsPerSecond);
        Assert.True(chain.OrderIsFree);
        Assert.Equal(2_000_000_000, chain.EdgeDevices[1].MemoryBudgetBytes);

        var e = Assert.Throws<InvalidDataException>(() => Parse(Valid).Resolve(graph, reference: null, _ => orin));
        Assert.Contains("devices[0].profile is missing and no reference profile was given", e.Message, StringComparison.Ordinal);
        var otherModel = new LayerProfile { ModelSha256 = "0000", Device = "other", Provider = "CPUExecutionProvider", Layers = orin.Layers };
        Assert.Throws<ProfileMismatchException>(() => Parse(Valid).Resolve(graph, reference, _ => otherModel));
    }

    private static LayerProfile Profile(LayerGraph graph, string device, double firstMicroseconds) => new()
    {
        ModelSha256 = graph.Sha256,
        Device = device,
        Provider = "CPUExecutionProvider",
        Layers = [.. graph.Nodes.Select((node, i) => new LayerTiming(node.Name, node.OpType, firstMicroseconds + i, 10))],
    };
}
