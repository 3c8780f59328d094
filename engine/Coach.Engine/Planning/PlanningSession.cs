using System.Diagnostics;
using System.Globalization;
using Coach.Engine.Calibration;
using Google.Protobuf;
using Coach.Native.OnnxRuntime;
using Coach.Engine.Data.Media;
using Coach.Engine.Data;
using Coach.Engine.Graph;
using Coach.Engine.Profiling;

namespace Coach.Engine.Planning;

/// <summary>What one run of the offline component is asked for (docs/architecture.md §3): the model, its profiles, the link and the method.</summary>
public sealed record PlanningOptions
{
    /// <summary>An ONNX file, a bundled model's name, or synthetic:resnet101 / synthetic:vgg16 (paper-scale graphs without a file).</summary>
    public required string Model { get; init; }

    /// <summary>Layer profile of the end device; needed for a model file.</summary>
    public string? EdgeProfile { get; init; }

    /// <summary>Layer profile of the cloud server; needed for a model file.</summary>
    public string? CloudProfile { get; init; }

    /// <summary>Factor on the edge profile's times (a profile measured here standing in for a slower device).</summary>
    public double EdgeSlowdown { get; init; } = 1.0;

    /// <summary>Uplink rate in tc's units: 10mbit, 500kbit, 1gbit.</summary>
    public string Bandwidth { get; init; } = "10mbit";

    /// <summary>Link rates COACH plans one partition for (the highest mean predicted throughput over them), comma-separated; null for one rate.</summary>
    public string? BandwidthRange { get; init; }

    /// <summary>Latency budget T_max of one frame in ms (eq. 3); null for none.</summary>
    public double? LatencyBudgetMs { get; init; }

    /// <summary>Accuracy loss allowed by quantization (eq. 1).</summary>
    public double Epsilon { get; init; } = 0.005;

    /// <summary>coach | ns | dads | spinn | jps | edge | cloud | cloud-jpeg (<see cref="Planners"/>).</summary>
    public string Method { get; init; } = "coach";

    /// <summary>Bits source of COACH: calib (the bundled calibration split), images:DIR or video:FILE (the user's frames,
    /// label-free), a calibration results file, fixed:N, or none (= fixed:8).</summary>
    public string BitsSource { get; init; } = "calib";

    /// <summary>Only the first this many calibration frames; null for all.</summary>
    public int? CalibrationFrames { get; init; }

    /// <summary>Standard errors of margin in the bits' accuracy test: loss + z·se ≤ ε (0 = eq. 1 as written).</summary>
    public double CalibrationMargin { get; init; } = CutCalibrator.DefaultStandardErrors;

    /// <summary>The edge's per-frame work besides the head's layers, in the edge's ms; added to T_e.</summary>
    public double EdgeOverheadMs { get; init; }

    /// <summary>Fixed link cost per frame, ms.</summary>
    public double FrameOverheadMs { get; init; } = 0.5;

    /// <summary>DADS's regime: light, heavy, or auto (its switch by the load: light while the light-load cut serves <see cref="ArrivalFps"/>).</summary>
    public DadsLoad DadsLoad { get; init; } = DadsLoad.Auto;

    /// <summary>The frames' arrival rate DADS's switch compares with (frames/s); ∞ for a stream taken as fast as the pipeline goes.</summary>
    public double ArrivalFps { get; init; } = double.PositiveInfinity;

    /// <summary>Share of frames SPINN answers at an early exit (its expected-cost model).</summary>
    public double SpinnExitRate { get; init; }

    /// <summary>Most tensors a cut may carry (<see cref="CostSettings.MaxCutTensors"/>; the wire's limit by default).</summary>
    public int MaxCutTensors { get; init; } = CutConstraints.MaxTensorsPerFrame;

    /// <summary>none, or zstd: cut tensors go zstd-coded and T_t counts their coded sizes and coding time, measured on the
    /// calibration frames (<see cref="CodedSizeTable"/>; docs/entropy.md).</summary>
    public string WireCoding { get; init; } = "none";

    /// <summary>
    /// The image codec COACH may send the frame with as one of its candidate cuts (the compressed input cut, docs/planner.md
    /// §5.4): jpeg, or none for layer cuts only; null = jpeg for a model file, none for a synthetic graph. The cloud-jpeg
    /// method always uses jpeg; the other baselines none.
    /// </summary>
    public string? InputCodec { get; init; }

