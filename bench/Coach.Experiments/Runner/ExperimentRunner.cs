using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Coach.Engine.Calibration;
using Coach.Engine.Data;
using Coach.Engine.Graph;
using Coach.Engine.Online;
using Coach.Engine.Planning;
using Coach.Engine.Profiling;
using Coach.Engine.Splitting;
using Coach.Native.OnnxRuntime;
using Coach.Transport.Edge;

namespace Coach.Experiments;

/// <summary>
/// Runs methods end to end as a user would: measures a layer profile of the model on this machine
/// (cached, <see cref="ProfilingSession"/>), plans every method (<see cref="PlanningSession"/>, the edge profile scaled by
/// the slowdown) and calibrates COACH's online scheduler (<see cref="OnlineCalibrationSession"/>), starts
/// the published <c>coach-cloud</c>, and runs the published NativeAOT <c>coach-edge</c> once per method
/// inside a CPU cgroup that makes it <see cref="ExperimentSettings.EdgeSlowdown"/> times slower, on a
/// link shaped to <see cref="ExperimentSettings.Bandwidth"/>. Each edge run ends with its run summary
/// (<see cref="EdgeRunSummaryDocument"/>).
/// </summary>
internal sealed class ExperimentRunner : IAsyncDisposable
{
    private readonly ExperimentSettings _settings;
    private readonly TextWriter _log;
    private readonly string _edgeBinary;
    private readonly string _cloudBinary;
    private readonly string _plansRoot;
    private ChildProcess? _cloud;
    private CpuQuotaGroup? _edgeGroup;
    private readonly Testbed? _testbed;
    private int _cloudPort;

    public ExperimentRunner(ExperimentSettings settings, TextWriter log)
    {
        _settings = settings;
        _log = log;
        _edgeBinary = Path.Combine(settings.BinaryDirectory, "coach-edge");
        _cloudBinary = Path.Combine(settings.BinaryDirectory, "coach-cloud");
        foreach (var binary in new[] { _edgeBinary, _cloudBinary })
        {
            if (!File.Exists(binary))
            {
                throw new FileNotFoundException($"'{binary}' is missing; build the binaries with `./coach publish`", binary);
            }
        }

        _plansRoot = Path.Combine(settings.WorkDirectory, "plans", SettingsKey());
        Directory.CreateDirectory(_plansRoot);
        EdgeSlowdownNote = CpuQuotaGroup.Unavailability();
        if (settings.KernelTestbed)
        {
            var root = ModelCatalog.RepositoryRoot;
            TestbedNote = Testbed.Unavailability(root);
            _testbed = TestbedNote is null ? new Testbed(root) : null;
        }
    }

    /// <summary>Why the edge could not be slowed (then it runs at this machine's speed and plans use slowdown 1), or null.</summary>
    public string? EdgeSlowdownNote { get; }

    /// <summary>The interface the edge's CPU quota goes through ("cgroup v2 cpu.max" or "cgroup v1 cpu.cfs_quota_us"), or null when not slowed.</summary>
    public string? EdgeSlowdownMechanism =>
        EdgeSlowdownNote is null && CpuQuotaGroup.Detect(CpuQuotaGroup.DefaultMount, out _) is { } version ? CpuQuotaGroup.Describe(version) : null;

    public double EffectiveSlowdown => EdgeSlowdownNote is null ? _settings.EdgeSlowdown : 1;

    public string ModelPath => ModelCatalog.TryGet(_settings.Model, out var entry) && entry is not null ? entry.Path
        : File.Exists(_settings.Model) ? Path.GetFullPath(_settings.Model)
        : throw new FileNotFoundException($"model '{_settings.Model}' is neither a bundled model (models/manifest.json) nor a file");

    public string PlanDirectory(MethodSpec method) => Path.Combine(_plansRoot, method.Key);

