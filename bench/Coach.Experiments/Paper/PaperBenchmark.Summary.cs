using System.Text;
using System.Text.Json;
using Coach.Engine.Data;
using Coach.Engine.Planning;

namespace Coach.Experiments;

// The summary ratios of the run and the JSON object printed with --json.
public sealed partial class PaperBenchmark
{
    private sealed record PaperSummary(
        string Model, double CoachVsJps, double CoachVsNs, double MeasuredVsPredicted, bool LatencyLowest,
        PairedAccuracy? Accuracy, double HighCorrelationExitRatio, double? ThroughputKeptAt10Of20, double? SingleRatePlanKeptAt10Of20,
        double CoachVsCloudJpeg, double CloudJpegBytesPerFrame, double CloudJpegAccuracy, int CloudJpegQuality,
        double CoachVsCloudH264, double CloudH264BytesPerFrame, double CloudH264Accuracy, int CloudH264RateFactor, double FullModelAccuracy);

    private PaperSummary Summary(
        List<(string Model, EdgeSpeed Speed, List<MethodResult> Results)> table1,
        List<(StreamCorrelation Level, MethodResult Online, MethodResult Fixed)> table2,
        List<DynamicRun> fig5,
        string primary)
    {
        var rows = SummaryRows(table1);
        MethodResult Get(MethodSpec m) => rows.First(r => r.Method == m);
        var coach = Get(Methods.Coach);
        var baselines = rows.Where(r => r.Method != Methods.Coach).ToList();
        var high = table2.FirstOrDefault(r => r.Level == StreamCorrelation.High);
        var drops = fig5.Where(f => f.Schedule.StartsWith("20mbit", StringComparison.Ordinal)).ToList();
        return new PaperSummary(
            Path.GetFileNameWithoutExtension(primary),
            coach.ThroughputFps / Get(Methods.Jps).ThroughputFps,
            coach.ThroughputFps / Get(Methods.Neurosurgeon).ThroughputFps,
            coach.ThroughputFps / coach.PredictedThroughputFps,
            baselines.All(b => coach.LatencyRun.LatencyMeanMs < b.LatencyRun.LatencyMeanMs),
            _coachAccuracy.GetValueOrDefault((primary, Tx2)),
            high.Online?.Summary.EarlyExitRatio ?? double.NaN,
            drops.FirstOrDefault(f => f.Method.BandwidthRange is not null)?.KeptSecondOfFirst,
            drops.FirstOrDefault(f => f.Method.BandwidthRange is null)?.KeptSecondOfFirst,
            // What users run today (docs/baselines.md): both measured in the same run, through the same processes and link.
            coach.ThroughputFps / Get(Methods.CloudJpeg).ThroughputFps,
            Get(Methods.CloudJpeg).Summary.BytesPerFrame,
            Get(Methods.CloudJpeg).Accuracy,
            _cloudJpegQuality.GetValueOrDefault((primary, Tx2)),
            coach.ThroughputFps / Get(Methods.CloudH264).ThroughputFps,
            Get(Methods.CloudH264).Summary.BytesPerFrame,
            Get(Methods.CloudH264).Accuracy,
            _cloudH264RateFactor.GetValueOrDefault((primary, Tx2), -1),
            // The full model on the same frames: edge-only runs it whole.
            Get(Methods.EdgeOnly).Accuracy);
    }

    private static string Json(List<(string Model, EdgeSpeed Speed, List<MethodResult> Results)> table1, PaperSummary s)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("bandwidth", TableBandwidth);
            w.WriteStartArray("runs");
            foreach (var (model, speed, results) in table1)
            {
                w.WriteStartObject();
                w.WriteString("model", Path.GetFileNameWithoutExtension(model));
                w.WriteString("edge", speed.Name);
                w.WriteNumber("edge_slowdown", speed.Slowdown);
                foreach (var r in results)
                {
                    r.WriteJson(w);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartObject("summary");
            w.WriteString("model", s.Model);
            w.WriteString("edge", Tx2.Name);
            w.WriteNumber("coach_vs_jps_throughput", Math.Round(s.CoachVsJps, 3));
            w.WriteNumber("coach_vs_ns_throughput", Math.Round(s.CoachVsNs, 3));
            w.WriteNumber("coach_vs_cloud_jpeg_throughput", Math.Round(s.CoachVsCloudJpeg, 3));
            w.WriteNumber("cloud_jpeg_bytes_per_frame", Math.Round(s.CloudJpegBytesPerFrame, 1));
            WriteNumberOrNull(w, "cloud_jpeg_accuracy", s.CloudJpegAccuracy);
            w.WriteNumber("cloud_jpeg_quality", s.CloudJpegQuality);
            w.WriteNumber("coach_vs_cloud_h264_throughput", Math.Round(s.CoachVsCloudH264, 3));
            w.WriteNumber("cloud_h264_bytes_per_frame", Math.Round(s.CloudH264BytesPerFrame, 1));
            WriteNumberOrNull(w, "cloud_h264_accuracy", s.CloudH264Accuracy);
            w.WriteNumber("cloud_h264_crf", s.CloudH264RateFactor);
            WriteNumberOrNull(w, "full_model_accuracy", s.FullModelAccuracy);
            WriteNumberOrNull(w, "cloud_jpeg_accuracy_loss_vs_full_model", s.FullModelAccuracy - s.CloudJpegAccuracy);
            WriteNumberOrNull(w, "cloud_h264_accuracy_loss_vs_full_model", s.FullModelAccuracy - s.CloudH264Accuracy);
            w.WriteNumber("coach_measured_vs_predicted", Math.Round(s.MeasuredVsPredicted, 3));
            w.WriteBoolean("coach_latency_lowest", s.LatencyLowest);
            WriteNumberOrNull(w, "coach_accuracy_loss", s.Accuracy?.Loss ?? double.NaN);
            WriteNumberOrNull(w, "coach_accuracy_loss_standard_error", s.Accuracy?.StandardError ?? double.NaN);
            WriteNumberOrNull(w, "high_correlation_early_exit_ratio", s.HighCorrelationExitRatio);
            WriteNumberOrNull(w, "throughput_kept_at_10mbit_of_20mbit", s.ThroughputKeptAt10Of20 ?? double.NaN);
            WriteNumberOrNull(w, "throughput_kept_at_10mbit_of_20mbit_single_rate_plan", s.SingleRatePlanKeptAt10Of20 ?? double.NaN);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteNumberOrNull(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value))
        {
            w.WriteNumber(name, Math.Round(value, 4));
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
