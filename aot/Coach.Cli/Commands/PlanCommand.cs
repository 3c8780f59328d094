using System.CommandLine;
using System.Globalization;
using Coach.Engine.Calibration;
using Coach.Engine.Graph;
using Coach.Engine.Planning;
using Coach.Engine.Planning.MultiStage;
using Coach.Engine.Profiling;
using Coach.Engine.Splitting;
using Coach.Native.OnnxRuntime;

namespace Coach.Cli.Commands;

/// <summary>`coach plan`: the offline component (paper §III-B, docs/architecture.md §3) — partition, bits, split files and plan.json.</summary>
internal static class PlanCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "ONNX model file (or a bundled model's name; synthetic:resnet101 / synthetic:vgg16 for paper-scale graphs without a file)", Required = true };
        var edgeProfile = new Option<string?>("--edge-profile") { Description = "layer profile of the end device (coach profile / coach-edge profile)" };
        var slowdown = new Option<double>("--edge-slowdown") { Description = "multiply the edge profile's times (a profile measured here standing in for a slower device)", DefaultValueFactory = _ => 1.0 };
        var cloudProfile = new Option<string?>("--cloud-profile") { Description = "layer profile of the cloud server" };
        var bandwidth = new Option<string>("--bandwidth") { Description = "uplink rate: 10mbit, 500kbit, 1gbit", DefaultValueFactory = _ => "10mbit" };
        var bandwidthRange = new Option<string?>("--bandwidth-range") { Description = "COACH for a link that moves between rates, e.g. 20mbit,10mbit,5mbit: the partition with the highest mean predicted throughput over them (bits for --bandwidth)" };
        var tmax = new Option<double?>("--tmax") { Description = "latency budget T_max of one frame in ms (eq. 3)" };
        var epsilon = new Option<double>("--epsilon") { Description = "accuracy loss allowed by quantization (eq. 1)", DefaultValueFactory = _ => 0.005 };
        var method = new Option<string>("--method") { Description = "coach | ns | dads | spinn | jps | edge | cloud | cloud-jpeg | cloud-h264 (cloud-only, the frames sent as JPEG, or as one low-latency H.264 stream, at the quality or x264 rate factor the codec calibration picks within ε; docs/baselines.md)", DefaultValueFactory = _ => "coach" };
        var calib = new Option<string>("--calib") { Description = "bits source: calib (bundled calibration split, measured and cached), images:DIR, video:FILE or tensors:FILE (your frames through the model card's preprocessing, label-free: loss = disagreement with the full model), a calibration results JSON, fixed:N, or none (=fixed:8)", DefaultValueFactory = _ => "calib" };
        var calibFrames = new Option<int?>("--calib-frames") { Description = "use only the first N calibration frames" };
        var calibMargin = new Option<double>("--calib-margin") { Description = "standard errors of margin in the bits' accuracy test: loss + z·se ≤ ε (0 = eq. 1 as written)", DefaultValueFactory = _ => CutCalibrator.DefaultStandardErrors };
        var edgeOverhead = new Option<double>("--edge-overhead-ms") { Description = "the edge's per-frame work besides the head's layers (taking the frame, scheduling, packing, sockets), in the edge's ms; added to T_e", DefaultValueFactory = _ => 0.0 };
        var overhead = new Option<double>("--frame-overhead-ms") { Description = "fixed link cost per frame, ms", DefaultValueFactory = _ => 0.5 };
        var dadsLoad = new Option<string>("--dads-load") { Description = "DADS regime: light (latency), heavy (bottleneck) or auto (DADS's switch: light while the light-load cut serves --arrival-fps, else heavy)", DefaultValueFactory = _ => "auto" };
        var arrivalFps = new Option<double?>("--arrival-fps") { Description = "the frames' arrival rate DADS's auto regime compares with its light-load cut's service rate (default: frames taken as fast as the pipeline goes, heavily loaded)" };
        var exitRate = new Option<double>("--spinn-exit-rate") { Description = "share of frames SPINN answers at an early exit (expected-cost model)", DefaultValueFactory = _ => 0.0 };
        var maxCut = new Option<int>("--max-cut-tensors") { Description = $"most tensors a cut may carry (one request's limit; the wire's default is {CutConstraints.MaxTensorsPerFrame}): partitions that cut more are infeasible", DefaultValueFactory = _ => CutConstraints.MaxTensorsPerFrame };
        var wireCoding = new Option<string>("--wire-coding") { Description = "none, or zstd: the edge sends cut tensors zstd-coded and T_t counts their coded sizes and coding time, measured on the calibration frames (docs/entropy.md)", DefaultValueFactory = _ => "none" };
        var inputCodec = new Option<string?>("--input-codec") { Description = "COACH's compressed input cut: jpeg (the frame as JPEG at the quality the codec calibration picks within ε, a candidate beside the layer cuts; the default for a model file) or none (layer cuts only); docs/planner.md §5.4" };
        var output = new Option<string?>("--out") { Description = "folder for head.onnx, tail.onnx and plan.json" };
        var json = new Option<bool>("--json") { Description = "print the plan as one JSON object" };
        var devices = new Option<string?>("--devices") { Description = "a device chain file (schema coach.devices/1, docs/edgepipe.md §4): plan k stages across its edge devices and the cloud, write stage-N.onnx and pipeline.json to --out; --edge-profile is the profile of the devices the file gives none" };
        var explain = new Option<bool>("--explain") { Description = "print the stage picture in words and the size of the search space" };
        var command = new Command("plan", "choose the partition and bits (COACH or a baseline), split the model, write plan.json")
        {
            model, edgeProfile, slowdown, cloudProfile, bandwidth, bandwidthRange, tmax, epsilon, method, calib, calibFrames, calibMargin, edgeOverhead, overhead, dadsLoad, arrivalFps, exitRate, maxCut, wireCoding, inputCodec, output, json, explain, devices,
        };
        command.SetAction(parse =>
        {
            try
            {
                if (parse.GetValue(devices) is { } devicesFile)
                {
                    return RunPipeline(parse.GetValue(model)!, devicesFile, parse.GetValue(edgeProfile), parse.GetValue(epsilon), parse.GetValue(calib)!,
                        parse.GetValue(calibFrames), parse.GetValue(calibMargin), parse.GetValue(output), parse.GetValue(json));
                }
                return Run(
                    parse.GetValue(model)!, parse.GetValue(edgeProfile), parse.GetValue(slowdown), parse.GetValue(cloudProfile),
                    parse.GetValue(bandwidth)!, parse.GetValue(bandwidthRange), parse.GetValue(tmax), parse.GetValue(epsilon), parse.GetValue(method)!,
                    parse.GetValue(calib)!, parse.GetValue(calibFrames), parse.GetValue(calibMargin), parse.GetValue(edgeOverhead), parse.GetValue(overhead), parse.GetValue(dadsLoad)!, parse.GetValue(arrivalFps),
                    parse.GetValue(exitRate), parse.GetValue(maxCut), parse.GetValue(wireCoding)!, parse.GetValue(inputCodec), parse.GetValue(output), parse.GetValue(json), parse.GetValue(explain));
            }
            catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or FormatException or InvalidOperationException or KeyNotFoundException
                or ModelGraphException or ProfileMismatchException or PlanInfeasibleException or InvalidCutException or OrtException or UnauthorizedAccessException
                or MemoryBudgetException)
            {
                Console.Error.WriteLine($"coach plan: {e.Message}");
                return e is PlanInfeasibleException or MemoryBudgetException ? 4 : 1;
            }
        });
        return command;
    }

    private static int Run(string modelArg, string? edgePath, double slowdown, string? cloudPath, string bandwidthText, string? bandwidthRange, double? tmaxMs,
        double epsilon, string method, string calib, int? calibFrames, double calibMargin, double edgeOverheadMs, double overheadMs, string dadsLoadText, double? arrivalFps, double exitRate,
        int maxCutTensors, string wireCoding, string? inputCodec, string? outDir, bool json, bool explain)
    {
        var dadsLoad = dadsLoadText switch
        {
            "light" => DadsLoad.Light,
            "heavy" => DadsLoad.Heavy,
            "auto" => DadsLoad.Auto,
            _ => throw new ArgumentException($"--dads-load must be light, heavy or auto, not '{dadsLoadText}'"),
        };
        var result = PlanningSession.Run(new PlanningOptions
        {
            Model = modelArg,
            EdgeProfile = edgePath,
            CloudProfile = cloudPath,
            EdgeSlowdown = slowdown,
            Bandwidth = bandwidthText,
            BandwidthRange = bandwidthRange,
            LatencyBudgetMs = tmaxMs,
            Epsilon = epsilon,
            Method = method,
            BitsSource = calib,
            CalibrationFrames = calibFrames,
            CalibrationMargin = calibMargin,
            EdgeOverheadMs = edgeOverheadMs,
            FrameOverheadMs = overheadMs,
            DadsLoad = dadsLoad,
            ArrivalFps = arrivalFps is { } rate ? (rate > 0 ? rate : throw new ArgumentException($"--arrival-fps is a positive rate of frames a second, not {rate}")) : double.PositiveInfinity,
            SpinnExitRate = exitRate,
            MaxCutTensors = maxCutTensors,
            WireCoding = wireCoding,
            InputCodec = inputCodec,
            OutputDirectory = outDir,
        });
        var (doc, problem, plan) = (result.Document, result.Problem, result.Plan);
        if (explain)
        {
            Console.WriteLine(PlanExplanation.Describe(problem, plan));
            var space = PlanExplanation.SearchSpace(problem);
            Console.WriteLine($"Search space: {space.Layers} layers; {space.Ideals.ToString(CultureInfo.InvariantCulture)} valid partitions (downward-closed layer sets, counted on the divide-and-conquer decomposition without enumerating them) "
                + $"out of 2^{space.Layers} = {Scientific(space.LayerSubsets)} layer subsets a brute force over subsets would test; "
                + $"{space.SeriesBlocks} series blocks at the top level, the largest with {space.LargestBlockIdeals} partitions. "
                + $"With b in {{2..8, 32}} per cut tensor, joint (partition, bits) choices: up to {Scientific(space.Ideals * System.Numerics.BigInteger.Pow(8, Math.Max(1, plan.CutTensors.Length)))}.");
            Console.WriteLine($"Planner time {plan.PlannerMilliseconds:F3} ms ({plan.CandidatesExamined} candidates), calibration {result.CalibrationTime.TotalMilliseconds:F0} ms ({result.CalibrationCalls} cuts asked).");
        }
        if (json)
        {
            Console.WriteLine(doc.ToJson(indented: false));
        }
        else if (!explain)
        {
            Console.WriteLine($"{doc.Method}: cut [{string.Join(", ", doc.CutTensors.Select(c => $"{c.Name}@{c.Bits}b"))}], T_e {doc.TEdgeMs:F3} ms, T_t {doc.TTransMs:F3} ms, T_c {doc.TCloudMs:F3} ms, "
                + $"latency {doc.LatencyMs:F3} ms, throughput {doc.ThroughputFps:F1} fps, bubbles {doc.BubbleMs:F3} ms, planner {doc.PlannerMs:F3} ms{(outDir is null ? "" : $" -> {outDir}")}");
            if (doc.InputCodec is { } codec)
            {
                Console.WriteLine($"  frames as {(codec.Codec == "h264" ? "H.264 crf" : "JPEG quality")} {codec.Quality}: {codec.BytesPerFrame:F0} B and {codec.EncodeMs:F3} ms (edge) a frame, accuracy {codec.Accuracy:P2} against {codec.RawAccuracy:P2} raw on {codec.Frames} calibration frames");
            }
            if (doc.CutChoice is { } choice)
            {
                Console.WriteLine($"  {choice.Reason}");
            }
        }
        return 0;
    }

    /// <summary>k stages across a device chain (docs/edgepipe.md): one JSON plan with every stage's T, memory and bits.</summary>
    private static int RunPipeline(string modelArg, string devicesFile, string? referenceProfile, double epsilon, string calib, int? calibFrames, double calibMargin,
        string? outDir, bool json)
    {
        var result = PipelinePlanningSession.Run(new PipelinePlanningOptions
        {
            Model = modelArg,
            DevicesFile = devicesFile,
            ReferenceProfile = referenceProfile,
            Epsilon = epsilon,
            BitsSource = calib,
            CalibrationFrames = calibFrames,
            CalibrationMargin = calibMargin,
            OutputDirectory = outDir,
        });
        var doc = result.Document;
        if (json)
        {
            Console.WriteLine(doc.ToJson(indented: false));
            return 0;
        }
        Console.WriteLine($"{doc.K} stages: bottleneck {doc.BottleneckMs:F3} ms ({doc.ThroughputFps:F1} fps), serial latency {doc.SerialLatencyMs:F3} ms, planner {doc.PlannerMs:F1} ms"
            + $" ({doc.Ideals} ideals, {doc.NestedPairs} nested pairs, {doc.OrdersTried} orders){(outDir is null ? "" : $" -> {outDir}")}");
        foreach (var s in doc.Stages)
        {
            var budget = s.MemoryBudgetBytes is { } b ? $" of {b / 1e6:F1} MB" : "";
            var link = s.Link is { } l ? $"; sends [{string.Join(", ", l.CutTensors.Select(c => $"{c.Name}@{c.Bits}b"))}] T_link {l.TMs:F3} ms" : "";
            Console.WriteLine($"  {s.Index}. {s.Device}: {s.Layers} layers, T {s.TMs:F3} ms, memory {s.MemoryBytes / 1e6:F1} MB{budget}{link}");
        }
        return 0;
    }

    private static string Scientific(System.Numerics.BigInteger value)
    {
        var digits = value.ToString(CultureInfo.InvariantCulture);
        return digits.Length <= 12 ? digits : $"{digits[0]}.{digits[1..4]}e{digits.Length - 1}";
    }
}
