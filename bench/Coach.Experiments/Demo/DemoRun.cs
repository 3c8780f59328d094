using System.Globalization;
using System.Text;
using System.Text.Json;
using Coach.Engine.Planning;

namespace Coach.Experiments;

/// <summary>
/// <c>coach demo</c>: the main job on the bundled ResNet-style model and a medium-correlation stream — COACH against
/// Neurosurgeon, JPS, cloud-only (8-bit and JPEG frames) and edge-only, each run by the real coach-cloud and NativeAOT coach-edge processes over a
/// shaped loopback link, with the edge slowed by a CPU quota.
/// </summary>
public static class DemoRun
{
    /// <summary>Profiles, plans and runs every method of <see cref="Methods.Demo"/>; the table (and with <paramref name="json"/> one JSON object) goes to <paramref name="output"/>, progress to <paramref name="log"/>.</summary>
    public static async Task RunAsync(ExperimentSettings settings, bool json, TextWriter output, TextWriter log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(output);
        var started = System.Diagnostics.Stopwatch.StartNew();
        await using var runner = new ExperimentRunner(settings, log);
        if (runner.EdgeSlowdownNote is not null)
        {
            log.WriteLine($"coach demo: the edge runs at this machine's speed ({runner.EdgeSlowdownNote}); plans use slowdown 1");
        }
        else
        {
            log.WriteLine($"coach demo: the edge is slowed {settings.EdgeSlowdown}x by a CPU quota ({runner.EdgeSlowdownMechanism})");
        }

        var profile = runner.EnsureProfile();
        await runner.MeasureEdgeOverheadAsync(profile, cancellationToken).ConfigureAwait(false);
        foreach (var m in Methods.Demo)
        {
            runner.EnsurePlan(m, profile);
        }

        await runner.StartCloudAsync(cancellationToken).ConfigureAwait(false);
        var results = new List<MethodResult>();
        foreach (var m in Methods.Demo)
        {
            log.WriteLine($"running {m.Title}: {settings.Frames} frames, {settings.SourceArgument}, {settings.Bandwidth}");
            var summary = await runner.RunEdgeAsync(m, cancellationToken).ConfigureAwait(false);
            var plan = PlanDocument.Load(runner.PlanDirectory(m));
            results.Add(new MethodResult(m, summary, plan.ThroughputFps));
        }

        output.WriteLine(Table(results, settings, runner.EffectiveSlowdown, started.Elapsed));
        if (json)
        {
            output.WriteLine(Json(results, settings, runner.EffectiveSlowdown));
        }
    }

    private static string Table(IReadOnlyList<MethodResult> results, ExperimentSettings s, double slowdown, TimeSpan elapsed)
    {
        var b = new StringBuilder();
        string frames = s.Data is null ? $"{s.Frames} frames of a {s.Correlation.ToString().ToLowerInvariant()}-correlation stream" : $"up to {s.Frames} frames of {s.Data}";
        b.AppendLine(CultureInfo.InvariantCulture, $"Coach demo: {s.Model}, {frames}, link {s.Bandwidth}, edge {slowdown:0.#}x slower than the cloud ({elapsed.TotalSeconds:0} s)");
        b.AppendLine("method        sent/answered  thr fps (pred)    p50 ms   p95 ms  accuracy  bytes/frame  bubble  early-exit");
        foreach (var r in results)
        {
            b.AppendLine(CultureInfo.InvariantCulture,
                $"{r.Method.Title,-13} {r.Summary.FramesSent,5}/{r.Summary.FramesAnswered,-7} {MethodResult.Format(r.ThroughputFps, "0.0"),7} ({MethodResult.Format(r.PredictedThroughputFps, "0.0"),6}) {MethodResult.Format(r.Summary.LatencyP50Ms, "0.0"),8} {MethodResult.Format(r.Summary.LatencyP95Ms, "0.0"),8} {MethodResult.Format(r.Accuracy, "0.0000"),9} {MethodResult.Format(r.Summary.BytesPerFrame, "0"),12} {MethodResult.Format(r.Summary.BubbleRatio, "0.00"),7} {MethodResult.Format(r.Summary.EarlyExitRatio, "0.00"),11}");
        }

        return b.ToString();
    }

    private static string Json(IReadOnlyList<MethodResult> results, ExperimentSettings s, double slowdown)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("model", s.Model);
            w.WriteString("bandwidth", s.Bandwidth);
            w.WriteNumber("edge_slowdown", slowdown);
            w.WriteNumber("frames", s.Frames);
            if (s.Data is not null)
            {
                w.WriteString("data", s.Data);
            }

            foreach (var r in results)
            {
                r.WriteJson(w);
            }

            // COACH against what users run today, cloud-only with JPEG frames, both measured in this run (docs/baselines.md).
            if (results.FirstOrDefault(r => r.Method == Methods.Coach) is { } coach && results.FirstOrDefault(r => r.Method == Methods.CloudJpeg) is { } jpeg)
            {
                w.WriteNumber("coach_vs_cloud_jpeg_throughput", Math.Round(coach.ThroughputFps / jpeg.ThroughputFps, 3));
                w.WriteNumber("cloud_jpeg_bytes_per_frame", Math.Round(jpeg.Summary.BytesPerFrame, 1));
                w.WriteNumber("cloud_jpeg_accuracy", Math.Round(jpeg.Accuracy, 4));
            }

            // And against a low-latency H.264 stream of the same frames; the full model's accuracy is edge-only's, same frames.
            if (results.FirstOrDefault(r => r.Method == Methods.Coach) is { } coachRun && results.FirstOrDefault(r => r.Method == Methods.CloudH264) is { } h264)
            {
                w.WriteNumber("coach_vs_cloud_h264_throughput", Math.Round(coachRun.ThroughputFps / h264.ThroughputFps, 3));
                w.WriteNumber("cloud_h264_bytes_per_frame", Math.Round(h264.Summary.BytesPerFrame, 1));
                w.WriteNumber("cloud_h264_accuracy", Math.Round(h264.Accuracy, 4));
                if (results.FirstOrDefault(r => r.Method == Methods.EdgeOnly) is { } full)
                {
                    w.WriteNumber("cloud_h264_accuracy_loss_vs_full_model", Math.Round(full.Accuracy - h264.Accuracy, 4));
                }
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }
}
