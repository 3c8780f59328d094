using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Coach.Engine.Coded;
using Coach.Engine.Data;
using Coach.Engine.Graph;
using Coach.Native.OnnxRuntime;
using Coach.Transport;
using Coach.Transport.Coded;
using Google.Protobuf;

namespace Coach.Experiments.Coded;

/// <summary>Settings of <see cref="CodedBenchmark"/>.</summary>
public sealed record CodedBenchSettings
{
    public string Model { get; init; } = "vgg-fm112";

    /// <summary>Worker processes, n (4–6 in the issue's setting).</summary>
    public int Workers { get; init; } = 5;

    public int Frames { get; init; } = 40;

    /// <summary>The straggler: each frame one worker, drawn at random, computes this many times slower.</summary>
    public double Slowdown { get; init; } = 5;

    /// <summary>Kill one worker (drawn at random) half-way through the run.</summary>
    public bool KillOne { get; init; } = true;

    public int Seed { get; init; } = 1;

    /// <summary>
    /// Every worker emulates a device this many times slower than this machine (its compute stretched by waiting, as
    /// <c>coach-edge --emulate-slowdown</c> does), so that n workers on a 2-core machine compute side by side as n devices would.
    /// </summary>
    public double DeviceSlowdown { get; init; } = 10;

    /// <summary>A worker that has not answered by then is passed over (the master computes its slices).</summary>
    public TimeSpan Deadline { get; init; } = TimeSpan.FromSeconds(2);
}

/// <summary>
/// <c>coach bench coded</c> (docs/coded.md §5): the model's convolutions run on n worker processes — coded (the
/// planner's k of n), uncoded (n slices, all needed) and replicated (⌈n/2⌉ slices, each on two workers) — for the same
/// bundled test frames, with one worker slowed at random each frame and one killed half-way. Every frame runs through
/// the three schemes back to back (in rotating order) under the same straggler, so their latencies are comparable.
/// </summary>
public static class CodedBenchmark
{
    private static readonly string[] SchemeNames = ["coded", "uncoded", "replication"];

