using System.Globalization;
using System.Text.Json;
using Coach.Engine.Profiling;
using Coach.Transport.Edge;

namespace Coach.Experiments;

/// <summary>
/// One method's measured runs beside what its plan predicted: <see cref="Summary"/>, the edge's run summary of the
/// throughput run (frames offered as fast as the pipeline takes them), and <see cref="Latency"/>, that of the latency run
/// (frames arriving at <see cref="LatencyFps"/> like a camera's, well below the method's throughput, so a frame's latency is
/// its own path through the stages and not the queue a saturated pipeline builds).
/// </summary>
internal sealed record MethodResult(MethodSpec Method, EdgeRunSummaryDocument Summary, double PredictedThroughputFps)
{
    public EdgeRunSummaryDocument? Latency { get; init; }

    public double LatencyFps { get; init; }

    /// <summary>The run the latency figures come from: the paced run's, the throughput run's when there was none.</summary>
    public EdgeRunSummaryDocument LatencyRun => Latency ?? Summary;

    /// <summary>
    /// Throughput of every throughput run of this method under the same settings (the first is <see cref="Summary"/>'s);
    /// empty when it ran once.
    /// </summary>
    public IReadOnlyList<double> ThroughputRuns { get; init; } = [];

    /// <summary>Frames per second: the median of <see cref="ThroughputRuns"/> when the method ran more than once, else the one run's.</summary>
    public double ThroughputFps => ThroughputRuns.Count > 1 ? OrtProfileParser.Median(ThroughputRuns) : Summary.ThroughputFps;

    public double Accuracy => Summary.Accuracy;

    /// <summary>The keys every report carries, in snake_case, from the edge's summary plus the plan's prediction.</summary>
    public void WriteJson(Utf8JsonWriter w)
    {
        ArgumentNullException.ThrowIfNull(w);
        w.WriteStartObject(Method.Key);
        foreach (var p in Summary.ToJsonElement().EnumerateObject())
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
        if (Latency is { } latency)
        {
            // The throughput run's latency_* fields are under full load; these are the paced run's.
            w.WriteNumber("latency_run_fps", Math.Round(LatencyFps, 2));
            w.WriteNumber("latency_run_mean_ms", Math.Round(latency.LatencyMeanMs, 3));
            w.WriteNumber("latency_run_p50_ms", Math.Round(latency.LatencyP50Ms, 3));
            w.WriteNumber("latency_run_p95_ms", Math.Round(latency.LatencyP95Ms, 3));
            w.WriteNumber("latency_run_frames_answered", latency.FramesAnswered);
        }

        w.WriteEndObject();
    }

    public static string Format(double value, string format) => double.IsNaN(value) ? "-" : value.ToString(format, CultureInfo.InvariantCulture);
}
