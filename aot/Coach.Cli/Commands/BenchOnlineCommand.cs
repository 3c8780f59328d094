using System.CommandLine;
using System.Text.Json;
using Coach.Engine.Data;
using Coach.Engine.Online;
using Coach.Engine.Onnx.Proto;
using Coach.Engine.Planning;
using Coach.Engine.Splitting;

namespace Coach.Cli.Commands;

/// <summary>
/// <c>coach bench online</c>: the online component (semantic centres, separability, early exit, adaptive bits) on the bundled
/// model split at a cut, over low/medium/high correlated streams: EER, accuracy against the full model, bytes per frame.
/// </summary>
internal static class BenchOnlineCommand
{
    public static Command Create()
    {
        var plan = new Option<string?>("--plan") { Description = "folder written by `coach plan --out` (head.onnx, tail.onnx, plan.json)" };
        var model = new Option<string>("--model") { Description = "bundled model (or an .onnx path) to split when no --plan is given", DefaultValueFactory = _ => "resnet-fm112" };
        var cut = new Option<string?>("--cut") { Description = "comma-separated cut tensor names (with --model)" };
        var frames = new Option<int>("--frames") { Description = "tasks per correlation level", DefaultValueFactory = _ => 1000 };
        var runLength = new Option<int>("--run-length") { Description = "tasks per run of one class (medium) or one sample (high): 30 = 1 s of 30 fps video; the simulated calibration streams use the same", DefaultValueFactory = _ => new OnlineEvaluationOptions().StreamRunLength };
        var calibrationCount = new Option<int>("--calibration") { Description = "calibration samples to use (0 = all)", DefaultValueFactory = _ => 0 };
        var bandwidth = new Option<double?>("--bandwidth-mbps") { Description = "uplink bandwidth B̂ (default: the plan's, else 10)" };
        var planBits = new Option<int?>("--plan-bits") { Description = "the offline bits of the cut (default: the plan's, else 8)" };
        var window = new Option<int>("--centre-window") { Description = "decay window W of the semantic centres (0 = chosen by the stream calibration from 4, 8, 16, 32 and the exact eq. 7 mean)", DefaultValueFactory = _ => 0 };
        var delay = new Option<int>("--feedback-delay") { Description = "frames until the cloud's label for a sent frame reaches the centres (pipeline depth)", DefaultValueFactory = _ => new OnlineEvaluationOptions().FeedbackDelayFrames };
        var streamFrames = new Option<int>("--calibration-stream-frames") { Description = "frames per simulated calibration stream (built from the calibration split)", DefaultValueFactory = _ => new OnlineEvaluationOptions().StreamCalibrationFrames };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 7 };
        var budgetShare = new Option<double>("--budget-share") { Description = "share of ε the calibration may spend (the rest is a margin for the streams)", DefaultValueFactory = _ => new OnlineEvaluationOptions().BudgetShare };
        var exitShare = new Option<double>("--exit-share") { Description = "share of the budget the early exits may use (the rest: reduced bits)", DefaultValueFactory = _ => new OnlineEvaluationOptions().ExitShare };
        var bands = new Option<int>("--feature-bands") { Description = "horizontal bands each channel of the cut tensors is pooled over (1 = the paper's GAP)", DefaultValueFactory = _ => new OnlineEvaluationOptions().FeatureBands };
        var rawFeatures = new Option<bool>("--raw-features") { Description = "compare raw GAP features as the paper does (default: standardised on the calibration features)" };
        var noReuse = new Option<bool>("--no-reuse") { Description = "leave temporal reuse off (exits only by S_ext against the label centres)" };
        var json = new Option<bool>("--json") { Description = "print one JSON object with the table" };
        var command = new Command("online", "early-exit ratio, accuracy and bytes per frame of the online scheduler on low/medium/high correlated streams")
        {
            plan, model, cut, frames, runLength, calibrationCount, bandwidth, planBits, window, delay, streamFrames, seed, budgetShare, exitShare, bands, rawFeatures, noReuse, json,
        };
        command.SetAction(parse =>
        {
            try
            {
                return Run(parse.GetValue(plan), parse.GetValue(model)!, parse.GetValue(cut), parse.GetValue(frames), parse.GetValue(runLength),
                    parse.GetValue(calibrationCount), parse.GetValue(bandwidth), parse.GetValue(planBits), parse.GetValue(window), parse.GetValue(delay), parse.GetValue(streamFrames), parse.GetValue(seed), parse.GetValue(budgetShare), parse.GetValue(exitShare), parse.GetValue(bands), parse.GetValue(rawFeatures), parse.GetValue(noReuse), parse.GetValue(json));
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or InvalidDataException or InvalidCutException or KeyNotFoundException or ArgumentException)
            {
                Console.Error.WriteLine($"coach bench online: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static int Run(string? planDirectory, string modelName, string? cut, int frameCount, int runLength, int calibrationCount,
        double? bandwidthMbps, int? planBits, int window, int delay, int streamFrames, int seed, double budgetShare, double exitShare, int bands, bool rawFeatures, bool noReuse, bool json)
    {
        if (frameCount < 1 || runLength < 1 || delay < 0 || streamFrames < 1 || window is 1 or < 0)
        {
            Console.Error.WriteLine($"coach bench online: need --frames ≥ 1 (got {frameCount}), --run-length ≥ 1 (got {runLength}), --feedback-delay ≥ 0 (got {delay}), --calibration-stream-frames ≥ 1 (got {streamFrames}), --centre-window 0 or ≥ 2 (got {window})");
            return 2;
        }

        byte[] head, tail;
        string source;
        double? planBandwidthBps = null;
        int? bitsFromPlan = null;
        double? planEdgeSeconds = null, planCloudSeconds = null;
        if (planDirectory is not null)
        {
            head = File.ReadAllBytes(Path.Combine(planDirectory, "head.onnx"));
            tail = File.ReadAllBytes(Path.Combine(planDirectory, "tail.onnx"));
            var planDocument = PlanDocument.Load(planDirectory);
            if (planDocument.BandwidthBps > 0)
            {
                planBandwidthBps = planDocument.BandwidthBps;
            }

            bitsFromPlan = PlanOnlineCalibration.PlanBits(planDocument);

            // Eq. 11 weighs transmission against the plan's stage times (what the edge starts from), not this machine's.
            planEdgeSeconds = planDocument.TEdgeMs > 0 ? planDocument.TEdgeMs / 1e3 : null;
            planCloudSeconds = planDocument.TCloudMs > 0 ? planDocument.TCloudMs / 1e3 : null;
            source = $"plan {planDocument.Id} ({planDirectory})";
        }
        else
        {
            if (string.IsNullOrWhiteSpace(cut))
            {
                Console.Error.WriteLine("coach bench online: give --plan DIR (from `coach plan --out DIR`) or --cut TENSOR[,TENSOR] to split the bundled model.");
                return 2;
            }

            // A bundled model by name, or any ONNX file by path.
            string modelPath = modelName.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) ? modelName : ModelCatalog.Get(modelName).Path;
            var modelProto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelPath));
            var split = ModelSplitter.Split(modelProto, cut.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            if (split.Head is null || split.Tail is null)
            {
                Console.Error.WriteLine("coach bench online: the cut leaves nothing on one side; pick a tensor inside the model.");
                return 2;
            }

            head = Google.Protobuf.MessageExtensions.ToByteArray(split.Head);
            tail = Google.Protobuf.MessageExtensions.ToByteArray(split.Tail);
            source = $"{modelName} cut at {cut}";
        }

        double bandwidthBytes = bandwidthMbps is double mbps ? mbps * 1e6 / 8 : (planBandwidthBps ?? 10e6) / 8;
        var options = new OnlineEvaluationOptions
        {
            PlanBits = planBits ?? bitsFromPlan ?? 8,
            BandwidthBytesPerSecond = bandwidthBytes,
            CentreWindow = window > 1 ? window : null,
            FeedbackDelayFrames = delay,
            StreamRunLength = runLength,
            StreamCalibrationFrames = streamFrames,
            BudgetShare = budgetShare,
            ExitShare = exitShare,
            EdgeSeconds = planEdgeSeconds,
            CloudSeconds = planCloudSeconds,
            StandardiseFeatures = !rawFeatures, TemporalReuse = !noReuse,
            FeatureBands = bands,
        };
        using var inference = new OnnxSplitInference(head, tail);
        var evaluation = new OnlineEvaluation(inference, options);
        var calibrationFrames = BundledData.Load(DataSplit.Calibration);
        if (calibrationCount > 0 && calibrationCount < calibrationFrames.Count)
        {
            calibrationFrames = Subset(calibrationFrames, calibrationCount);
        }

        var testFrames = BundledData.Load(DataSplit.Test);
        Console.Error.WriteLine($"coach bench online: {source}; cut {string.Join(", ", inference.CutTensors.Select(t => $"{t.Name} [{t.Channels} ch, {t.Length} values]"))}; calibrating on {calibrationFrames.Count} frames ({calibrationFrames.Source})");
        var calibration = evaluation.Calibrate(calibrationFrames);
        Console.Error.WriteLine($"coach bench online: S_ext {calibration.ExitThreshold?.ToString("0.###") ?? "off"}, reuse {calibration.ReuseThreshold?.ToString("0.###") ?? "off"}, S_adj {string.Join(" ", calibration.BitThresholds.Select(t => $"{t.Bits}b>{t.MinSeparability:0.###}"))}, plan bits {calibration.PlanBits}; calibration accuracy full {calibration.FullAccuracy:P2} → policy {calibration.PolicyAccuracy:P2}; T_e {evaluation.EdgeSeconds * 1e3:0.00} ms, T_c {evaluation.CloudSeconds * 1e3:0.00} ms, B̂ {bandwidthBytes * 8 / 1e6:0.##} Mbit/s");
        Console.Error.WriteLine($"coach bench online: centre window W {evaluation.CentreWindow?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "exact mean"}, label feedback after {delay} frames, run length {runLength}, exit guards: agree with the last {calibration.CloudAgreementFrames} cloud labels, at most {calibration.MaxConsecutiveExits?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unlimited"} exits in a row; on the calibration streams: {string.Join("; ", calibration.StreamLevels.Select(l => $"{l.Correlation} EER {l.EarlyExitRatio:P1} loss {l.AccuracyLoss * 100:0.00}%"))}");

        var results = new List<StreamEvaluation>();
        foreach (var level in new[] { StreamCorrelation.Low, StreamCorrelation.Medium, StreamCorrelation.High })
        {
            var stream = TaskStream.Create(testFrames, level, frameCount, runLength, seed);
            results.Add(evaluation.Run(stream));
        }

        if (json)
        {
            WriteJson(source, calibration, evaluation, bandwidthBytes, results);
        }
        else
        {
            Console.WriteLine($"{"level",-7} {"frames",7} {"EER",7} {"accuracy",9} {"full model",10} {"loss",7} {"agree",7} {"bytes/frame",12} {"mean bits",9} {"loss exits",10} {"loss bits",9}");
            foreach (var r in results)
            {
                Console.WriteLine($"{r.Correlation,-7} {r.Frames,7} {r.EarlyExitRatio,7:P1} {r.Accuracy,9:P2} {r.FullModelAccuracy,10:P2} {r.AccuracyLoss * 100,6:0.00}% {r.AgreementWithFullModel,7:P1} {r.MeanBytesPerFrame,12:N0} {r.MeanBitsSent,9:0.00} {r.LossFromExits * 100,9:0.00}% {r.LossFromBits * 100,8:0.00}%");
            }

            bool rises = results[0].EarlyExitRatio < results[1].EarlyExitRatio && results[1].EarlyExitRatio < results[2].EarlyExitRatio;
            bool falls = results[0].MeanBytesPerFrame > results[1].MeanBytesPerFrame && results[1].MeanBytesPerFrame > results[2].MeanBytesPerFrame;
            bool withinLoss = results.All(r => r.AccuracyLoss <= 0.005 + 1e-9); // 10 of 2,000 frames is 0.5 % exactly
            Console.WriteLine($"EER rises low→medium→high: {(rises ? "yes" : "NO")}; bytes/frame fall: {(falls ? "yes" : "NO")}; loss ≤ 0.5 % at every level: {(withinLoss ? "yes" : "NO")}");
        }

        return 0;
    }

    private static FrameSet Subset(FrameSet frames, int count)
    {
        // An evenly spaced subset keeps the class balance of the calibration split.
        var sources = new byte[count * FrameRenderer.SourcePixels];
        var labels = new byte[count];
        for (int i = 0; i < count; i++)
        {
            int index = (int)((long)i * frames.Count / count);
            frames.SourceImage(index).CopyTo(sources.AsSpan(i * FrameRenderer.SourcePixels));
            labels[i] = (byte)frames.Label(index);
        }

        return new FrameSet(sources, labels, frames.Split, frames.Source + $" (every {frames.Count / count}th)", false, frames.ClassNames);
    }

    private static void WriteJson(string source, SchedulerCalibration calibration, OnlineEvaluation evaluation, double bandwidthBytes, List<StreamEvaluation> results)
    {
        using var stream = Console.OpenStandardOutput();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("source", source);
            w.WriteNumber("edge_ms", evaluation.EdgeSeconds * 1e3);
            w.WriteNumber("centre_window", evaluation.CentreWindow ?? 0);
            w.WriteNumber("cloud_ms", evaluation.CloudSeconds * 1e3);
            w.WriteNumber("bandwidth_mbps", bandwidthBytes * 8 / 1e6);
            w.WriteBoolean("standardised_features", evaluation.Standardisation is not null);
            w.WritePropertyName("calibration");
            w.WriteRawValue(calibration.ToJson());
            w.WriteStartArray("levels");
            foreach (var r in results)
            {
                w.WriteStartObject();
                w.WriteString("correlation", r.Correlation.ToString().ToLowerInvariant());
                w.WriteNumber("frames", r.Frames);
                w.WriteNumber("eer", r.EarlyExitRatio);
                w.WriteNumber("accuracy", r.Accuracy);
                w.WriteNumber("full_accuracy", r.FullModelAccuracy);
                w.WriteNumber("accuracy_loss", r.AccuracyLoss);
                w.WriteNumber("agreement", r.AgreementWithFullModel);
                w.WriteNumber("bytes_per_frame", r.MeanBytesPerFrame);
                w.WriteNumber("mean_bits", r.MeanBitsSent);
                w.WriteNumber("loss_from_exits", r.LossFromExits);
                w.WriteNumber("loss_from_bits", r.LossFromBits);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        stream.WriteByte((byte)'\n');
    }
}