    /// <summary>The profile of the model on this machine with one intra-op thread (measured once, then cached).</summary>
    public string EnsureProfile()
    {
        var model = ModelPath;
        var sha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(model)))[..16];
        var path = Path.Combine(_settings.WorkDirectory, "profiles", $"{Path.GetFileNameWithoutExtension(model)}-{sha}-cpu1.json");
        if (File.Exists(path))
        {
            return path;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        _log.WriteLine($"profiling {Path.GetFileName(model)} on this machine (one thread, once; cached in {path})");
        RunOfflineStep("profile", () => ProfilingSession.Run(new ProfilingOptions { Model = model, Device = "this-machine", OutputPath = path, Runs = 30, IntraOpThreads = 1 }));
        return path;
    }

    /// <summary>Requests every edge run keeps outstanding at most (the label delay COACH's online calibration assumes).</summary>
    public const int MaxInFlight = 4;

    /// <summary>The edge's per-frame work besides the head's layers, in the edge's ms (<see cref="MeasureEdgeOverheadAsync"/>).</summary>
    public double EdgeOverheadMs { get; private set; }

    /// <summary>
    /// Measures what the edge spends per frame besides the head's layers — taking the frame, the scheduler, packing,
    /// sockets, the runtime — so every plan's T_e includes it: plans COACH without it, runs 400 frames of that plan
    /// through the real edge (fixed bits), and takes the edge process's steady-state CPU time per frame × the slowdown minus the
    /// plan's head time. Measured once per settings and cached beside the plans (<c>edge-overhead.json</c>).
    /// </summary>
    public async Task<double> MeasureEdgeOverheadAsync(string profile, CancellationToken cancellationToken)
    {
        var cached = Path.Combine(_plansRoot, "edge-overhead.json");
        if (File.Exists(cached))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(cached));
            EdgeOverheadMs = doc.RootElement.GetProperty("edge_overhead_ms").GetDouble();
            return EdgeOverheadMs;
        }

        var probeRoot = Path.Combine(_settings.WorkDirectory, "probes", SettingsKey());
        var probe = Path.Combine(probeRoot, "coach");
        if (!File.Exists(Path.Combine(probe, "plan.json")))
        {
            _log.WriteLine($"planning the edge-overhead probe ({_settings.Bandwidth}, edge {EffectiveSlowdown:0.#}x slower)");
            // Layer cuts only: the probe measures the edge's work besides a head, which a frame sent as JPEG would not show.
            Plan(profile, "coach", probe, edgeOverheadMs: 0, inputCodec: "none");
        }

        var plan = PlanDocument.Load(probe);
        await StartCloudAsync(cancellationToken, probeRoot).ConfigureAwait(false);
        EdgeRunSummaryDocument summary;
        try
        {
            summary = await RunEdgeAsync(Methods.Coach, cancellationToken, ["--scheduler", "fixed"], frames: 400, csvName: "edge-overhead-probe", planDirectory: probe).ConfigureAwait(false);
        }
        finally
        {
            await StopCloudAsync().ConfigureAwait(false);
        }

        double cpuMs = summary.CpuMsPerFrame;
        EdgeOverheadMs = Math.Max(0, (cpuMs * EffectiveSlowdown) - plan.TEdgeMs);
        File.WriteAllText(cached, string.Create(CultureInfo.InvariantCulture,
            $"{{\"edge_overhead_ms\": {EdgeOverheadMs:0.####}, \"cpu_ms_per_frame\": {cpuMs:0.####}, \"slowdown\": {EffectiveSlowdown}, \"probe_t_edge_ms\": {plan.TEdgeMs:0.####}}}\n"));
        _log.WriteLine($"edge overhead {EdgeOverheadMs:0.###} ms per frame (CPU {cpuMs:0.###} ms × {EffectiveSlowdown:0.#} − head {plan.TEdgeMs:0.###} ms)");
        return EdgeOverheadMs;
    }

    /// <summary>Plans <paramref name="method"/> into its plan directory unless a plan for the same settings is there.</summary>
    public string EnsurePlan(MethodSpec method, string profile)
    {
        var dir = PlanDirectory(method);
        var failedMarker = Path.Combine(dir, "scheduler.failed");
        bool calibrated = File.Exists(Path.Combine(dir, "scheduler.json")) || File.Exists(failedMarker);
        if (File.Exists(Path.Combine(dir, "plan.json")) && (!method.IsCoach || calibrated))
        {
            return dir;
        }

        if (!File.Exists(Path.Combine(dir, "plan.json")))
        {
            _log.WriteLine($"planning {method.Title} ({_settings.Bandwidth}, edge {EffectiveSlowdown:0.#}x slower)");
            Plan(profile, method.PlannerMethod, dir, EdgeOverheadMs, method.BandwidthRange);
        }

        var plan = PlanDocument.Load(dir);
        if (method.IsCoach && plan.Head is not null && plan.Tail is not null)
        {
            // COACH's online component (§III-C): S_ext, S_adj and warm semantic centres, stored beside the plan.
            _log.WriteLine($"calibrating the online scheduler of {method.Title}");
            try
            {
                var options = new OnlineEvaluationOptions { Epsilon = _settings.Epsilon, FeedbackDelayFrames = MaxInFlight };
                // The user's frames, labelled by the full model's top-1, or the bundled calibration split.
                Coach.Engine.Data.ILabelledFrames frames = _settings.Data is { } data
                    ? OnlineCalibrationSession.UserFrames(dir, data, ModelPath, _settings.CalibrationFrames, adaptiveBitsOnly: false, note => _log.WriteLine(note))
                    : OnlineCalibrationSession.CalibrationFrames();
                var state = OnlineCalibrationSession.Run(dir, frames, options).State;
                if (state.AdaptiveBitsOnly)
                {
                    _log.WriteLine($"{method.Title}: adaptive bits only (no semantic cache, no early exit): {state.ModeReason}");
                }
            }
            catch (Exception e) when (IsStepFailure(e))
            {
                // The plan still runs, with its planned bits and no early exit; the report says so.
                File.WriteAllText(failedMarker, e.Message);
                _log.WriteLine($"online calibration failed, {method.Title} runs with fixed bits: {e.Message}");
            }
        }

        return dir;
    }

    /// <summary>The plan of one method for these settings (the edge profile scaled by the slowdown) into <paramref name="directory"/>.</summary>
    private void Plan(string profile, string plannerMethod, string directory, double edgeOverheadMs, string? bandwidthRange = null, string? inputCodec = null) => RunOfflineStep("plan", () => PlanningSession.Run(new PlanningOptions
    {
        Model = ModelPath,
        EdgeProfile = profile,
        CloudProfile = profile,
        EdgeSlowdown = EffectiveSlowdown,
        Bandwidth = _settings.Bandwidth,
        BandwidthRange = bandwidthRange,
        InputCodec = inputCodec,
        Epsilon = _settings.Epsilon,
        Method = plannerMethod,
        OutputDirectory = directory,
        EdgeOverheadMs = edgeOverheadMs,
        BitsSource = _settings.Data ?? "calib",
        CalibrationFrames = _settings.Data is not null && _settings.CalibrationFrames > 0 ? _settings.CalibrationFrames : null,
    }));

    /// <summary>Starts coach-cloud serving every plan under the plans folder, and waits until it listens.</summary>
    public async Task StartCloudAsync(CancellationToken cancellationToken, string? plans = null)
    {
        _cloudPort = FreeLoopbackPort();
        string[] serve = ["serve", "--listen", $"{CloudHost}:{_cloudPort}", "--plans", plans ?? _plansRoot, "--threads", "1", "--preload", "--log-interval-s", "0"];
        if (_testbed is not null)
        {
            _testbed.Up(_settings.Bandwidth, 1.0 / EffectiveSlowdown);
            _cloud = ChildProcess.Start("coach-cloud", _testbed.Script, ["cloud", "--", _cloudBinary, .. serve]);
        }
        else
        {
            _cloud = ChildProcess.Start("coach-cloud", _cloudBinary, serve);
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            if (_cloud.Stdout.Contains("listening on", StringComparison.Ordinal))
            {
                return;
            }

            if (_cloud.HasExited)
            {
                throw new InvalidOperationException($"coach-cloud exited with code {_cloud.ExitCode}:\n{_cloud.StderrTail()}");
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }

        throw new TimeoutException($"coach-cloud did not listen on {CloudHost}:{_cloudPort} within 90 s:\n{_cloud.StderrTail()}");
    }

    /// <summary>Stops the cloud started by <see cref="StartCloudAsync"/> (the testbed stays up).</summary>
    public async Task StopCloudAsync()
    {
        if (_cloud is not null)
        {
            await _cloud.StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            await _cloud.DisposeAsync().ConfigureAwait(false);
            _cloud = null;
        }
    }

    /// <summary>Changes the link rate during a run (kernel testbed only: tc qdisc change).</summary>
    public void SetRate(string rate)
    {
        if (_testbed is null)
        {
            throw new InvalidOperationException("a live rate change needs the kernel testbed (root)");
        }

        _testbed.SetRate(rate);
    }

    public bool CanChangeRateLive => _testbed is not null;

    /// <summary>How the link is shaped in this run, in words.</summary>
    public string LinkDescription => _testbed is not null
        ? $"kernel tc tbf on a veth pair between network namespaces, {_settings.Bandwidth}"
        : $"in-process token bucket on loopback, {_settings.Bandwidth}" + (TestbedNote is null ? "" : $" ({TestbedNote})");

    /// <summary>Why the kernel testbed was asked for but not used, or null.</summary>
    public string? TestbedNote { get; }

    private string CloudHost => _testbed is not null ? Testbed.CloudAddress : "127.0.0.1";

    /// <summary>Runs coach-edge on <paramref name="method"/>'s plan and returns its run summary.</summary>
    /// <exception cref="InvalidDataException">The edge's last line is not a run summary of this version (a key renamed or missing).</exception>
    public async Task<EdgeRunSummaryDocument> RunEdgeAsync(MethodSpec method, CancellationToken cancellationToken, IReadOnlyList<string>? extraArguments = null, TimeSpan? timeout = null,
        StreamCorrelation? correlation = null, int? frames = null, string? csvName = null, Func<ChildProcess, Task>? whileRunning = null,
        bool emulateSlowdown = false, string? planDirectory = null)
    {
        if (_edgeGroup is null && EdgeSlowdownNote is null && _testbed is null)
        {
            _edgeGroup = CpuQuotaGroup.Create($"coach-edge-{Environment.ProcessId}", 1.0 / _settings.EdgeSlowdown);
        }

        var csv = CsvPath(csvName ?? method.Key);
        Directory.CreateDirectory(Path.GetDirectoryName(csv)!);
        var args = new List<string>
        {
            "run", "--plan", planDirectory ?? PlanDirectory(method), "--cloud", $"{CloudHost}:{_cloudPort}",
            "--source", correlation is { } c ? "stream:" + c.ToString().ToLowerInvariant() : _settings.SourceArgument,
            "--frames", (frames ?? _settings.Frames).ToString(CultureInfo.InvariantCulture),
            "--run-length", _settings.RunLength.ToString(CultureInfo.InvariantCulture), "--seed", _settings.Seed.ToString(CultureInfo.InvariantCulture),
            "--threads", "1", "--csv", csv, "--json", "--no-progress",
            // Enough requests in flight to keep any of these links busy; more would only queue frames in the shaper, adding
            // latency to every method and delaying the labels COACH's centres learn from beyond what they were fitted for.
            "--max-in-flight", MaxInFlight.ToString(CultureInfo.InvariantCulture),
        };
        if (_testbed is null)
        {
            args.AddRange(["--shape", _settings.Bandwidth]);
        }

        if (extraArguments is not null)
        {
            args.AddRange(extraArguments);
        }

        // Emulated slowdown instead of the CPU quota: the edge stretches each compute step itself (latency runs, where a
        // lone frame would otherwise run inside one period's full quota at this machine's speed).
        bool emulate = emulateSlowdown && EffectiveSlowdown > 1;
        if (emulate)
        {
            args.AddRange(["--emulate-slowdown", EffectiveSlowdown.ToString(CultureInfo.InvariantCulture)]);
        }

        await using var edge = _testbed is not null
            ? ChildProcess.Start($"coach-edge ({method.Title})", _testbed.Script, emulate ? ["edge", "--no-quota", "--", _edgeBinary, .. args] : ["edge", "--", _edgeBinary, .. args])
            : ChildProcess.Start($"coach-edge ({method.Title})", _edgeBinary, args, emulate ? null : _edgeGroup);
        if (whileRunning is not null)
        {
            await whileRunning(edge).ConfigureAwait(false);
        }

        var code = await edge.WaitAsync(timeout ?? TimeSpan.FromMinutes(5), cancellationToken).ConfigureAwait(false);
        var last = edge.LastStdoutLine;
        if (code != 0 || last is null || !last.StartsWith('{'))
        {
            throw new InvalidOperationException($"{edge.Name} exited with code {code}; command: {edge.CommandLine}\n{edge.StderrTail()}");
        }

        return EdgeRunSummaryDocument.Parse(last, $"{edge.Name}'s summary");
    }

    /// <summary>Where the per-frame CSV of a run named <paramref name="name"/> goes.</summary>
    public string CsvPath(string name) => Path.Combine(_settings.WorkDirectory, "runs", SettingsKey(), $"{name}.csv");

    public ExperimentSettings Settings => _settings;

    public async ValueTask DisposeAsync()
    {
        if (_cloud is not null)
        {
            await _cloud.StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            await _cloud.DisposeAsync().ConfigureAwait(false);
        }

        _edgeGroup?.Dispose();
        _testbed?.Dispose();
    }

    private static readonly Lazy<string> CalibrationDataFingerprint = new(() => BundledData.Load(DataSplit.Calibration).Fingerprint);

    /// <summary>Changes when a planner's choice changes for the same settings (COACH's compressed input cut, JPS's Johnson
    /// schedule, DADS's load switch): plans cached by an earlier planner are not these.</summary>
    private const string PlannerRevision = "planners-2026-12-06";

    private string SettingsKey()
    {
        // The calibration margin and data are part of the key: plans cached under another default or set would otherwise be reused.
        var text = string.Join('|', _settings.Model, _settings.Bandwidth, EffectiveSlowdownText(), _settings.Epsilon.ToString(CultureInfo.InvariantCulture),
            "z" + CutCalibrator.DefaultStandardErrors.ToString(CultureInfo.InvariantCulture), "d" + CalibrationDataFingerprint.Value, PlannerRevision);
        if (_settings.Data is { } data)
        {
            // The user's frames calibrate the bits and the scheduler: plans made on other frames are not these.
            text += $"|{data}|{_settings.CalibrationFrames}";
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..12];
    }

    private string EffectiveSlowdownText() => (CpuQuotaGroup.Unavailability() is null ? _settings.EdgeSlowdown : 1).ToString(CultureInfo.InvariantCulture);

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Runs one offline step; what fails in it comes out as an <see cref="InvalidOperationException"/> naming the step.</summary>
    private static void RunOfflineStep<T>(string step, Func<T> run)
    {
        try
        {
            run();
        }
        catch (Exception e) when (IsStepFailure(e) && e is not InvalidOperationException)
        {
            throw new InvalidOperationException($"coach {step} failed: {e.Message}", e);
        }
    }

    /// <summary>The errors an offline step reports on bad input or a failed model run (not programming errors).</summary>
    private static bool IsStepFailure(Exception e) => e is IOException or ArgumentException or FormatException or InvalidOperationException or KeyNotFoundException
        or UnauthorizedAccessException or ModelGraphException or ProfileMismatchException or PlanInfeasibleException or InvalidCutException or OrtException;
}