    /// <summary>Folder for head.onnx, tail.onnx and plan.json; null to plan without writing.</summary>
    public string? OutputDirectory { get; init; }
}

/// <summary>What <see cref="PlanningSession.Run"/> chose: plan.json's content beside the problem and plan it came from.</summary>
public sealed record PlanningResult(PlanDocument Document, PlanningProblem Problem, PartitionPlan Plan, TimeSpan CalibrationTime, int CalibrationCalls);

/// <summary>
/// The offline component end to end (paper §III-B): layer profiles → <see cref="PlanningProblem"/> → bits source (eq. 1) →
/// planner → head/tail split → plan.json. <c>coach plan</c> and the benches call it.
/// </summary>
public static class PlanningSession
{
    public static PlanningResult Run(PlanningOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!(options.EdgeOverheadMs >= 0) || !(options.FrameOverheadMs >= 0))
        {
            throw new ArgumentException($"--edge-overhead-ms and --frame-overhead-ms are times ≥ 0 (got {options.EdgeOverheadMs} and {options.FrameOverheadMs})");
        }

        var settings = new CostSettings
        {
            BandwidthBitsPerSecond = Planning.Bandwidth.ParseBitsPerSecond(options.Bandwidth),
            FrameOverheadSeconds = options.FrameOverheadMs * 1e-3,
            EdgeFrameOverheadSeconds = options.EdgeOverheadMs * 1e-3,
            LatencyBudgetSeconds = options.LatencyBudgetMs * 1e-3,
            MaxCutTensors = options.MaxCutTensors,
        };
        var planner = Planner(options);
        var (graph, problem, context) = Problem(options, settings);
        if (options.WireCoding == "zstd")
        {
            problem = problem.WithSettings(settings with { Coding = CodingModel(options, graph) });
        }
        else if (options.WireCoding != "none")
        {
            throw new ArgumentException($"--wire-coding '{options.WireCoding}': expected none or zstd");
        }

        var codecCalibration = TimeSpan.Zero;
        if (InputCodecName(options, graph) is { } codecName)
        {
            long codecStart = Stopwatch.GetTimestamp();
            // No quality within ε: COACH plans its layer cuts alone; the cloud-jpeg and cloud-h264 baselines have no plan (CodecModel says so).
            problem = problem.WithSettings(problem.Settings with { InputCodec = InputCodecModelFor(codecName, options, graph) });
            codecCalibration = Stopwatch.GetElapsedTime(codecStart);
        }

        var bits = new TimedBitsProvider(options.Method == "coach" ? BitsSource(options, graph) : new FixedBits(32));
        var clock = Stopwatch.StartNew();
        var plan = planner.Plan(problem, bits);
        plan.PlannerMilliseconds = (clock.Elapsed - bits.Elapsed).TotalMilliseconds;
        if (problem.Settings.InputCodec is not null && plan.EdgeLayerCount > 0)
        {
            // A layer cut won over the compressed input cut: its tensors are priced, and written, without the codec.
            problem = problem.WithSettings(problem.Settings with { InputCodec = null });
        }
        context = context with { CalibrationMs = (bits.Elapsed + codecCalibration).TotalMilliseconds, Calibration = DescribeBitsSource(options) };

        PlanDocument document;
        if (options.OutputDirectory is not null && graph is not null)
        {
            document = PlanWriter.Write(graph, problem, plan, context, options.OutputDirectory);
            if (context.ModelPath is { } modelPath && InputContract.TryForModel(modelPath) is { IsDefault: false } contract)
            {
                // The edge preprocesses its frames as the model's card says (docs/data.md, "Input contract").
                document.Input = ModelCard.From(contract, Path.GetFileName(modelPath), document.ModelSha256);
                File.WriteAllText(Path.Combine(options.OutputDirectory, "plan.json"), document.ToJson());
            }
        }
        else
        {
            if (options.OutputDirectory is not null)
            {
                throw new ArgumentException("a synthetic graph has no ONNX file to split; leave out --out");
            }

            document = PlanWriter.Describe(graph, problem, plan, context);
        }

