using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Coach.Cli.Experiments;
using Coach.Engine.Data;
using Coach.Engine.Planning;

namespace Coach.Cli.Commands;

/// <summary>
/// <c>coach demo</c>: the main job on the bundled ResNet-style model and a medium-correlation stream —
/// COACH against Neurosurgeon, JPS, cloud-only and edge-only, each run by the real coach-cloud and
/// NativeAOT coach-edge processes over a shaped loopback link, with the edge slowed by a CPU quota.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "print the comparison as one JSON object on the last line" };
        var frames = new Option<int>("--frames") { Description = "frames per method", DefaultValueFactory = _ => 1000 };
        var bandwidth = new Option<string>("--bandwidth") { Description = "uplink rate (in-process shaper), tc syntax", DefaultValueFactory = _ => "20mbit" };
        var slowdown = new Option<double>("--edge-slowdown") { Description = "how many times slower than this machine the edge is (CPU cgroup quota; needs root)", DefaultValueFactory = _ => 4.0 };
        var model = new Option<string>("--model") { Description = "bundled model name or ONNX file", DefaultValueFactory = _ => "resnet-fm112" };
        var bin = new Option<string?>("--bin") { Description = "folder with the published coach-edge and coach-cloud (default dist/linux-x64)" };
        var command = new Command("demo", "run COACH and the baselines end to end on the bundled model and data, and compare") { json, frames, bandwidth, slowdown, model, bin };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var root = ModelCatalog.RepositoryRoot;
            var settings = new ExperimentSettings
            {
                Model = parse.GetValue(model)!,
                Bandwidth = parse.GetValue(bandwidth)!,
                EdgeSlowdown = parse.GetValue(slowdown),
                Frames = parse.GetValue(frames),
                Correlation = StreamCorrelation.Medium,
                WorkDirectory = Path.Combine(root, ".cache", "demo"),
                BinaryDirectory = parse.GetValue(bin) ?? Path.Combine(root, "dist", RuntimeRid()),
            };
            try
            {
                return await RunAsync(settings, parse.GetValue(json), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or TimeoutException or ArgumentException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"coach demo: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    private static async Task<int> RunAsync(ExperimentSettings settings, bool json, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var log = Console.Error;
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

        Console.WriteLine(Table(results, settings, runner.EffectiveSlowdown, started.Elapsed));
        if (json)
        {
            Console.WriteLine(Json(results, settings, runner.EffectiveSlowdown));
        }

        return 0;
    }

    private static string Table(IReadOnlyList<MethodResult> results, ExperimentSettings s, double slowdown, TimeSpan elapsed)
    {
        var b = new StringBuilder();
        b.AppendLine(CultureInfo.InvariantCulture, $"Coach demo: {s.Model}, {s.Frames} frames of a {s.Correlation.ToString().ToLowerInvariant()}-correlation stream, link {s.Bandwidth}, edge {slowdown:0.#}x slower than the cloud ({elapsed.TotalSeconds:0} s)");
        b.AppendLine("method        sent/answered  thr fps (pred)    p50 ms   p95 ms  accuracy  bytes/frame  bubble  early-exit");
        foreach (var r in results)
        {
            b.AppendLine(CultureInfo.InvariantCulture,
                $"{r.Method.Title,-13} {r.Number("frames_sent"),5}/{r.Number("frames_answered"),-7} {MethodResult.Format(r.ThroughputFps, "0.0"),7} ({MethodResult.Format(r.PredictedThroughputFps, "0.0"),6}) {MethodResult.Format(r.Number("latency_p50_ms"), "0.0"),8} {MethodResult.Format(r.Number("latency_p95_ms"), "0.0"),8} {MethodResult.Format(r.Accuracy, "0.0000"),9} {MethodResult.Format(r.Number("bytes_per_frame"), "0"),12} {MethodResult.Format(r.Number("bubble_ratio"), "0.00"),7} {MethodResult.Format(r.Number("early_exit_ratio"), "0.00"),11}");
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
            foreach (var r in results)
            {
                r.WriteJson(w);
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    internal static string RuntimeRid() => System.Runtime.InteropServices.RuntimeInformation.OSArchitecture == System.Runtime.InteropServices.Architecture.Arm64 ? "linux-arm64" : "linux-x64";
}
