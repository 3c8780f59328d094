using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Coach.Engine.Data;
using Coach.Engine.Planning;
using Coach.Transport.Edge;

namespace Coach.Experiments;

/// <summary>What <c>coach bench paper</c> runs.</summary>
public sealed record PaperBenchmarkOptions
{
    public required bool Quick { get; init; }

    public required string OutputDirectory { get; init; }

    public required string WorkDirectory { get; init; }

    public required string BinaryDirectory { get; init; }

    public required IReadOnlyList<string> Models { get; init; }

    public bool KernelTestbed { get; init; } = true;

    public string CommandLine { get; init; } = "coach bench paper";
}

/// <summary>One Fig. 5 run: COACH (one plan variant) while the link follows a schedule; throughput per second and per phase.</summary>
public sealed record DynamicRun(string Schedule, MethodSpec Method, List<(double T, double Fps)> Series, double[] PhaseFps, PlanDocument Plan)
{
    /// <summary>Throughput in the second phase over that in the first (the paper's "kept" figure when the rate halves).</summary>
    public double? KeptSecondOfFirst => PhaseFps is { Length: >= 2 } p && p[0] > 0 ? p[1] / p[0] : null;

    /// <summary>This variant planned the same cut and bits as the first, so the first's run stands for it.</summary>
    public bool SharesFirstRun { get; init; }
}

/// <summary>Two edge speeds standing in for the paper's devices: the edge's CPU quota makes it this many times slower than the cloud.</summary>
public sealed record EdgeSpeed(string Name, double Slowdown);

/// <summary>
/// The paper's experiments (COACH §V) on this machine's testbed, every method through the real processes:
/// Table I (latency per method at two edge speeds), Table II (stream correlation and the online
/// adjustment), Fig. 5 (throughput while the link drops), Fig. 6–7 (latency and throughput against bandwidth).
/// Writes CSV files, gnuplot PNGs and a README with the tables and the command.
/// </summary>
public sealed class PaperBenchmark
{
    public static readonly EdgeSpeed XavierNx = new("xavier-nx", 4);
    public static readonly EdgeSpeed Tx2 = new("tx2", 8);
    private const string TableBandwidth = "10mbit";

    private readonly PaperBenchmarkOptions _options;
    private readonly TextWriter _log;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<string> _notes = [];
    private readonly Dictionary<(string Model, EdgeSpeed Speed), PairedAccuracy> _coachAccuracy = [];

    public PaperBenchmark(PaperBenchmarkOptions options, TextWriter log)
    {
        _options = options;
        _log = log;
    }

    /// <summary>Frames per throughput run; 2,000 in the full run so a 0.5 % accuracy difference is ~2 paired standard errors, not one.</summary>
    private int Frames => _options.Quick ? 300 : 2000;

    /// <summary>
    /// Frames per throughput run behind the summary's ratios: in the quick run more than its other runs, because 300 frames
    /// at 200+ frames/s last 1.5 s, a dozen of the edge's CPU-quota bursts, and measured 0.81–0.88 of the steady rate.
    /// </summary>
    private int SummaryFrames => _options.Quick ? 1000 : 2000;

    /// <summary>Frames per throughput run of the bandwidth sweep (no accuracy figure is drawn from it).</summary>
    private int SweepFrames => _options.Quick ? 300 : 1000;

    /// <summary>The pace of the latency runs: a 30 fps camera, or half the method's throughput when that is lower.</summary>
    private const double CameraFps = 30;

    private int LatencyFrames => _options.Quick ? 90 : 300;

    /// <summary>Longest a throughput run should take at the method's predicted throughput (fewer frames for slow methods).</summary>
    private double RunSeconds => _options.Quick ? 10 : 30;

    private const int MinFrames = 60;

