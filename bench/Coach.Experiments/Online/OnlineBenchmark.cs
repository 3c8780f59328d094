using System.Text.Json;
using Coach.Engine.Data;
using Coach.Engine.Online;
using Coach.Engine.Onnx.Proto;
using Coach.Engine.Planning;
using Coach.Engine.Splitting;

namespace Coach.Experiments;

/// <summary>What <see cref="OnlineBenchmark"/> splits and how it calibrates and streams (the options of <c>coach bench online</c>).</summary>
public sealed record OnlineBenchmarkOptions
{
    /// <summary>A folder written by <c>coach plan --out</c>; null to split <see cref="Model"/> at <see cref="Cut"/>.</summary>
    public string? PlanDirectory { get; init; }

    /// <summary>A bundled model's name or an .onnx path, split when there is no plan.</summary>
    public string Model { get; init; } = "resnet-fm112";

    /// <summary>Comma-separated cut tensor names (with <see cref="Model"/>).</summary>
    public string? Cut { get; init; }

    /// <summary>Tasks per correlation level.</summary>
    public int Frames { get; init; } = 1000;

    public int RunLength { get; init; } = new OnlineEvaluationOptions().StreamRunLength;

    /// <summary>Calibration samples to use (0 = all).</summary>
    public int CalibrationCount { get; init; }

    /// <summary>Uplink bandwidth B̂ (default: the plan's, else 10).</summary>
    public double? BandwidthMbps { get; init; }

    /// <summary>The offline bits of the cut (default: the plan's, else 8).</summary>
    public int? PlanBits { get; init; }

    /// <summary>Decay window W of the semantic centres (0 = chosen by the stream calibration).</summary>
    public int CentreWindow { get; init; }

    public int FeedbackDelay { get; init; } = new OnlineEvaluationOptions().FeedbackDelayFrames;

    public int CalibrationStreamFrames { get; init; } = new OnlineEvaluationOptions().StreamCalibrationFrames;

    public int Seed { get; init; } = 7;

    public double BudgetShare { get; init; } = new OnlineEvaluationOptions().BudgetShare;

    public double ExitShare { get; init; } = new OnlineEvaluationOptions().ExitShare;

    public int FeatureBands { get; init; } = new OnlineEvaluationOptions().FeatureBands;

    /// <summary>Compare raw GAP features as the paper does (default: standardised on the calibration features).</summary>
    public bool RawFeatures { get; init; }

    /// <summary>Leave temporal reuse off (exits only by S_ext against the label centres).</summary>
    public bool NoReuse { get; init; }
}

