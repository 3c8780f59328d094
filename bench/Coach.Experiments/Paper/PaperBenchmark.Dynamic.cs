using System.Diagnostics;
using System.Globalization;
using Coach.Engine.Data;
using Coach.Engine.Planning;
using Coach.Transport.Edge;

namespace Coach.Experiments;

// Fig. 5: throughput while the link rate changes under a running COACH edge.
public sealed partial class PaperBenchmark
{
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
}
