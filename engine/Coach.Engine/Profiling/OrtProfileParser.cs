using System.Text.Json;

namespace Coach.Engine.Profiling;

/// <summary>
/// Reads ONNX Runtime's profiler output (a JSON array of trace events): per-layer kernel times are events with
/// cat "Node" named "&lt;node&gt;_kernel_time" and dur in µs; whole runs are cat "Session" events named "model_run".
/// </summary>
public static class OrtProfileParser
{
    private const string KernelSuffix = "_kernel_time";

    public sealed record ParsedProfile(
        IReadOnlyDictionary<string, List<double>> KernelMicroseconds,
        IReadOnlyDictionary<string, string> OpTypes,
        IReadOnlyList<double> RunMicroseconds,
        string? Provider);

    public static ParsedProfile Parse(string json)
    {
        var kernels = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        var ops = new Dictionary<string, string>(StringComparer.Ordinal);
        var runs = new List<double>();
        string? provider = null;
        using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true });
        var root = doc.RootElement;
        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("traceEvents", out var events))
        {
            root = events;
        }
        if (root.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException("ONNX Runtime profile: expected a JSON array of trace events");
        }
        foreach (var e in root.EnumerateArray())
        {
            if (!e.TryGetProperty("cat", out var cat) || !e.TryGetProperty("name", out var nameElement) || !e.TryGetProperty("dur", out var dur))
            {
                continue;
            }
            var name = nameElement.GetString() ?? "";
            var category = cat.GetString();
            if (category == "Node" && name.EndsWith(KernelSuffix, StringComparison.Ordinal))
            {
                var node = name[..^KernelSuffix.Length];
                if (!kernels.TryGetValue(node, out var list))
                {
                    kernels[node] = list = [];
                }
                list.Add(dur.GetDouble());
                if (e.TryGetProperty("args", out var args))
                {
                    if (args.TryGetProperty("op_name", out var op) && op.GetString() is { } opName)
                    {
                        ops[node] = opName;
                    }
                    if (provider is null && args.TryGetProperty("provider", out var p))
                    {
                        provider = p.GetString();
                    }
                }
            }
            else if (category == "Session" && name == "model_run")
            {
                runs.Add(dur.GetDouble());
            }
        }
        return new ParsedProfile(kernels, ops, runs, provider);
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return 0;
        }
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : 0.5 * (sorted[mid - 1] + sorted[mid]);
    }
}
