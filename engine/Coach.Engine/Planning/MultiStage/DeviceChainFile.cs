using System.Text.Json;
using System.Text.Json.Serialization;
using Coach.Engine.Graph;
using Coach.Engine.Profiling;

namespace Coach.Engine.Planning.MultiStage;

/// <summary>
/// The device chain file (schema <c>coach.devices/1</c>, docs/edgepipe.md §4): edge devices in chain order, each with
/// a layer profile or the reference profile times a slowdown, a memory budget and a link to the next device, then
/// the cloud. Read with source-generated JSON (AOT-safe); unknown fields and wrong values are refused with the
/// field's path in the message.
/// </summary>
public static class DeviceChainFile
{
    public const string CurrentSchema = "coach.devices/1";

    public static DeviceChainDescription Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"device chain file '{path}' does not exist", path);
        }
        var directory = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        return Parse(File.ReadAllText(path), path, directory);
    }

    /// <param name="source">The file's name, for messages.</param>
    /// <param name="baseDirectory">Where relative profile paths start.</param>
    public static DeviceChainDescription Parse(string json, string source, string baseDirectory)
    {
        ArgumentNullException.ThrowIfNull(json);
        DeviceChainDocument? document;
        try
        {
            document = JsonSerializer.Deserialize(json, DeviceChainJsonContext.Default.DeviceChainDocument);
        }
        catch (JsonException e)
        {
            // Some of the serializer's messages (an unknown field) leave out where: add the path.
            var where = e.Path is { } path && !e.Message.Contains(path, StringComparison.Ordinal) ? $" (at {path})" : "";
            throw new InvalidDataException($"'{source}' is not a device chain file: {e.Message}{where}", e);
        }
        if (document is null)
        {
            throw Error(source, "$", "the file is empty (null)");
        }
        if (document.Schema != CurrentSchema)
        {
            throw Error(source, "schema", $"is '{document.Schema}', expected '{CurrentSchema}'");
        }
        bool free = document.Order switch
        {
            null or "fixed" => false,
            "free" => true,
            _ => throw Error(source, "order", $"is '{document.Order}'; use 'fixed' (the devices in the order listed) or 'free' (the planner chooses)"),
        };
        double? latencyBudget = null;
        if (document.LatencyBudgetMs is { } ms)
        {
            latencyBudget = ms > 0 && double.IsFinite(ms) ? ms * 1e-3 : throw Error(source, "latency_budget_ms", $"must be a positive number of milliseconds, got {ms}");
        }
        if (document.Devices is not { Count: > 0 } devices)
        {
            throw Error(source, "devices", "must list at least one edge device (the one that takes the frames)");
        }
        var edge = new List<DeviceDescription>();
        for (int i = 0; i < devices.Count; i++)
        {
            var field = $"devices[{i}]";
            var d = devices[i] ?? throw Error(source, field, "is null");
            var link = d.Link ?? throw Error(source, $"{field}.link", "is missing: every edge device sends to the next device (the last one to the cloud)");
            edge.Add(Describe(source, field, d, Link(source, $"{field}.link", link)));
        }
        var cloud = document.Cloud ?? throw Error(source, "cloud", "is missing: the chain ends in the cloud");
        if (cloud.Link is not null)
        {
            throw Error(source, "cloud.link", "is not allowed: the cloud is the last device and sends nothing on");
        }
        var all = edge.Append(Describe(source, "cloud", cloud, null)).ToList();
        var duplicate = all.GroupBy(d => d.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw Error(source, "name", $"'{duplicate.Key}' names more than one device; the plan names each stage by its device");
        }
        return new DeviceChainDescription(source, baseDirectory, edge, all[^1], free, latencyBudget);
    }

    private static DeviceDescription Describe(string source, string field, DeviceDocument d, DeviceLink? link)
    {
        if (string.IsNullOrWhiteSpace(d.Name))
        {
            throw Error(source, $"{field}.name", "is missing");
        }
        double slowdown = d.Slowdown ?? 1;
        if (!(slowdown > 0) || !double.IsFinite(slowdown))
        {
            throw Error(source, $"{field}.slowdown", $"must be a positive factor, got {slowdown}");
        }
        if (d.MemoryBytes is <= 0)
        {
            throw Error(source, $"{field}.memory_bytes", $"must be a positive number of bytes, got {d.MemoryBytes}");
        }
        double overhead = d.FrameOverheadMs ?? 0;
        if (!(overhead >= 0) || !double.IsFinite(overhead))
        {
            throw Error(source, $"{field}.frame_overhead_ms", $"must be zero or more milliseconds, got {overhead}");
        }
        return new DeviceDescription(d.Name, d.Profile, slowdown, d.MemoryBytes, overhead * 1e-3, link);
    }

    private static DeviceLink Link(string source, string field, LinkDocument link)
    {
        if (string.IsNullOrWhiteSpace(link.Rate))
        {
            throw Error(source, $"{field}.rate", "is missing; write it as tc does, e.g. \"20mbit\"");
        }
        double rate;
        try
        {
            rate = Bandwidth.ParseBitsPerSecond(link.Rate);
        }
        catch (FormatException e)
        {
            throw Error(source, $"{field}.rate", e.Message);
        }
        double overhead = link.FrameOverheadMs ?? 0.5;
        if (!(overhead >= 0) || !double.IsFinite(overhead))
        {
            throw Error(source, $"{field}.frame_overhead_ms", $"must be zero or more milliseconds, got {overhead}");
        }
        if (link.FrameOverheadBytes is < 0)
        {
            throw Error(source, $"{field}.frame_overhead_bytes", $"must be zero or more bytes, got {link.FrameOverheadBytes}");
        }
        return new DeviceLink(rate, overhead * 1e-3, link.FrameOverheadBytes ?? 0);
    }

    private static InvalidDataException Error(string source, string field, string what) => new($"'{source}': {field} {what}");
}

