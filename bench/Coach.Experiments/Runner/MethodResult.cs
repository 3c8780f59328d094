using System.Globalization;
using System.Text.Json;

namespace Coach.Experiments;

/// <summary>
/// One method's measured runs beside what its plan predicted: <see cref="Summary"/>, the edge's JSON summary of the
/// throughput run (frames offered as fast as the pipeline takes them), and <see cref="Latency"/>, that of the latency run
/// (frames arriving at <see cref="LatencyFps"/> like a camera's, well below the method's throughput, so a frame's latency is
/// its own path through the stages and not the queue a saturated pipeline builds).
/// </summary>
public sealed record MethodResult(MethodSpec Method, JsonElement Summary, double PredictedThroughputFps)
{
    public JsonElement? Latency { get; init; }

    public double LatencyFps { get; init; }

    public double Number(string name) => Read(Summary, name);

    /// <summary>A figure of the latency run (the throughput run's when there was none).</summary>
    public double LatencyNumber(string name) => Latency is JsonElement latency ? Read(latency, name) : Number(name);

    /// <summary>A number of an edge summary; NaN when it is absent or not a number.</summary>
    public static double Read(JsonElement summary, string name) => summary.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN;

    /// <summary>
    /// Throughput of every throughput run of this method under the same settings (the first is <see cref="Summary"/>'s);
    /// empty when it ran once.
    /// </summary>
    public IReadOnlyList<double> ThroughputRuns { get; init; } = [];

    /// <summary>Frames per second: the median of <see cref="ThroughputRuns"/> when the method ran more than once, else the one run's.</summary>
    public double ThroughputFps => ThroughputRuns.Count > 1 ? Median(ThroughputRuns) : Number("throughput_fps");

    private static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    public double Accuracy => Number("accuracy");

    /// <summary>The keys every report carries, in snake_case, from the edge's summary plus the plan's prediction.</summary>
    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject(Method.Key);
        foreach (var p in Summary.EnumerateObject())
        {
            if (ThroughputRuns.Count > 1 && p.NameEquals("throughput_fps"))
            {
                continue;
            }

            p.WriteTo(w);
        }

        if (ThroughputRuns.Count > 1)
        {
            // The median of the repeated throughput runs; the other figures are the first run's.
            w.WriteNumber("throughput_fps", Math.Round(ThroughputFps, 3));
            w.WriteStartArray("throughput_runs_fps");
            foreach (double run in ThroughputRuns)
            {
                w.WriteNumberValue(Math.Round(run, 3));
            }

            w.WriteEndArray();
        }

        w.WriteNumber("predicted_throughput_fps", Math.Round(PredictedThroughputFps, 3));
        if (Latency is JsonElement latency)
        {
            // The throughput run's latency_* fields are under full load; these are the paced run's.
            w.WriteNumber("latency_run_fps", Math.Round(LatencyFps, 2));
            foreach (var name in new[] { "latency_mean_ms", "latency_p50_ms", "latency_p95_ms", "frames_answered" })
            {
                double value = Read(latency, name);
                if (double.IsFinite(value))
                {
                    w.WriteNumber("latency_run_" + name.Replace("latency_", string.Empty, StringComparison.Ordinal), Math.Round(value, 3));
                }
            }
        }

        w.WriteEndObject();
    }

    public static string Format(double value, string format) => double.IsNaN(value) ? "-" : value.ToString(format, CultureInfo.InvariantCulture);
}
