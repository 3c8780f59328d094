using System.Text.Json;
using System.Text.Json.Serialization;
using Coach.Engine.Graph;

namespace Coach.Engine.Profiling;

/// <summary>Median kernel time of one layer over the warm runs.</summary>
public sealed record LayerTiming(string Name, string OpType, double MedianMicroseconds, int Samples);

/// <summary>
/// Per-layer latency of one model on one device and execution provider (docs/planner.md §2): the t_i^e or t_i^c of
/// eq. 2. Saved as JSON so the edge profile can be measured on the device and planning done anywhere.
/// </summary>
public sealed class LayerProfile
{
    public const string CurrentSchema = "coach.layer-profile/1";

    public string Schema { get; init; } = CurrentSchema;
    public required string ModelSha256 { get; init; }
    public string? ModelName { get; init; }
    public required string Device { get; init; }
    public required string Provider { get; init; }
    public int Runs { get; init; }
    public int WarmupRuns { get; init; }
    public string? OrtVersion { get; init; }
    public DateTime CreatedUtc { get; init; } = DateTime.UtcNow;
    /// <summary>Median wall time of a whole run, for comparison with the sum of the layers.</summary>
    public double WholeRunMedianMicroseconds { get; init; }
    /// <summary>Median latency of a whole run in a session configured as in production (graph optimizations on, no profiler).</summary>
    public double ServingRunMedianMicroseconds { get; init; }
    /// <summary>
    /// Factor applied to every layer's kernel median so the layers add up to <see cref="ServingRunMedianMicroseconds"/>
    /// (1 when not measured): per-node timings come from an unoptimised, profiled session, the stages run optimised.
    /// </summary>
    public double LayerScale { get; init; } = 1;
    public required IReadOnlyList<LayerTiming> Layers { get; init; }

    [JsonIgnore]
    public double TotalMicroseconds => Layers.Sum(l => l.MedianMicroseconds);

    private Dictionary<string, LayerTiming>? _byName;

    public bool TryGetTiming(string layerName, out LayerTiming timing)
    {
        _byName ??= Layers.GroupBy(l => l.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        return _byName.TryGetValue(layerName, out timing!);
    }

    public double MedianMicroseconds(string layerName) => TryGetTiming(layerName, out var t)
        ? t.MedianMicroseconds
        : throw new ProfileMismatchException($"profile for device '{Device}' has no timing for layer '{layerName}'");

    /// <summary>Throws a clear error when this profile was not measured on <paramref name="graph"/>'s model.</summary>
    public void EnsureMatches(LayerGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        if (!string.Equals(ModelSha256, graph.Sha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new ProfileMismatchException(
                $"profile for device '{Device}' ({Provider}) was measured on model sha256 {ModelSha256}{(ModelName is null ? "" : $" ({ModelName})")}, but this model's sha256 is {graph.Sha256}; measure it again with `coach profile --model <model> --device {Device} --out <file>`");
        }
        foreach (var node in graph.Nodes)
        {
            if (!TryGetTiming(node.Name, out _))
            {
                throw new ProfileMismatchException($"profile for device '{Device}' has no timing for layer '{node.Name}' ({node.OpType}) of the model; measure it again with `coach profile`");
            }
        }
    }

    public void Save(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir))
        {
            Directory.CreateDirectory(dir);
        }
        File.WriteAllText(path, JsonSerializer.Serialize(this, ProfileJsonContext.Default.LayerProfile));
    }

    public static LayerProfile Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"profile '{path}' does not exist; measure one with `coach profile --model <model> --device <name> --out {path}`", path);
        }
        LayerProfile? profile;
        try
        {
            profile = JsonSerializer.Deserialize(File.ReadAllText(path), ProfileJsonContext.Default.LayerProfile);
        }
        catch (JsonException e)
        {
            throw new ProfileMismatchException($"'{path}' is not a Coach layer profile: {e.Message}", e);
        }
        if (profile is null || profile.Schema != CurrentSchema)
        {
            throw new ProfileMismatchException($"'{path}' has schema '{profile?.Schema}', expected '{CurrentSchema}'; measure it again with `coach profile`");
        }
        return profile;
    }
}

/// <summary>A profile that does not belong to the model, or is not a profile at all.</summary>
public sealed class ProfileMismatchException : Exception
{
    public ProfileMismatchException(string message) : base(message) { }
    public ProfileMismatchException(string message, Exception inner) : base(message, inner) { }
    public ProfileMismatchException() { }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(LayerProfile))]
internal sealed partial class ProfileJsonContext : JsonSerializerContext;