    public static async Task<int> RunAsync(CodedBenchSettings settings, TextWriter log, TextWriter json, bool writeJson, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(json);
        if (settings.Workers is < 2 or > 16)
        {
            throw new ArgumentOutOfRangeException(nameof(settings), settings.Workers, "--workers must be 2 … 16");
        }

        int n = settings.Workers;
        var entry = ModelCatalog.Get(settings.Model);
        var graph = LayerGraph.Load(entry.Path);
        ShapeDiscovery.Complete(graph);
        var convolutions = graph.Nodes.Where(x => x.OpType == "Conv").Select(x => x.Name).ToList();
        var segments = CodedModelSegments.Cut(graph, convolutions);
        var cpu = SplitRunExecutor.CpuSettings;
        var segmentSessions = segments.Segments.Select(s => s is null ? null : InferenceSession.Open(s.ToByteArray(), cpu, "segment")).ToArray();
        using var full = InferenceSession.Open(entry.Path, cpu);
        var wholeLayers = segments.Layers.Select(l => InferenceSession.Open(l.WholeModel().ToByteArray(), cpu, l.OutputName)).ToArray();

        // The planner's k per layer from this machine's measured layer times, with the injected straggler and failure.
        var choices = new List<CodedLayerChoice>();
        var random = new Random(settings.Seed);
        foreach (var (layer, session) in segments.Layers.Zip(wholeLayers))
        {
            var shape = CodedLayerShape.Of(layer);
            var x = DenseTensor.Create(TensorElementType.Float, layer.InputShape);
            var perMac = new List<double>();
            for (int i = 0; i < 30; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                session.Run([new NamedTensor(layer.InputName, x)]);
                double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                if (i >= 5)
                {
                    perMac.Add(seconds / shape.LayerMacs);
                }
            }

            // One worker in n is the straggler: the empirical mixture of the measured times and the slowed ones.
            var mixture = new List<double>();
            for (int copy = 0; copy < n; copy++)
            {
                mixture.AddRange(perMac.Select(v => v * settings.DeviceSlowdown * (copy == 0 ? settings.Slowdown : 1)));
            }

            var planning = new CodedSplitSettings(n, new EmpiricalLatency(mixture), settings.KillOne ? 0.5 / n : 0, 1e9, 150e-6, 1e-9, perMac.Average());
            var choice = CodedSplitPlanner.Choose(shape, planning);
            // A worker answers its whole slice as one Result (≤ 65,536 values): at least 2 slices for the first layers.
            int k = Math.Clamp(choice.K, MinimumSlices(layer), Math.Min(n - 1, (int)layer.OutputShape[2]));
            choices.Add(choice with { K = k });
        }

        string root = Path.Combine(Path.GetTempPath(), $"coach-coded-{Environment.ProcessId}");
        Directory.CreateDirectory(root);
        var processes = new List<Process>();
        try
        {
            // Per layer, three plans: the slice models of the coded, uncoded and replicated splits.
            var schemes = new CodedConvolution[3][];
            var plans = new List<WorkerPlan>();
            for (int s = 0; s < 3; s++)
            {
                schemes[s] = new CodedConvolution[segments.Layers.Count];
            }

            for (int l = 0; l < segments.Layers.Count; l++)
            {
                var layer = segments.Layers[l];
                var codes = new[] { LinearCode.SystematicVandermonde(n, choices[l].K), LinearCode.Uncoded(Math.Min(n, (int)layer.OutputShape[2])), LinearCode.Replication(n, Math.Max(MinimumSlices(layer), (n + 1) / 2)) };
                for (int s = 0; s < 3; s++)
                {
                    var coded = new CodedConvolution(layer, codes[s]);
                    schemes[s][l] = coded;
                    string id = $"L{l}-{SchemeNames[s]}";
                    string dir = Path.Combine(root, "plans", id);
                    Directory.CreateDirectory(dir);
                    File.WriteAllBytes(Path.Combine(dir, "tail.onnx"), coded.SliceModel(flatten: true).ToByteArray());
                    File.WriteAllText(Path.Combine(dir, "plan.json"), $$"""{"id":"{{id}}","method":"coded","cut_tensors":[{"name":"{{layer.InputName}}","shape":[{{string.Join(',', coded.SliceInputShape)}}],"bits":32}]}""");
                    plans.Add(new WorkerPlan(id, PlanDirectory.Load(dir).PlanHash));
                }
            }

            log.WriteLine($"coded bench: {settings.Model}, {segments.Layers.Count} convolutions on {n} workers; k per layer {string.Join(",", choices.Select(c => c.K))} (planner's k° {string.Join(",", choices.Select(c => c.ApproximateK.ToString("F1", System.Globalization.CultureInfo.InvariantCulture)))})");
            var endpoints = new List<EndPoint>();
            for (int i = 0; i < n; i++)
            {
                var (process, endpoint) = await StartWorkerAsync(Path.Combine(root, "plans"), cancellationToken).ConfigureAwait(false);
                processes.Add(process);
                endpoints.Add(endpoint);
            }

            await using var pool = await CodedWorkerPool.ConnectAsync(endpoints, plans, cancellationToken).ConfigureAwait(false);
            foreach (var p in processes)
            {
                await SetSlowdownAsync(p, settings.DeviceSlowdown).ConfigureAwait(false);
            }
            var frames = BundledData.Load(DataSplit.Test);
            var latencies = SchemeNames.Select(_ => new List<double>()).ToArray();
            var correct = new int[3];
            var agree = new int[3];
            var lost = new int[3];
            int fullCorrect = 0, fellBack = 0, killedAt = -1, killedWorker = -1, slow = -1;
            double maxAbsError = 0, maxScale = 0;
            var frame = DenseTensor.Create(TensorElementType.Float, [1, 3, 112, 112]);
            int warm = 3;
            for (int f = -warm; f < settings.Frames; f++)
            {
                int index = Math.Max(0, f) * 7 % frames.Count;
                frames.RenderFrame(index, frame.AsSpan<float>());
                int label = frames.Label(index);
                int fullLabel = ModelEvaluator.ArgMax(full.Run([new NamedTensor(graph.Tensors[graph.InputTensors[0]].Name, frame)])[0].AsSpan<float>());
                if (f >= 0)
                {
                    fullCorrect += fullLabel == label ? 1 : 0;
                    if (settings.KillOne && f == settings.Frames / 2)
                    {
                        killedWorker = random.Next(n);
                        processes[killedWorker].Kill(entireProcessTree: true);
                        killedAt = f;
                        log.WriteLine($"coded bench: frame {f}: killed worker {killedWorker}");
                    }

                    // A new straggler each frame.
                    int next = random.Next(n);
                    if (slow >= 0 && slow != next)
                    {
                        await SetSlowdownAsync(processes[slow], settings.DeviceSlowdown).ConfigureAwait(false);
                    }

                    await SetSlowdownAsync(processes[next], settings.DeviceSlowdown * settings.Slowdown).ConfigureAwait(false);
                    slow = next;
                    await Task.Delay(5, cancellationToken).ConfigureAwait(false);
                }

                for (int r = 0; r < 3; r++)
                {
                    int s = (Math.Max(0, f) + r) % 3;
                    long t0 = Stopwatch.GetTimestamp();
                    try
                    {
                        var (logits, error, scale, usedLocal, checkMs) = await InferAsync(segments, segmentSessions, schemes[s], pool, s, frame, s == 0 ? wholeLayers : null, settings.Deadline, cancellationToken).ConfigureAwait(false);
                        double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds - checkMs; // the error check is not part of the latency
                        if (f < 0)
                        {
                            continue;
                        }

                        latencies[s].Add(ms);
                        int predicted = ModelEvaluator.ArgMax(logits);
                        correct[s] += predicted == label ? 1 : 0;
                        agree[s] += predicted == fullLabel ? 1 : 0;
                        fellBack += usedLocal ? 1 : 0;
                        maxAbsError = Math.Max(maxAbsError, error);
                        maxScale = Math.Max(maxScale, scale);
                    }
                    catch (Exception e) when (e is IOException or InvalidOperationException or OrtException)
                    {
                        log.WriteLine($"coded bench: frame {f} {SchemeNames[s]}: {e.Message}");
                        if (f >= 0)
                        {
                            lost[s]++;
                        }
                    }
                }
            }

            int frames0 = settings.Frames;
            double Mean(int s) => latencies[s].Count == 0 ? double.NaN : latencies[s].Average();
            double P95(int s) => Percentile(latencies[s], 0.95);
            var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                w.WriteString("bench", "coded");
                w.WriteString("model", settings.Model);
                w.WriteNumber("workers", n);
                w.WriteNumber("frames", frames0);
                w.WriteNumber("straggler_slowdown", settings.Slowdown);
                w.WriteNumber("device_slowdown", settings.DeviceSlowdown);
                w.WriteNumber("killed_worker", killedWorker);
                w.WriteNumber("killed_at_frame", killedAt);
                w.WriteNumber("coded_vs_uncoded_p95_latency", P95(0) / P95(1));
                w.WriteNumber("coded_vs_uncoded_mean_latency", Mean(0) / Mean(1));
                w.WriteNumber("coded_vs_replication_mean_latency", Mean(0) / Mean(2));
                w.WriteNumber("coded_vs_replication_p95_latency", P95(0) / P95(2));
                for (int s = 0; s < 3; s++)
                {
                    w.WriteNumber($"{SchemeNames[s]}_mean_ms", Mean(s));
                    w.WriteNumber($"{SchemeNames[s]}_p95_ms", P95(s));
                    w.WriteNumber($"{SchemeNames[s]}_accuracy", (double)correct[s] / frames0);
                    w.WriteNumber($"{SchemeNames[s]}_agreement_with_full_model", (double)agree[s] / frames0);
                }

                w.WriteNumber("full_model_accuracy", (double)fullCorrect / frames0);
                w.WriteNumber("max_abs_error", maxAbsError);
                w.WriteNumber("max_abs_output", maxScale);
                w.WriteNumber("frames_lost", lost.Sum());
                w.WriteNumber("layer_runs_completed_on_master", fellBack);
                w.WriteStartArray("layers");
                foreach (var c in choices)
                {
                    w.WriteStartObject();
                    w.WriteString("layer", c.Layer);
                    w.WriteNumber("n", c.N);
                    w.WriteNumber("k", c.K);
                    w.WriteNumber("k_approx", c.ApproximateK);
                    w.WriteNumber("expected_ms", c.ExpectedSeconds * 1e3);
                    w.WriteNumber("uncoded_expected_ms", c.UncodedSeconds * 1e3);
                    w.WriteNumber("master_alone_ms", c.LocalSeconds * 1e3);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteString("machine", $"{Environment.ProcessorCount} cores; workers are processes on this machine over loopback");
                w.WriteEndObject();
            }

            string text = Encoding.UTF8.GetString(buffer.ToArray());
            for (int s = 0; s < 3; s++)
            {
                log.WriteLine($"coded bench: {SchemeNames[s],-11} mean {Mean(s):F2} ms, p95 {P95(s):F2} ms, accuracy {(double)correct[s] / frames0:P1}, lost {lost[s]}");
            }

            if (writeJson)
            {
                json.WriteLine(text);
            }

            return lost.Sum() == 0 ? 0 : 4;
        }
        finally
        {
            foreach (var p in processes)
            {
                try
                {
                    if (!p.HasExited)
                    {
                        p.Kill(entireProcessTree: true);
                    }

                    p.Dispose();
                }
                catch (InvalidOperationException)
                {
                    // Already gone.
                }
            }

            foreach (var s in segmentSessions)
            {
                s?.Dispose();
            }

            foreach (var s in wholeLayers)
            {
                s.Dispose();
            }

            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
                // A worker may still hold a file for a moment; the temp folder is cleaned by the system.
            }
        }
    }

    /// <summary>A Result carries at most 65,536 logits: enough slices that one slice's output fits.</summary>
    private static int MinimumSlices(LayerRun layer)
    {
        long perRow = layer.OutputShape[1] * SplitRunExecutor.RowLength(layer.OutputShape);
        int rows = (int)layer.OutputShape[2];
        for (int k = 1; k <= rows; k++)
        {
            if (perRow * ((rows + k - 1) / k) <= 65536)
            {
                return k;
            }
        }

        return rows;
    }

    private static async Task<(float[] Logits, double Error, double Scale, bool UsedLocal, double CheckMs)> InferAsync(CodedModelSegments segments, InferenceSession?[] sessions, CodedConvolution[] layers, CodedWorkerPool pool, int scheme, DenseTensor frame, InferenceSession[]? reference, TimeSpan deadline, CancellationToken cancellationToken)
    {
        DenseTensor x = frame;
        double error = 0, scale = 0, checkMs = 0;
        bool usedLocal = false;
        for (int l = 0; l <= segments.Layers.Count; l++)
        {
            if (sessions[l] is { } segment)
            {
                x = segment.Run([new NamedTensor(segment.Inputs[0].Name, x)])[0];
            }

            if (l == segments.Layers.Count)
            {
                break;
            }

            var layer = segments.Layers[l];
            var coded = layers[l];
            coded.Split(x.AsSpan<float>());
            var output = new float[coded.OutputChannels * coded.OutputRows * coded.OutputRowLength];
            var outcome = await pool.RunLayerAsync(coded, (l * 3) + scheme, output, row => LocalSlice(coded, row), deadline, cancellationToken).ConfigureAwait(false);
            usedLocal |= outcome.FellBack;
            var y = new DenseTensor(TensorElementType.Float, [.. layer.OutputShape], new byte[output.Length * 4]);
            output.AsSpan().CopyTo(y.AsSpan<float>());
            if (reference is not null)
            {
                long check = Stopwatch.GetTimestamp();
                var expected = reference[l].Run([new NamedTensor(layer.InputName, x)])[0].AsSpan<float>();
                for (int i = 0; i < expected.Length; i++)
                {
                    error = Math.Max(error, Math.Abs(expected[i] - output[i]));
                    scale = Math.Max(scale, Math.Abs(expected[i]));
                }

                checkMs += Stopwatch.GetElapsedTime(check).TotalMilliseconds;
            }

            x = y;
        }

        return (x.AsSpan<float>().ToArray(), error, scale, usedLocal, checkMs);
    }

    private static readonly Dictionary<CodedConvolution, InferenceSession> LocalSessions = [];

    /// <summary>The master computes a slice itself (a worker passed over): the same slice model, here.</summary>
    private static float[] LocalSlice(CodedConvolution coded, int row)
    {
        if (!LocalSessions.TryGetValue(coded, out var session))
        {
            session = InferenceSession.Open(coded.SliceModel(flatten: true).ToByteArray(), SplitRunExecutor.CpuSettings, "local slice");
            LocalSessions[coded] = session;
        }

        var input = DenseTensor.Create(TensorElementType.Float, coded.SliceInputShape);
        coded.Encode(row, input.AsSpan<float>());
        return session.Run([new NamedTensor(session.Inputs[0].Name, input)])[0].AsSpan<float>().ToArray();
    }

    private static async Task<(Process Process, EndPoint EndPoint)> StartWorkerAsync(string plans, CancellationToken cancellationToken)
    {
        string host = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell which program to start the workers with");
        var info = new ProcessStartInfo(host) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = false, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "coach.dll"));
        }

        foreach (var a in new[] { "coded", "worker", "--plans", plans, "--port", "0" })
        {
            info.ArgumentList.Add(a);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {host}");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(120));
        while (await process.StandardOutput.ReadLineAsync(timeout.Token).ConfigureAwait(false) is { } line)
        {
            const string Prefix = "coded worker listening on ";
            if (line.StartsWith(Prefix, StringComparison.Ordinal))
            {
                return (process, IPEndPoint.Parse(line[Prefix.Length..].Trim()));
            }
        }

        throw new InvalidOperationException($"the worker process exited (status {(process.HasExited ? process.ExitCode : -1)}) before it listened");
    }

    private static async Task SetSlowdownAsync(Process worker, double factor)
    {
        if (worker.HasExited)
        {
            return;
        }

        try
        {
            await worker.StandardInput.WriteLineAsync($"slowdown {factor.ToString(System.Globalization.CultureInfo.InvariantCulture)}").ConfigureAwait(false);
            await worker.StandardInput.FlushAsync().ConfigureAwait(false);
        }
        catch (IOException)
        {
            // A killed worker's stdin is closed.
        }
    }

    private static double Percentile(List<double> values, double q)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        double position = q * (sorted.Length - 1);
        int low = (int)Math.Floor(position);
        int high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + ((position - low) * (sorted[high] - sorted[low]));
    }
}
