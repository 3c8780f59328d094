using System.Globalization;
using Coach.Engine.Data;
using Coach.Engine.Planning;
using Coach.Transport.Edge;

namespace Coach.Experiments;

// Table I and Table II: every method at one link rate and edge speed, with repeated throughput runs and camera-paced latency runs.
public sealed partial class PaperBenchmark
{
    private async Task<List<MethodResult>> RunMethodsAsync(string model, EdgeSpeed speed, string bandwidth, IReadOnlyList<MethodSpec> methods, StreamCorrelation correlation, CancellationToken ct,
        int? frameCount = null, int repeats = 1)
    {
        int maxFrames = frameCount ?? Frames;
        await using var runner = Runner(model, speed, bandwidth, correlation);
        var profile = runner.EnsureProfile();
        await runner.MeasureEdgeOverheadAsync(profile, ct).ConfigureAwait(false);
        foreach (var m in methods)
        {
            runner.EnsurePlan(m, profile);
        }

        var failed = Path.Combine(runner.PlanDirectory(Methods.Coach), "scheduler.failed");
        if (methods.Contains(Methods.Coach) && File.Exists(failed))
        {
            _notes.Add($"{Path.GetFileNameWithoutExtension(model)} {speed.Name} {bandwidth}: COACH's online calibration failed, so it ran with its planned bits and no early exit ({File.ReadAllText(failed).Split('\n')[0]}).");
        }

        await runner.StartCloudAsync(ct).ConfigureAwait(false);
        var results = new List<MethodResult>();
        foreach (var m in methods)
        {
            // A slow method (cloud-only at 1 Mbit/s: ~3 frames/s) runs for about RunSeconds rather than Frames frames.
            double predictedFps = PlanDocument.Load(runner.PlanDirectory(m)).ThroughputFps;
            int runFrames = ThroughputRunFrames(predictedFps, maxFrames);
            string what = $"{Path.GetFileNameWithoutExtension(model)} {speed.Name} {bandwidth}: {m.Title}";
            Progress($"{what}{(runFrames < maxFrames ? $" ({runFrames} frames)" : string.Empty)}");
            var summary = await RunTwiceAsync(what, runFrames / Math.Max(predictedFps, 1),
                timeout => runner.RunEdgeAsync(m, ct, frames: runFrames, timeout: timeout)).ConfigureAwait(false);
            // Latency at a camera's pace well below this method's throughput: each frame's own way through the stages.
            double fps = Math.Min(CameraFps, 0.5 * summary.ThroughputFps);
            EdgeRunSummaryDocument? latency = null;
            if (fps > 0.2)
            {
                int frames = (int)Math.Clamp(fps * LatencyRunSeconds, 20, LatencyFrames);
                Progress($"{Path.GetFileNameWithoutExtension(model)} {speed.Name} {bandwidth}: {m.Title}, latency at {fps:0.#} fps");
                latency = await RunTwiceAsync($"{what}, latency", frames / fps,
                    timeout => runner.RunEdgeAsync(m, ct, ["--fps", fps.ToString("0.###", CultureInfo.InvariantCulture)], frames: frames, csvName: $"{m.Key}-latency", emulateSlowdown: true, timeout: timeout)).ConfigureAwait(false);
            }

            results.Add(new MethodResult(m, summary, predictedFps) { Latency = latency, LatencyFps = fps });
        }

        if (methods.Contains(Methods.Coach) && methods.Contains(Methods.EdgeOnly) && bandwidth == TableBandwidth && correlation == StreamCorrelation.Medium)
        {
            // Read now: a later run with the same settings (the bandwidth sweep) writes the same CSV files.
            _coachAccuracy[(model, speed)] = PairedAccuracy.FromCsv(runner.CsvPath(Methods.Coach.Key), runner.CsvPath(Methods.EdgeOnly.Key));
        }

        if (methods.Contains(Methods.CloudJpeg))
        {
            _cloudJpegQuality[(model, speed)] = PlanDocument.Load(runner.PlanDirectory(Methods.CloudJpeg)).InputCodec?.Quality ?? 0;
        }

        if (methods.Contains(Methods.CloudH264))
        {
            _cloudH264RateFactor[(model, speed)] = PlanDocument.Load(runner.PlanDirectory(Methods.CloudH264)).InputCodec?.Quality ?? -1;
        }

        if (repeats > 1)
        {
            results = await RepeatThroughputAsync(runner, model, speed, bandwidth, results, repeats, maxFrames, ct).ConfigureAwait(false);
        }

        NoteLink(runner);
        return results;
    }