/// <summary>
/// <c>coach bench online</c>: the online component (semantic centres, separability, early exit, adaptive bits) on a model split
/// at a cut, over low/medium/high correlated streams: EER, accuracy against the full model, bytes per frame.
/// </summary>
public static class OnlineBenchmark
{
    /// <summary>Calibrates the scheduler of the split and runs it over low, medium and high correlated test streams; the table (or one JSON object) goes to <paramref name="output"/>, progress to <paramref name="log"/>.</summary>
    /// <exception cref="ArgumentException">An option is out of range, or neither a plan nor a cut was given.</exception>
    public static void Run(OnlineBenchmarkOptions o, bool json, TextWriter output, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(log);
        var (planDirectory, modelName, cut, frameCount, runLength, delay, streamFrames, window) = (o.PlanDirectory, o.Model, o.Cut, o.Frames, o.RunLength, o.FeedbackDelay, o.CalibrationStreamFrames, o.CentreWindow);
        if (frameCount < 1 || runLength < 1 || delay < 0 || streamFrames < 1 || window is 1 or < 0)
        {
            throw new ArgumentException($"need --frames ≥ 1 (got {frameCount}), --run-length ≥ 1 (got {runLength}), --feedback-delay ≥ 0 (got {delay}), --calibration-stream-frames ≥ 1 (got {streamFrames}), --centre-window 0 or ≥ 2 (got {window})");
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
                throw new ArgumentException("give --plan DIR (from `coach plan --out DIR`) or --cut TENSOR[,TENSOR] to split the bundled model.");
            }

            // A bundled model by name, or any ONNX file by path.
            string modelPath = modelName.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) ? modelName : ModelCatalog.Get(modelName).Path;
            var modelProto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelPath));
            var split = ModelSplitter.Split(modelProto, cut.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            if (split.Head is null || split.Tail is null)
            {
                throw new ArgumentException("the cut leaves nothing on one side; pick a tensor inside the model.");
            }

            head = Google.Protobuf.MessageExtensions.ToByteArray(split.Head);
            tail = Google.Protobuf.MessageExtensions.ToByteArray(split.Tail);
            source = $"{modelName} cut at {cut}";
        }

        double bandwidthBytes = o.BandwidthMbps is double mbps ? mbps * 1e6 / 8 : (planBandwidthBps ?? 10e6) / 8;
        var options = new OnlineEvaluationOptions
        {
            PlanBits = o.PlanBits ?? bitsFromPlan ?? 8,
            BandwidthBytesPerSecond = bandwidthBytes,
            CentreWindow = window > 1 ? window : null,
            FeedbackDelayFrames = delay,
            StreamRunLength = runLength,
            StreamCalibrationFrames = streamFrames,
            BudgetShare = o.BudgetShare,
            ExitShare = o.ExitShare,
            EdgeSeconds = planEdgeSeconds,
            CloudSeconds = planCloudSeconds,
            StandardiseFeatures = !o.RawFeatures, TemporalReuse = !o.NoReuse,
            FeatureBands = o.FeatureBands,
        };
        using var inference = new OnnxSplitInference(head, tail);
        var evaluation = new OnlineEvaluation(inference, options);
        // An evenly spaced subset keeps the class balance of the calibration split.
        var calibrationFrames = PlanOnlineCalibration.EvenSubset(BundledData.Load(DataSplit.Calibration), o.CalibrationCount);

        var testFrames = BundledData.Load(DataSplit.Test);
        log.WriteLine($"coach bench online: {source}; cut {string.Join(", ", inference.CutTensors.Select(t => $"{t.Name} [{t.Channels} ch, {t.Length} values]"))}; calibrating on {calibrationFrames.Count} frames ({calibrationFrames.Source})");
        var calibration = evaluation.Calibrate(calibrationFrames);
        log.WriteLine($"coach bench online: S_ext {calibration.ExitThreshold?.ToString("0.###") ?? "off"}, reuse {calibration.ReuseThreshold?.ToString("0.###") ?? "off"}, S_adj {string.Join(" ", calibration.BitThresholds.Select(t => $"{t.Bits}b>{t.MinSeparability:0.###}"))}, plan bits {calibration.PlanBits}; calibration accuracy full {calibration.FullAccuracy:P2} → policy {calibration.PolicyAccuracy:P2}; T_e {evaluation.EdgeSeconds * 1e3:0.00} ms, T_c {evaluation.CloudSeconds * 1e3:0.00} ms, B̂ {bandwidthBytes * 8 / 1e6:0.##} Mbit/s");
        log.WriteLine($"coach bench online: centre window W {evaluation.CentreWindow?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "exact mean"}, label feedback after {delay} frames, run length {runLength}, exit guards: agree with the last {calibration.CloudAgreementFrames} cloud labels, at most {calibration.MaxConsecutiveExits?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unlimited"} exits in a row; on the calibration streams: {string.Join("; ", calibration.StreamLevels.Select(l => $"{l.Correlation} EER {l.EarlyExitRatio:P1} loss {l.AccuracyLoss * 100:0.00}%"))}");

        var results = new List<StreamEvaluation>();
        foreach (var level in new[] { StreamCorrelation.Low, StreamCorrelation.Medium, StreamCorrelation.High })
        {
            var stream = TaskStream.Create(testFrames, level, frameCount, runLength, o.Seed);
            results.Add(evaluation.Run(stream));
        }

        if (json)
        {
            output.WriteLine(Json(source, calibration, evaluation, bandwidthBytes, results));
        }
        else
        {
            output.WriteLine($"{"level",-7} {"frames",7} {"EER",7} {"accuracy",9} {"full model",10} {"loss",7} {"agree",7} {"bytes/frame",12} {"mean bits",9} {"loss exits",10} {"loss bits",9}");
            foreach (var r in results)
            {
                output.WriteLine($"{r.Correlation,-7} {r.Frames,7} {r.EarlyExitRatio,7:P1} {r.Accuracy,9:P2} {r.FullModelAccuracy,10:P2} {r.AccuracyLoss * 100,6:0.00}% {r.AgreementWithFullModel,7:P1} {r.MeanBytesPerFrame,12:N0} {r.MeanBitsSent,9:0.00} {r.LossFromExits * 100,9:0.00}% {r.LossFromBits * 100,8:0.00}%");
            }

            bool rises = results[0].EarlyExitRatio < results[1].EarlyExitRatio && results[1].EarlyExitRatio < results[2].EarlyExitRatio;
            bool falls = results[0].MeanBytesPerFrame > results[1].MeanBytesPerFrame && results[1].MeanBytesPerFrame > results[2].MeanBytesPerFrame;
            bool withinLoss = results.All(r => r.AccuracyLoss <= 0.005 + 1e-9); // 10 of 2,000 frames is 0.5 % exactly
            output.WriteLine($"EER rises low→medium→high: {(rises ? "yes" : "NO")}; bytes/frame fall: {(falls ? "yes" : "NO")}; loss ≤ 0.5 % at every level: {(withinLoss ? "yes" : "NO")}");
        }
    }

    private static string Json(string source, SchedulerCalibration calibration, OnlineEvaluation evaluation, double bandwidthBytes, List<StreamEvaluation> results)
    {
        using var stream = new MemoryStream();
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

        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }
}