    /// <summary>
    /// Throughput runs per method behind the summary's ratios (full run): identical plans measured ±12 % apart from one run
    /// to the next on this testbed, so each method runs this many times, in rounds over all methods, and the median counts.
    /// </summary>
    private int SummaryRepeats => _options.Quick ? 1 : 3;

    private double LatencyRunSeconds => _options.Quick ? 4 : 10;

    public async Task<string> RunAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(_options.OutputDirectory);
        var table1 = new List<(string Model, EdgeSpeed Speed, List<MethodResult> Results)>();
        foreach (var model in _options.Models)
        {
            foreach (var speed in new[] { XavierNx, Tx2 })
            {
                // The summary's ratios come from the primary model on the slower edge: its throughput runs are repeated.
                bool summarised = IsSummarised(model, speed);
                table1.Add((model, speed, await RunMethodsAsync(model, speed, TableBandwidth, Methods.All, StreamCorrelation.Medium, cancellationToken,
                    summarised ? SummaryFrames : null, summarised ? SummaryRepeats : 1).ConfigureAwait(false)));
            }
        }

        var primary = _options.Models[0];
        var table2 = await RunCorrelationAsync(primary, cancellationToken).ConfigureAwait(false);
        var fig5 = new List<DynamicRun>();
        string[][] schedules = _options.Quick ? [["20mbit", "10mbit", "5mbit"]] : [["20mbit", "10mbit", "5mbit"], ["100mbit", "50mbit", "20mbit"]];
        foreach (var schedule in schedules)
        {
            fig5.AddRange(await RunDynamicAsync(primary, schedule, cancellationToken).ConfigureAwait(false));
        }

        var bandwidths = _options.Quick ? new[] { "2mbit", "10mbit", "50mbit" } : ["1mbit", "2mbit", "5mbit", "10mbit", "20mbit", "50mbit", "100mbit"];
        var sweepMethods = _options.Quick ? new[] { Methods.Coach, Methods.Neurosurgeon, Methods.Jps, Methods.CloudOnly } : Methods.All.ToArray();
        var sweep = new List<(string Bandwidth, List<MethodResult> Results)>();
        foreach (var bw in bandwidths)
        {
            // Table I already ran every method at its rate on the slower edge: the same runs stand in the sweep.
            var measured = bw == TableBandwidth ? table1.FirstOrDefault(r => r.Model == primary && r.Speed == Tx2).Results : null;
            sweep.Add((bw, measured is not null
                ? [.. sweepMethods.Select(m => measured.First(r => r.Method == m))]
                : await RunMethodsAsync(primary, Tx2, bw, sweepMethods, StreamCorrelation.Medium, cancellationToken, SweepFrames).ConfigureAwait(false)));
        }