    /// <summary>The configuration the summary's ratios come from: the primary model on the slower edge.</summary>
    private bool IsSummarised(string model, EdgeSpeed speed) => model == _options.Models[0] && speed == Tx2;

    private List<MethodResult> SummaryRows(List<(string Model, EdgeSpeed Speed, List<MethodResult> Results)> table1) =>
        table1.First(r => IsSummarised(r.Model, r.Speed)).Results;

    /// <summary>Frames of one throughput run: about <see cref="RunSeconds"/> at the predicted rate, within [MinFrames, maxFrames].</summary>
    private int ThroughputRunFrames(double predictedFps, int maxFrames) =>
        predictedFps > 0 ? (int)Math.Clamp(predictedFps * RunSeconds, MinFrames, maxFrames) : maxFrames;

    /// <summary>
    /// Runs every method's throughput run <paramref name="repeats"/> − 1 more times, in rounds over the methods so slow drift
    /// of the machine spreads over all of them alike; each result then carries all its throughputs (median reported). The
    /// per-frame CSVs are left from the first runs, which the accuracy figures were read from.
    /// </summary>
    private async Task<List<MethodResult>> RepeatThroughputAsync(ExperimentRunner runner, string model, EdgeSpeed speed, string bandwidth, List<MethodResult> results, int repeats,
        int maxFrames, CancellationToken ct)
    {
        var runs = results.ToDictionary(r => r.Method, r => new List<double> { r.Summary.ThroughputFps });
        for (int round = 2; round <= repeats; round++)
        {
            foreach (var r in results)
            {
                double predictedFps = r.PredictedThroughputFps;
                int runFrames = ThroughputRunFrames(predictedFps, maxFrames);
                string what = $"{Path.GetFileNameWithoutExtension(model)} {speed.Name} {bandwidth}: {r.Method.Title}, throughput run {round} of {repeats}";
                Progress(what);
                var summary = await RunTwiceAsync(what, runFrames / Math.Max(predictedFps, 1),
                    timeout => runner.RunEdgeAsync(r.Method, ct, frames: runFrames, csvName: $"{r.Method.Key}-run{round}", timeout: timeout)).ConfigureAwait(false);
                runs[r.Method].Add(summary.ThroughputFps);
            }
        }

        return [.. results.Select(r => r with { ThroughputRuns = runs[r.Method] })];
    }

    /// <summary>
    /// One edge run, tried twice: a run that fails or hangs — killed after a timeout sized from its expected length — is run
    /// once more and the report says so; a second failure ends the benchmark.
    /// </summary>
    private async Task<EdgeRunSummaryDocument> RunTwiceAsync(string what, double expectedSeconds, Func<TimeSpan, Task<EdgeRunSummaryDocument>> run)
    {
        var timeout = TimeSpan.FromSeconds(Math.Clamp((4 * expectedSeconds) + 60, 90, 300));
        try
        {
            return await run(timeout).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException)
        {
            string reason = e.Message.Split('\n')[0];
            _notes.Add($"{what}: the first attempt failed and was run again ({reason}).");
            Progress($"{what}: failed ({reason}); running it again");
            return await run(timeout).ConfigureAwait(false);
        }
    }

    private async Task<List<(StreamCorrelation Level, MethodResult Online, MethodResult Fixed)>> RunCorrelationAsync(string model, CancellationToken ct)
    {
        await using var runner = Runner(model, Tx2, TableBandwidth, StreamCorrelation.Medium);
        var profile = runner.EnsureProfile();
        await runner.MeasureEdgeOverheadAsync(profile, ct).ConfigureAwait(false);
        runner.EnsurePlan(Methods.Coach, profile);
        await runner.StartCloudAsync(ct).ConfigureAwait(false);
        var predicted = PlanDocument.Load(runner.PlanDirectory(Methods.Coach)).ThroughputFps;
        var rows = new List<(StreamCorrelation, MethodResult, MethodResult)>();
        foreach (var level in new[] { StreamCorrelation.Low, StreamCorrelation.Medium, StreamCorrelation.High })
        {
            var name = level.ToString().ToLowerInvariant();
            Progress($"Table II: {name} correlation, online on");
            var online = await runner.RunEdgeAsync(Methods.Coach, ct, ["--scheduler", "online"], correlation: level, csvName: $"coach-{name}-online").ConfigureAwait(false);
            Progress($"Table II: {name} correlation, online off");
            var off = await runner.RunEdgeAsync(Methods.Coach, ct, ["--scheduler", "fixed"], correlation: level, csvName: $"coach-{name}-fixed").ConfigureAwait(false);
            rows.Add((level, new MethodResult(Methods.Coach, online, predicted), new MethodResult(Methods.Coach, off, predicted)));
        }

        return rows;
    }
}