        return new PlanningResult(document, problem, plan, bits.Elapsed, bits.Calls);
    }

    private static IPartitionPlanner Planner(PlanningOptions options)
    {
        var planner = Planners.Create(options.Method, options.DadsLoad, options.SpinnExitRate, options.ArrivalFps);
        if (options.BandwidthRange is null)
        {
            return planner;
        }

        if (options.Method != "coach")
        {
            throw new ArgumentException($"--bandwidth-range plans COACH for a moving link; method '{options.Method}' plans for one rate (leave --bandwidth-range out)");
        }

        var rates = options.BandwidthRange.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Planning.Bandwidth.ParseBitsPerSecond).ToList();
        if (rates.Count == 0)
        {
            throw new ArgumentException("--bandwidth-range lists link rates separated by commas, e.g. 20mbit,10mbit,5mbit");
        }

        return new BandwidthRangePlanner(planner, rates);
    }

    private static (LayerGraph? Graph, PlanningProblem Problem, PlanContext Context) Problem(PlanningOptions options, CostSettings settings)
    {
        string model = options.Model;
        double slowdown = options.EdgeSlowdown;
        if (model.StartsWith("synthetic:", StringComparison.Ordinal))
        {
            var problem = model switch
            {
                "synthetic:resnet101" => SyntheticNetworks.ResNet(settings),
                "synthetic:vgg16" => SyntheticNetworks.Vgg16(settings),
                _ => throw new ArgumentException($"unknown synthetic graph '{model}'; use synthetic:resnet101 or synthetic:vgg16"),
            };
            if (slowdown != 1)
            {
                problem = new PlanningProblem(problem.NodeNames, [.. problem.EdgeSeconds.Select(t => t * slowdown)], problem.CloudSeconds, problem.Tensors, settings);
            }

            return (null, problem, new PlanContext(model, null, null, null, slowdown, options.Epsilon));
        }

        var modelPath = File.Exists(model) ? model
            : ModelCatalog.TryGet(model, out var entry) && entry is not null ? entry.Path
            : throw new FileNotFoundException($"model '{model}' is neither a file nor a bundled model name", model);
        if (options.EdgeProfile is not { } edgePath || options.CloudProfile is not { } cloudPath)
        {
            throw new ArgumentException("--edge-profile and --cloud-profile are needed for a model file (measure them with `coach profile`)");
        }

        var graph = LayerGraph.Load(modelPath);
        ShapeDiscovery.Complete(graph);
        var edge = LayerProfile.Load(edgePath);
        var cloud = LayerProfile.Load(cloudPath);
        var context = new PlanContext(Path.GetFileNameWithoutExtension(modelPath), Path.GetFullPath(modelPath),
            new PlanProfileSource(edge.Device, edge.Provider, Path.GetFullPath(edgePath)),
            new PlanProfileSource(cloud.Device, cloud.Provider, Path.GetFullPath(cloudPath)), slowdown, options.Epsilon);
        return (graph, PlanningProblem.FromGraph(graph, edge, cloud, settings, slowdown), context);
    }

    /// <summary>The user's images, video or tensors rendered through the model's input contract (its card, docs/data.md) and
    /// labelled by the full model's own top-1 (label-free calibration: eq. 1's loss is the disagreement with the full model).</summary>
    private static ILabelledFrames LabelFreeFrames(string model, string spec, int? maxFrames)
    {
        var modelPath = File.Exists(model) ? model : ModelCatalog.Get(model).Path;
        var unlabelled = MediaSource.Load(spec, InputContract.ForModel(modelPath), [], out _, maxFrames ?? int.MaxValue);
        using var fullModel = InferenceSession.Open(modelPath, new SessionSettings { Providers = [ExecutionProvider.Cpu] });
        return FullModelLabels.Apply(fullModel, unlabelled);
    }

    /// <summary>
    /// The coded sizes of the model's tensors on the calibration frames (the user's, for --calib images:|video:; else the
    /// bundled calibration split), cached beside the calibration results; the coding time scaled by the edge slowdown like
    /// the edge profile.
    /// </summary>
    private static WireCodingModel CodingModel(PlanningOptions options, LayerGraph? graph)
    {
        if (graph is null)
        {
            throw new ArgumentException("--wire-coding zstd measures coded sizes on a model's tensors; a synthetic graph has none");
        }
        ILabelledFrames frames;
        if (MediaSource.IsMedia(options.BitsSource))
        {
            var input = graph.Tensors[graph.InputTensors[0]];
            var shape = input.Shape ?? throw new ModelGraphException($"model input '{input.Name}' has no fixed shape");
            frames = MediaSource.Open(options.BitsSource, (int)shape[2], (int)shape[3], [], out _, CodedSizeTable.DefaultFrames);
        }
        else
        {
            frames = BundledData.LoadSlice(DataSplit.Calibration);
        }
        var table = CodedSizeTable.LoadOrMeasure(graph, frames, Path.Combine(ModelCatalog.RepositoryRoot, ".cache", "calibration"));
        return new WireCodingModel(table.Ratios, table.EncodeSecondsPerPackedByte * options.EdgeSlowdown);
    }

    /// <summary>The codec the frame may go through for this method, or null (<see cref="PlanningOptions.InputCodec"/>).</summary>
    private static string? InputCodecName(PlanningOptions options, LayerGraph? graph)
    {
        string? asked = options.InputCodec?.Trim().ToLowerInvariant();
        if (asked is not (null or "none" or "jpeg"))
        {
            throw new ArgumentException($"--input-codec '{options.InputCodec}': expected jpeg or none");
        }

        return options.Method switch
        {
            "cloud-jpeg" when asked is null or "jpeg" => "jpeg",
            "cloud-jpeg" => throw new ArgumentException("method cloud-jpeg sends its frames as JPEG; leave out --input-codec or plan the plain cloud method"),
            "cloud-h264" when asked is null or "none" => "h264",
            "cloud-h264" => throw new ArgumentException("method cloud-h264 sends its frames as H.264; leave out --input-codec or plan the plain cloud method"),
            "coach" when asked is "jpeg" && graph is null => throw new ArgumentException("--input-codec jpeg measures JPEG frames of a model's input; a synthetic graph has none (use --input-codec none)"),
            "coach" => (asked ?? (graph is null ? "none" : "jpeg")) == "jpeg" ? "jpeg" : null,
            _ when asked is null or "none" => null,
            _ => throw new ArgumentException($"--input-codec is COACH's compressed input cut; method '{options.Method}' does not take it (cloud-jpeg is the JPEG baseline)"),
        };
    }

    /// <summary>The byte model of <paramref name="codec"/> measured on the calibration frames; another codec joins here.</summary>
    private static InputCodecModel? InputCodecModelFor(string codec, PlanningOptions options, LayerGraph? graph) => codec switch
    {
        "jpeg" or "h264" => CodecModel(options, graph, codec, required: options.Method is "cloud-jpeg" or "cloud-h264"),
        _ => throw new ArgumentException($"no input codec '{codec}'"),
    };

    /// <summary>
    /// The cloud-jpeg (cloud-h264) plan's frame codec: the lowest JPEG quality (highest x264 rate factor) whose decoded
    /// calibration frames keep the model within ε of its accuracy on the raw frames (<see cref="CodecCalibration.Jpeg"/>,
    /// <see cref="CodecCalibration.H264"/>; eq. 1 applied to the codec), on the user's frames for --calib images:|video:
    /// (labelled by the full model's top-1) or else on the bundled calibration split — for H.264 as the bench's
    /// medium-correlation stream, since its bytes depend on how alike consecutive frames are; its mean bytes a frame and
    /// encode time (scaled by the edge slowdown like the edge profile) price the frame in T_t.
    /// </summary>
    private static InputCodecModel? CodecModel(PlanningOptions options, LayerGraph? graph, string codec, bool required)
    {
        if (graph is null)
        {
            throw new ArgumentException($"method {options.Method} measures {codec} frames of a model's input; a synthetic graph has none");
        }

        ILabelledFrames frames = MediaSource.IsMedia(options.BitsSource)
            ? LabelFreeFrames(options.Model, options.BitsSource, options.CalibrationFrames)
            : BundledData.Load(DataSplit.Calibration);
        if (options.CalibrationFrames is { } most && most < frames.Count && frames is FrameSet set)
        {
            frames = set.Range(0, most, DataSplit.Calibration, $"first {most} of {set.Source}");
        }

        var modelPath = File.Exists(options.Model) ? options.Model : ModelCatalog.Get(options.Model).Path;
        if (codec == "h264" && frames is FrameSet bundled)
        {
            frames = CodecCalibration.CorrelatedStream(bundled, bundled.Count);
        }

        var calibrationFrames = frames;
        var result = CodecCalibrationCache.LoadOrMeasure(codec, graph.Sha256, frames, options.Epsilon,
            Path.Combine(ModelCatalog.RepositoryRoot, ".cache", "calibration"),
            () =>
            {
                using var session = InferenceSession.Open(modelPath, new SessionSettings { Providers = [ExecutionProvider.Cpu], IntraOpThreads = 1 });
                return codec == "h264" ? CodecCalibration.H264(session, calibrationFrames, options.Epsilon) : CodecCalibration.Jpeg(session, calibrationFrames, options.Epsilon);
            },
            out _);
        if (result.Chosen is null && !required)
        {
            return null;
        }

        var chosen = result.Chosen
            ?? throw new InvalidOperationException($"no {(codec == "h264" ? "H.264 rate factor" : "JPEG quality")} keeps {Path.GetFileName(modelPath)} within ε = {options.Epsilon} of its raw accuracy {result.RawAccuracy:P2} on {frames.Source} ({string.Join(", ", result.Points.Select(p => string.Create(CultureInfo.InvariantCulture, $"{result.SettingName} {p.Setting}: {p.Accuracy:P2}")))}); plan the plain cloud method instead, or allow a larger --epsilon");
        return new InputCodecModel(codec, chosen.Setting, chosen.BytesPerFrame, chosen.EncodeMsPerFrame * 1e-3 * options.EdgeSlowdown,
            chosen.Accuracy, result.RawAccuracy, result.Frames).Validated();
    }

    /// <summary>What plan.json records as the bits' source.</summary>
    internal static string DescribeBitsSource(PlanningOptions options) => options.Method is "cloud-jpeg" or "cloud-h264"
        ? $"{(options.Method == "cloud-h264" ? "h264: the rate factor" : "jpeg: the quality")} chosen within ε on {(MediaSource.IsMedia(options.BitsSource) ? $"{options.BitsSource} (label-free: agreement with the full model's top-1)" : "the bundled calibration split, against its labels")}"
        : options.Method != "coach"
        ? "none: this method sends raw float32"
        : options.BitsSource switch
        {
            "calib" => "calib: the bundled calibration split, against its labels",
            "none" => "fixed:8",
            var media when MediaSource.IsMedia(media) => $"{media}: label-free, eq. 1's loss measured as disagreement with the full model's top-1",
            var other => other,
        };

    internal static ICutBitsProvider BitsSource(PlanningOptions options, LayerGraph? graph)
    {
        string calib = options.BitsSource;
        if (calib == "none")
        {
            return new FixedBits(8);
        }

        if (calib.StartsWith("fixed:", StringComparison.Ordinal))
        {
            return new FixedBits(int.Parse(calib["fixed:".Length..], CultureInfo.InvariantCulture));
        }

        if (calib == "calib")
        {
            if (graph is null)
            {
                throw new ArgumentException("a synthetic graph has no model to calibrate; use --calib fixed:N");
            }

            return new CutCalibrator(graph, BundledData.Load(DataSplit.Calibration), options.Epsilon, maxFrames: options.CalibrationFrames, standardErrors: options.CalibrationMargin);
        }

        if (MediaSource.IsMedia(calib))
        {
            if (graph is null)
            {
                throw new ArgumentException("a synthetic graph has no model to calibrate; use --calib fixed:N");
            }
            return new CutCalibrator(graph, LabelFreeFrames(options.Model, calib, options.CalibrationFrames), options.Epsilon,
                maxFrames: options.CalibrationFrames, standardErrors: options.CalibrationMargin);
        }

        var results = CalibrationResults.TryLoad(calib)
            ?? throw new FileNotFoundException($"--calib '{calib}' is not 'calib', 'none', 'fixed:N', images:DIR, video:FILE, tensors:FILE or a calibration results file", calib);
        if (graph is not null && results.ModelSha256 != graph.Sha256)
        {
            throw new ArgumentException($"calibration file '{calib}' is for model sha256 {results.ModelSha256}, not this model ({graph.Sha256})");
        }

        return new CalibrationFileBits(results, calib);
    }
}