/// <summary>One device as the file describes it, before its profile is read.</summary>
public sealed record DeviceDescription(string Name, string? ProfilePath, double Slowdown, long? MemoryBudgetBytes, double FrameOverheadSeconds, DeviceLink? Uplink);

/// <summary>A checked device chain file; <see cref="Resolve"/> reads the profiles against the model.</summary>
public sealed record DeviceChainDescription(
    string Source,
    string BaseDirectory,
    IReadOnlyList<DeviceDescription> EdgeDevices,
    DeviceDescription Cloud,
    bool OrderIsFree,
    double? LatencyBudgetSeconds)
{
    /// <summary>
    /// The chain for <paramref name="graph"/>: each device's layer times from its own profile, or from
    /// <paramref name="reference"/> when it names none, times its slowdown (as <see cref="PlanningProblem.FromGraph(LayerGraph, LayerProfile, LayerProfile, CostSettings, double)"/>
    /// scales the edge). The problem carries the first link's rate; each link's own rate is in the chain.
    /// </summary>
    public (PlanningProblem Problem, DeviceChain Chain) Resolve(LayerGraph graph, LayerProfile? reference, Func<string, LayerProfile>? loadProfile = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        loadProfile ??= LayerProfile.Load;
        var first = EdgeDevices[0].Uplink!;
        var settings = new CostSettings { BandwidthBitsPerSecond = first.BitsPerSecond, FrameOverheadSeconds = first.FrameSeconds };
        PipelineDevice Device(DeviceDescription d, string field)
        {
            LayerProfile profile;
            if (d.ProfilePath is { } path)
            {
                profile = loadProfile(Path.IsPathRooted(path) ? path : Path.Combine(BaseDirectory, path));
            }
            else
            {
                profile = reference ?? throw new InvalidDataException($"'{Source}': {field}.profile is missing and no reference profile was given");
            }
            // The engine's one conversion from a profile to layer times (slowdown included, the profile checked against the model).
            var times = PlanningProblem.FromGraph(graph, profile, profile, settings, d.Slowdown).EdgeSeconds;
            return new PipelineDevice(d.Name, times, d.MemoryBudgetBytes, d.Uplink, d.FrameOverheadSeconds);
        }
        var edge = EdgeDevices.Select((d, i) => Device(d, $"devices[{i}]")).ToList();
        var cloud = Device(Cloud, "cloud");
        var problem = PlanningProblem.FromGraph(graph, edge[0].LayerSeconds, cloud.LayerSeconds, settings);
        return (problem, new DeviceChain(edge, cloud, OrderIsFree, LatencyBudgetSeconds));
    }
}

/// <summary>The file as written (snake_case); checked by <see cref="DeviceChainFile.Parse"/>.</summary>
public sealed class DeviceChainDocument
{
    public string? Schema { get; set; }
    public string? Order { get; set; }
    public double? LatencyBudgetMs { get; set; }
    public List<DeviceDocument?>? Devices { get; set; }
    public DeviceDocument? Cloud { get; set; }
}

public sealed class DeviceDocument
{
    public string? Name { get; set; }
    public string? Profile { get; set; }
    public double? Slowdown { get; set; }
    public long? MemoryBytes { get; set; }
    public double? FrameOverheadMs { get; set; }
    public LinkDocument? Link { get; set; }
}

public sealed class LinkDocument
{
    public string? Rate { get; set; }
    public double? FrameOverheadMs { get; set; }
    public long? FrameOverheadBytes { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true)]
[JsonSerializable(typeof(DeviceChainDocument))]
internal sealed partial class DeviceChainJsonContext : JsonSerializerContext;
