using System.Diagnostics;
using System.Globalization;
using System.Text;
using Coach.Engine.Data;
using Coach.Engine.Planning;

namespace Coach.Experiments;

// CSV files of every table and figure, and the gnuplot plots.
public sealed partial class PaperBenchmark
{
    private void WriteCsvs(
        List<(string Model, EdgeSpeed Speed, List<MethodResult> Results)> table1,
        List<(StreamCorrelation Level, MethodResult Online, MethodResult Fixed)> table2,
        List<DynamicRun> fig5,
        List<(string Bandwidth, List<MethodResult> Results)> sweep)
    {
        var c = CultureInfo.InvariantCulture;
        var t1 = new StringBuilder("model,edge,slowdown,method,frames_sent,frames_answered,throughput_fps,predicted_fps,latency_mean_ms,latency_p50_ms,latency_p95_ms,latency_run_fps,loaded_latency_mean_ms,accuracy,bytes_per_frame,bubble_ratio,early_exit_ratio\n");
        foreach (var (model, speed, results) in table1)
        {
            foreach (var r in results)
            {
                t1.AppendLine(c, $"{Path.GetFileNameWithoutExtension(model)},{speed.Name},{speed.Slowdown},{r.Method.Key},{r.Summary.FramesSent},{r.Summary.FramesAnswered},{r.ThroughputFps:0.###},{r.PredictedThroughputFps:0.###},{r.LatencyRun.LatencyMeanMs:0.###},{r.LatencyRun.LatencyP50Ms:0.###},{r.LatencyRun.LatencyP95Ms:0.###},{r.LatencyFps:0.##},{r.Summary.LatencyMeanMs:0.###},{r.Accuracy:0.####},{r.Summary.BytesPerFrame:0.#},{r.Summary.BubbleRatio:0.####},{r.Summary.EarlyExitRatio:0.####}");
            }
        }

        File.WriteAllText(Path.Combine(_options.OutputDirectory, "table1.csv"), t1.ToString());
        var t2 = new StringBuilder("correlation,online,early_exit_ratio,latency_mean_ms,throughput_fps,accuracy,bytes_per_frame\n");
        foreach (var (level, online, off) in table2)
        {
            foreach (var (flag, r) in new[] { ("on", online), ("off", off) })
            {
                t2.AppendLine(c, $"{level.ToString().ToLowerInvariant()},{flag},{r.Summary.EarlyExitRatio:0.####},{r.Summary.LatencyMeanMs:0.###},{r.ThroughputFps:0.###},{r.Accuracy:0.####},{r.Summary.BytesPerFrame:0.#}");
            }
        }

        File.WriteAllText(Path.Combine(_options.OutputDirectory, "table2.csv"), t2.ToString());
        foreach (var runs in fig5.GroupBy(r => r.Schedule))
        {
            // One column per plan variant, one row per second.
            var f = new StringBuilder("t_s," + string.Join(',', runs.Select(r => r.Method.Key + "_fps")) + "\n");
            var seconds = runs.First().Series.Select(p => p.T).ToList();
            for (int i = 0; i < seconds.Count; i++)
            {
                f.Append(c, $"{seconds[i]}").AppendJoin("", runs.Select(r => string.Create(c, $",{(i < r.Series.Count ? r.Series[i].Fps : double.NaN)}"))).AppendLine();
            }

            File.WriteAllText(Path.Combine(_options.OutputDirectory, $"fig5-{FileName(runs.Key)}.csv"), f.ToString());
        }

        var s = new StringBuilder("bandwidth_mbit,method,throughput_fps,latency_mean_ms,latency_p95_ms,accuracy,bytes_per_frame\n");
        foreach (var (bw, results) in sweep)
        {
            foreach (var r in results)
            {
                s.AppendLine(c, $"{Mbit(bw)},{r.Method.Key},{r.ThroughputFps:0.###},{r.LatencyRun.LatencyMeanMs:0.###},{r.LatencyRun.LatencyP95Ms:0.###},{r.Accuracy:0.####},{r.Summary.BytesPerFrame:0.#}");
            }
        }

        File.WriteAllText(Path.Combine(_options.OutputDirectory, "bandwidth-sweep.csv"), s.ToString());
    }

    private void Plot(List<DynamicRun> fig5, MethodSpec[] methods)
    {
        var gnuplot = new[] { "/usr/bin/gnuplot", "/usr/local/bin/gnuplot" }.FirstOrDefault(File.Exists);
        if (gnuplot is null)
        {
            _notes.Add("No plots: gnuplot is not installed (apt-get install -y gnuplot); the CSV files hold the data.");
            return;
        }

        var dir = _options.OutputDirectory;
        var script = new StringBuilder("set terminal pngcairo size 900,540\nset datafile separator ','\nset key outside right\nset grid\n");
        foreach (var runs in fig5.GroupBy(r => r.Schedule))
        {
            var name = FileName(runs.Key);
            script.Append(CultureInfo.InvariantCulture, $"set output '{dir}/fig5-{name}.png'\nset title 'COACH throughput while the link drops {runs.Key.Replace("→", " -> ", StringComparison.Ordinal)}'\nset xlabel 'time (s)'\nset ylabel 'frames/s'\nplot ");
            script.AppendJoin(", ", runs.Select((r, k) => $"'{dir}/fig5-{name}.csv' every ::1 using 1:{k + 2} with linespoints title '{r.Method.Title}'")).Append('\n');
        }

        foreach (var (fig, column, ylabel) in new[] { ("fig6-latency", 4, "mean latency (ms)"), ("fig7-throughput", 3, "throughput (frames/s)") })
        {
            script.Append(CultureInfo.InvariantCulture, $"set output '{dir}/{fig}.png'\nset title '{ylabel} against bandwidth'\nset xlabel 'bandwidth (Mbit/s)'\nset ylabel '{ylabel}'\nset logscale x\n");
            script.Append("plot ");
            script.AppendJoin(", ", methods.Select(m => $"'{dir}/bandwidth-sweep.csv' using 1:(strcol(2) eq '{m.Key}' ? ${column} : 1/0) with linespoints title '{m.Title}'"));
            script.Append("\nunset logscale x\n");
        }

        var path = Path.Combine(dir, "plots.gp");
        File.WriteAllText(path, script.ToString());
        using var p = Process.Start(new ProcessStartInfo(gnuplot, [path]) { RedirectStandardError = true, UseShellExecute = false })!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            _notes.Add($"gnuplot failed: {err.Trim()}");
        }
    }
}