        WriteCsvs(table1, table2, fig5, sweep);
        Plot(fig5, sweepMethods);
        var summary = Summary(table1, table2, fig5, primary);
        File.WriteAllText(Path.Combine(_options.OutputDirectory, "README.md"), Readme(table1, table2, fig5, sweep, sweepMethods, summary));
        return Json(table1, summary);
    }

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
            double measured = summary.TryGetProperty("throughput_fps", out var t) && t.ValueKind == JsonValueKind.Number ? t.GetDouble() : 0;
            double fps = Math.Min(CameraFps, 0.5 * measured);
            JsonElement? latency = null;
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
        var runs = results.ToDictionary(r => r.Method, r => new List<double> { r.Number("throughput_fps") });
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
                runs[r.Method].Add(MethodResult.Read(summary, "throughput_fps"));
            }
        }

        return [.. results.Select(r => r with { ThroughputRuns = runs[r.Method] })];
    }

    /// <summary>
    /// One edge run, tried twice: a run that fails or hangs — killed after a timeout sized from its expected length — is run
    /// once more and the report says so; a second failure ends the benchmark.
    /// </summary>
    private async Task<JsonElement> RunTwiceAsync(string what, double expectedSeconds, Func<TimeSpan, Task<JsonElement>> run)
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

    /// <summary>
    /// Fig. 5: COACH while the link follows <paramref name="schedule"/>, twice — planned for the schedule's first rate (as the
    /// paper's offline component plans for the rate it is given) and planned for the schedule's rates
    /// (<c>coach plan --bandwidth-range</c>) — with the online component adapting the bits to the live bandwidth in both.
    /// </summary>
    private async Task<List<DynamicRun>> RunDynamicAsync(string model, string[] schedule, CancellationToken ct)
    {
        var label = string.Join("→", schedule);
        var step = TimeSpan.FromSeconds(_options.Quick ? 8 : 20);
        await using var runner = Runner(model, Tx2, schedule[0], StreamCorrelation.Medium);
        if (!runner.CanChangeRateLive)
        {
            _notes.Add($"Fig. 5 ({label}) skipped: a live rate change needs the kernel testbed ({runner.TestbedNote ?? "not requested"}).");
            return [];
        }

        var profile = runner.EnsureProfile();
        await runner.MeasureEdgeOverheadAsync(profile, ct).ConfigureAwait(false);
        MethodSpec[] methods = [Methods.Coach, Methods.CoachForRange(schedule)];
        foreach (var method in methods)
        {
            runner.EnsurePlan(method, profile);
        }

        await runner.StartCloudAsync(ct).ConfigureAwait(false);
        var runs = new List<DynamicRun>();
        foreach (var method in methods)
        {
            var plan = PlanDocument.Load(runner.PlanDirectory(method));
            if (runs.Count > 0 && SameCut(runs[0].Plan, plan))
            {
                // The schedule's rates do not change COACH's choice: one run stands for both.
                runs.Add(runs[0] with { Method = method, SharesFirstRun = true });
                continue;
            }

            runner.SetRate(schedule[0]);
            // The edge takes frames for as long as the schedule lasts (--duration-s), as many as the pipeline accepts.
            // --frames only bounds the source, but the source renders its frames before the clock starts only while they fit
            // its capture buffer; beyond that it renders each frame on the edge's critical path, which a slowed edge cannot
            // afford (a 60,000-frame source held COACH at 133 frames/s). Twice the plan's throughput, within the buffer.
            var duration = step.TotalSeconds * schedule.Length;
            int captured = (int)(TaskStreamSource.MaxCapturedBytes / FrameRenderer.PixelCount);
            int frames = (int)Math.Clamp(duration * ((2 * plan.ThroughputFps) + 100), 300, captured);
            var csvName = $"dynamic-{method.Key}-" + string.Join("-", schedule);
            Progress($"Fig. 5: {label}, {method.Title}, {step.TotalSeconds:0} s per step");
            // Rate changes are stamped on the monotonic clock the edge also writes into its CSV (end_monotonic_us), so
            // phases are cut at the moments the link really changed, whatever the edge's start-up took.
            var changes = new List<long>();
            await runner.RunEdgeAsync(method, ct, ["--duration-s", duration.ToString(CultureInfo.InvariantCulture)], frames: frames, csvName: csvName, timeout: TimeSpan.FromMinutes(10), whileRunning: async edge =>
            {
                while (!edge.HasExited && !edge.Stderr.Contains("coach-edge: ", StringComparison.Ordinal))
                {
                    await Task.Delay(20, ct).ConfigureAwait(false);
                }

                changes.Add(NowMicros());
                for (int i = 1; i < schedule.Length; i++)
                {
                    await Task.Delay(step, ct).ConfigureAwait(false);
                    runner.SetRate(schedule[i]);
                    changes.Add(NowMicros());
                }
            }).ConfigureAwait(false);
            var ends = ReadColumn(runner.CsvPath(csvName), "end_monotonic_us").Where(e => e > 0).Select(e => (e - changes[0]) / 1e6).ToList();
            var series = new List<(double, double)>();
            for (double t = 0; t < step.TotalSeconds * schedule.Length; t += 1)
            {
                series.Add((t, ends.Count(e => e >= t && e < t + 1)));
            }

            // Mean throughput of each phase, leaving out its first second (the queue drains to the new rate).
            var phases = new double[schedule.Length];
            for (int i = 0; i < schedule.Length; i++)
            {
                double from = (changes[i] - changes[0]) / 1e6 + 1;
                double to = i + 1 < changes.Count ? (changes[i + 1] - changes[0]) / 1e6 : from - 1 + step.TotalSeconds;
                phases[i] = ends.Count(e => e >= from && e < to) / (to - from);
            }

            runs.Add(new DynamicRun(label, method, series, phases, plan));
        }

        return runs;
    }

    private static bool SameCut(PlanDocument a, PlanDocument b) =>
        a.CutTensors.Select(t => (t.Name, t.Bits)).SequenceEqual(b.CutTensors.Select(t => (t.Name, t.Bits)));

    private ExperimentRunner Runner(string model, EdgeSpeed speed, string bandwidth, StreamCorrelation correlation) => new(new ExperimentSettings
    {
        Model = model,
        Bandwidth = bandwidth,
        EdgeSlowdown = speed.Slowdown,
        Frames = Frames,
        Correlation = correlation,
        WorkDirectory = _options.WorkDirectory,
        BinaryDirectory = _options.BinaryDirectory,
        KernelTestbed = _options.KernelTestbed,
    }, TextWriter.Null);

    private void NoteLink(ExperimentRunner runner)
    {
        var note = "Link: " + runner.LinkDescription.Replace(runner.Settings.Bandwidth, "the stated rate", StringComparison.Ordinal)
            + (runner.EdgeSlowdownNote is null ? $"; edge in a CPU cgroup quota ({runner.EdgeSlowdownMechanism})" : $"; edge NOT slowed ({runner.EdgeSlowdownNote})");
        if (!_notes.Contains(note))
        {
            _notes.Add(note);
        }
    }

    private void Progress(string what) => _log.WriteLine($"[{_clock.Elapsed:mm\\:ss}] {what}");

    private static long NowMicros() => (long)(Stopwatch.GetTimestamp() * (1_000_000.0 / Stopwatch.Frequency));

    private static List<double> ReadColumn(string csv, string column)
    {
        var lines = File.ReadAllLines(csv);
        int index = Array.IndexOf(lines[0].Split(','), column);
        if (index < 0)
        {
            throw new InvalidDataException($"{csv} has no {column} column");
        }

        var values = new List<double>(lines.Length);
        foreach (var line in lines.Skip(1))
        {
            if (double.TryParse(line.Split(',')[index], NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && double.IsFinite(x))
            {
                values.Add(x);
            }
        }

        return values;
    }

    private sealed record PaperSummary(
        string Model, double CoachVsJps, double CoachVsNs, double MeasuredVsPredicted, bool LatencyLowest,
        PairedAccuracy? Accuracy, double HighCorrelationExitRatio, double? ThroughputKeptAt10Of20, double? SingleRatePlanKeptAt10Of20);

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
            baselines.All(b => coach.LatencyNumber("latency_mean_ms") < b.LatencyNumber("latency_mean_ms")),
            _coachAccuracy.GetValueOrDefault((primary, Tx2)),
            high.Online?.Number("early_exit_ratio") ?? double.NaN,
            drops.FirstOrDefault(f => f.Method.BandwidthRange is not null)?.KeptSecondOfFirst,
            drops.FirstOrDefault(f => f.Method.BandwidthRange is null)?.KeptSecondOfFirst);
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
                t1.AppendLine(c, $"{Path.GetFileNameWithoutExtension(model)},{speed.Name},{speed.Slowdown},{r.Method.Key},{r.Number("frames_sent")},{r.Number("frames_answered")},{r.ThroughputFps:0.###},{r.PredictedThroughputFps:0.###},{r.LatencyNumber("latency_mean_ms"):0.###},{r.LatencyNumber("latency_p50_ms"):0.###},{r.LatencyNumber("latency_p95_ms"):0.###},{r.LatencyFps:0.##},{r.Number("latency_mean_ms"):0.###},{r.Accuracy:0.####},{r.Number("bytes_per_frame"):0.#},{r.Number("bubble_ratio"):0.####},{r.Number("early_exit_ratio"):0.####}");
            }
        }

        File.WriteAllText(Path.Combine(_options.OutputDirectory, "table1.csv"), t1.ToString());
        var t2 = new StringBuilder("correlation,online,early_exit_ratio,latency_mean_ms,throughput_fps,accuracy,bytes_per_frame\n");
        foreach (var (level, online, off) in table2)
        {
            foreach (var (flag, r) in new[] { ("on", online), ("off", off) })
            {
                t2.AppendLine(c, $"{level.ToString().ToLowerInvariant()},{flag},{r.Number("early_exit_ratio"):0.####},{r.Number("latency_mean_ms"):0.###},{r.ThroughputFps:0.###},{r.Accuracy:0.####},{r.Number("bytes_per_frame"):0.#}");
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
                s.AppendLine(c, $"{Mbit(bw)},{r.Method.Key},{r.ThroughputFps:0.###},{r.LatencyNumber("latency_mean_ms"):0.###},{r.LatencyNumber("latency_p95_ms"):0.###},{r.Accuracy:0.####},{r.Number("bytes_per_frame"):0.#}");
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

    private string Readme(
        List<(string Model, EdgeSpeed Speed, List<MethodResult> Results)> table1,
        List<(StreamCorrelation Level, MethodResult Online, MethodResult Fixed)> table2,
        List<DynamicRun> fig5,
        List<(string Bandwidth, List<MethodResult> Results)> sweep,
        MethodSpec[] sweepMethods,
        PaperSummary summary)
    {
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
                b.AppendLine(c, $"| {r.Method.Title} | {r.Number("frames_answered")}/{r.Number("frames_sent")} | {r.ThroughputFps:0.0} ({r.PredictedThroughputFps:0.0}) | {r.LatencyNumber("latency_mean_ms"):0.0} | {r.LatencyNumber("latency_p95_ms"):0.0} | {r.Number("latency_mean_ms"):0.0} | {r.Accuracy:0.0000} | {r.Number("bytes_per_frame"):0} | {r.Number("bubble_ratio"):0.00} | {r.Number("early_exit_ratio"):0.00} |");
            }

            b.AppendLine();
        }

        b.AppendLine(c, $"## Table II: stream correlation, COACH on {Path.GetFileNameWithoutExtension(_options.Models[0])}, edge {Tx2.Name}, {TableBandwidth}").AppendLine();
        b.AppendLine("| correlation | online adjustment | early-exit ratio | mean latency under full load ms | throughput fps | accuracy | bytes/frame |").AppendLine("| --- | --- | --- | --- | --- | --- | --- |");
        foreach (var (level, online, off) in table2)
        {
            foreach (var (flag, r) in new[] { ("on", online), ("off", off) })
            {
                b.AppendLine(c, $"| {level.ToString().ToLowerInvariant()} | {flag} | {r.Number("early_exit_ratio"):0.00} | {r.Number("latency_mean_ms"):0.0} | {r.ThroughputFps:0.0} | {r.Accuracy:0.0000} | {r.Number("bytes_per_frame"):0} |");
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
            var cells = string.Join(" | ", results.Select(r => string.Create(c, $"{r.ThroughputFps:0.0} / {r.LatencyNumber("latency_mean_ms"):0.0}")));
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

    private static string FileName(string schedule) => schedule.Replace("→", "-", StringComparison.Ordinal);

    private static double Mbit(string rate) => Coach.Engine.Planning.Bandwidth.ParseBitsPerSecond(rate) / 1e6;
}
