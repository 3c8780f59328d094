using System.Globalization;
using System.Text;
using Coach.Engine.Data;
using Coach.Engine.Planning;

namespace Coach.Experiments;

// README.md of the output folder: the tables in Markdown with the command that made them.
public sealed partial class PaperBenchmark
{
    private string Readme(PaperRuns runs, MethodSpec[] sweepMethods, PaperSummary summary)
    {
        var (table1, table2, fig5, sweep) = runs;
        var c = CultureInfo.InvariantCulture;
        var b = new StringBuilder();
        b.AppendLine("# Coach against the baselines: the paper's experiments on this machine").AppendLine();
        b.AppendLine(c, $"Made by `{_options.CommandLine}` ({(_options.Quick ? "quick" : "full")} run, {Frames} frames per throughput run{(SummaryFrames != Frames ? $" ({SummaryFrames} behind the summary)" : string.Empty)}, {SweepFrames} in the bandwidth sweep, {_clock.Elapsed.TotalMinutes:0.0} min, {DateTime.UtcNow:yyyy-MM-dd}).");
        b.AppendLine("Every figure is measured end to end: the published `coach-cloud` and NativeAOT `coach-edge` as separate processes, the edge slowed by a CPU cgroup quota "
            + $"({XavierNx.Slowdown}x slower than the cloud standing in for a Jetson Xavier NX, {Tx2.Slowdown}x for a TX2; the quota is 1 ms of CPU per factor-ms period), each method planned by `coach plan` on layer profiles measured here.").AppendLine();
        b.AppendLine("Throughput is measured with frames offered as fast as each pipeline takes them. Latency is measured in a second run per method "
            + $"with frames arriving like a camera's, at {CameraFps:0} fps or half the method's measured throughput when that is lower, and counts from a frame's arrival to its answer; "
            + "in latency runs the edge is slowed by stretching each of its compute steps to the factor (`coach-edge run --emulate-slowdown`), not by the quota, which cannot slow a lone frame (CFS quotas are ≥ 1 ms, more than a frame's CPU); "
            + "the latency of the saturated throughput run (frames queueing behind the slowest stage) is listed beside it as latency under full load.").AppendLine();
        foreach (var n in _notes)
        {
            b.AppendLine(c, $"- {n}");
        }

        b.AppendLine().AppendLine("## Summary (ResNet-style model, slower edge, 10 Mbit/s)").AppendLine();
        b.AppendLine("| figure | value |").AppendLine("| --- | --- |");
        var summaryRows = SummaryRows(table1);
        string Runs(MethodSpec m)
        {
            var r = summaryRows.First(x => x.Method == m);
            return r.ThroughputRuns.Count > 1
                ? string.Create(c, $"{r.Method.Title} {r.ThroughputFps:0.0} frames/s, median of {string.Join(" / ", r.ThroughputRuns.Select(v => v.ToString("0.0", c)))}")
                : string.Create(c, $"{r.Method.Title} {r.ThroughputFps:0.0} frames/s");
        }

        b.AppendLine(c, $"| COACH throughput / JPS | {summary.CoachVsJps:0.00}x ({Runs(Methods.Coach)}; {Runs(Methods.Jps)}) |");
        b.AppendLine(c, $"| COACH throughput / Neurosurgeon | {summary.CoachVsNs:0.00}x ({Runs(Methods.Neurosurgeon)}) |");
        b.AppendLine(c, $"| COACH throughput / cloud-jpeg (frames as JPEG quality {summary.CloudJpegQuality}, {summary.CloudJpegBytesPerFrame:0} B a frame, accuracy {summary.CloudJpegAccuracy:0.0000}) | {summary.CoachVsCloudJpeg:0.00}x ({Runs(Methods.CloudJpeg)}) |");
        b.AppendLine(c, $"| COACH throughput / cloud-h264 (frames as one H.264 stream, x264 crf {summary.CloudH264RateFactor}, {summary.CloudH264BytesPerFrame:0} B a frame, accuracy {summary.CloudH264Accuracy:0.0000} against the full model's {summary.FullModelAccuracy:0.0000}) | {summary.CoachVsCloudH264:0.00}x ({Runs(Methods.CloudH264)}) |");
        b.AppendLine(c, $"| COACH measured / predicted throughput | {summary.MeasuredVsPredicted:0.00} |");
        b.AppendLine(c, $"| COACH mean latency lowest of all methods | {(summary.LatencyLowest ? "yes" : "no")} |");
        b.AppendLine(c, $"| COACH accuracy loss against the full model (edge-only), same frames | {(summary.Accuracy is { } a ? string.Create(c, $"{a.Loss * 100:0.00} % ± {a.StandardError * 100:0.00} (paired s.e.; {a.Lost} frames lost, {a.Gained} gained of {a.Frames})") : "not run")} |");
        b.AppendLine(c, $"| early-exit ratio at high correlation | {summary.HighCorrelationExitRatio:0.00} |");
        b.AppendLine(c, $"| throughput kept at 10 Mbit/s of that at 20 Mbit/s (Fig. 5, COACH planned for 20–5 Mbit/s) | {(summary.ThroughputKeptAt10Of20 is { } k ? k.ToString("0.00", c) : "not run")} |");
        b.AppendLine(c, $"| the same, COACH planned for 20 Mbit/s only | {(summary.SingleRatePlanKeptAt10Of20 is { } k1 ? k1.ToString("0.00", c) : "not run")} |");
        b.AppendLine().AppendLine(c, $"## Table I: methods at {TableBandwidth}, medium-correlation stream").AppendLine();
        foreach (var (model, speed, results) in table1)
        {
            b.AppendLine(c, $"### {Path.GetFileNameWithoutExtension(model)}, edge {speed.Name} ({speed.Slowdown}x slower)").AppendLine();
            if (results.Any(r => r.ThroughputRuns.Count > 1))
            {
                b.AppendLine(c, $"Throughput: the median of {results.Max(r => r.ThroughputRuns.Count)} throughput runs per method, in rounds over the methods (the summary's ratios come from these); the other columns are the first run's.").AppendLine();
            }

            b.AppendLine("| method | answered | throughput fps (predicted) | mean latency ms | p95 ms | latency under full load ms | accuracy | bytes/frame | bubble ratio | early exit |");
            b.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
            foreach (var r in results)
            {
                b.AppendLine(c, $"| {r.Method.Title} | {r.Summary.FramesAnswered}/{r.Summary.FramesSent} | {r.ThroughputFps:0.0} ({r.PredictedThroughputFps:0.0}) | {r.LatencyRun.LatencyMeanMs:0.0} | {r.LatencyRun.LatencyP95Ms:0.0} | {r.Summary.LatencyMeanMs:0.0} | {r.Accuracy:0.0000} | {r.Summary.BytesPerFrame:0} | {r.Summary.BubbleRatio:0.00} | {r.Summary.EarlyExitRatio:0.00} |");
            }

            b.AppendLine();
        }

        b.AppendLine(c, $"## Table II: stream correlation, COACH on {Path.GetFileNameWithoutExtension(_options.Models[0])}, edge {Tx2.Name}, {TableBandwidth}").AppendLine();
        b.AppendLine("| correlation | online adjustment | early-exit ratio | mean latency under full load ms | throughput fps | accuracy | bytes/frame |").AppendLine("| --- | --- | --- | --- | --- | --- | --- |");
        foreach (var (level, online, off) in table2)
        {
            foreach (var (flag, r) in new[] { ("on", online), ("off", off) })
            {
                b.AppendLine(c, $"| {level.ToString().ToLowerInvariant()} | {flag} | {r.Summary.EarlyExitRatio:0.00} | {r.Summary.LatencyMeanMs:0.0} | {r.ThroughputFps:0.0} | {r.Accuracy:0.0000} | {r.Summary.BytesPerFrame:0} |");
            }
        }

        b.AppendLine().AppendLine("## Fig. 5: throughput while the link drops").AppendLine();
        b.AppendLine("COACH planned for the schedule's first rate (as the paper's offline component plans for the rate it is given) and planned for all of the schedule's rates "
            + "(`coach plan --bandwidth-range`: of the single-rate optima, the partition with the highest mean predicted throughput over the rates); the online component adapts the bits to the live bandwidth in both. "
            + "Each phase's mean leaves out its first second.").AppendLine();
        b.AppendLine("| schedule | plan | cut @ bits (planned) | throughput per phase, frames/s | kept in phase 2 of phase 1 |").AppendLine("| --- | --- | --- | --- | --- |");
        foreach (var r in fig5)
        {
            var cut = string.Join(", ", r.Plan.CutTensors.Select(t => $"{t.Name}@{t.Bits}b"));
            b.AppendLine(c, $"| {r.Schedule} | {r.Method.Title}{(r.SharesFirstRun ? " (same plan as above: one run)" : string.Empty)} | {cut} | {string.Join(" / ", r.PhaseFps.Select(p => p.ToString("0.0", c)))} | {(r.KeptSecondOfFirst is { } k2 ? k2.ToString("0.00", c) : "-")} |");
        }

        b.AppendLine();
        foreach (var schedule in fig5.Select(r => r.Schedule).Distinct())
        {
            b.AppendLine(c, $"![Fig. 5 {schedule}](fig5-{FileName(schedule)}.png)").AppendLine();
        }

        b.AppendLine("## Fig. 6–7: latency and throughput against bandwidth (edge tx2)").AppendLine();
        b.AppendLine("| bandwidth | " + string.Join(" | ", sweepMethods.Select(m => m.Title + " fps / ms")) + " |");
        b.AppendLine("| --- | " + string.Join(" | ", sweepMethods.Select(_ => "---")) + " |");
        foreach (var (bw, results) in sweep)
        {
            var cells = string.Join(" | ", results.Select(r => string.Create(c, $"{r.ThroughputFps:0.0} / {r.LatencyRun.LatencyMeanMs:0.0}")));
            b.AppendLine(c, $"| {bw} | {cells} |");
        }

        b.AppendLine().AppendLine("![Fig. 6](fig6-latency.png)").AppendLine().AppendLine("![Fig. 7](fig7-throughput.png)").AppendLine();
        b.AppendLine("Data: `table1.csv`, `table2.csv`, `fig5-*.csv`, `bandwidth-sweep.csv`; per-frame CSVs of every run are under the work folder (`.cache/bench/runs`).");
        foreach (var (file, what) in new[] { ("soak.md", "the 10-minute fault soak (`coach bench chaos --duration-s 600`): frames, fuzzing and the edge's and cloud's memory"), ("online.md", "the online scheduler on its own (`coach bench online`)") })
        {
            if (File.Exists(Path.Combine(_options.OutputDirectory, file)))
            {
                b.AppendLine().AppendLine(c, $"See also [{file}]({file}): {what}.");
            }
        }

        return b.ToString();
    }
}
