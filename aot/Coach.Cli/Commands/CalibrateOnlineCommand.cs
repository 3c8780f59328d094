using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Coach.Engine.Data;
using Coach.Engine.Online;

namespace Coach.Cli.Commands;

/// <summary>
/// <c>coach calibrate-online --plan DIR [--frames 1000] [--epsilon 0.005] [--json]</c>: the one-time calibration of the online
/// scheduler for a plan (paper §III-C): S_ext and S_adj on the calibration split so that early exits and reduced bits keep the
/// accuracy loss ≤ ε, and the label semantic centres warmed on the same frames; written to <c>DIR/scheduler.json</c>, which
/// <c>coach-edge run</c> loads (plan.json is left untouched). <c>--data images:DIR|video:FILE</c> calibrates on the user's
/// frames, labelled by the full model's top-1 (label-free, docs/data.md); a model whose output is not class scores gets the
/// adaptive-bits-only scheduler (docs/online.md).
/// </summary>
internal static class CalibrateOnlineCommand
{
    public static Command Create()
    {
        var plan = new Option<DirectoryInfo>("--plan") { Description = "plan directory written by `coach plan --out DIR` (plan.json, head.onnx, tail.onnx)", Required = true };
        var frames = new Option<int>("--frames") { Description = "calibration frames to use, evenly spaced over the calibration split (0 = all)", DefaultValueFactory = _ => OnlineCalibrationSession.DefaultFrames };
        var epsilon = new Option<double>("--epsilon") { Description = "accuracy loss against the full model the early exits and reduced bits may cost", DefaultValueFactory = _ => 0.005 };
        var budgetShare = new Option<double>("--budget-share") { Description = "share of ε spent on the calibration set (the rest is a margin for the stream)", DefaultValueFactory = _ => new OnlineEvaluationOptions().BudgetShare };
        var window = new Option<int>("--centre-window") { Description = "decay window W of the semantic centres on the stream (0 = chosen on simulated calibration streams from 4, 8, 16, 32 and the exact eq. 7 mean)", DefaultValueFactory = _ => 0 };
        var delay = new Option<int>("--feedback-delay") { Description = "frames until the cloud's label for a sent frame reaches the centres on the edge (pipeline depth)", DefaultValueFactory = _ => new OnlineEvaluationOptions().FeedbackDelayFrames };
        var runLength = new Option<int>("--run-length") { Description = "frames per run of one class (medium) or one sample (high) in the simulated calibration streams", DefaultValueFactory = _ => new OnlineEvaluationOptions().StreamRunLength };
        var minBits = new Option<int>("--min-bits") { Description = "fewest bits the scheduler may send", DefaultValueFactory = _ => new OnlineEvaluationOptions().MinBits };
        var bands = new Option<int>("--feature-bands") { Description = "horizontal bands each channel of the cut tensors is pooled over (1 = the paper's GAP)", DefaultValueFactory = _ => new OnlineEvaluationOptions().FeatureBands };
        var rawFeatures = new Option<bool>("--raw-features") { Description = "compare raw GAP features as the paper does (default: standardised on the calibration features)" };
        var noReuse = new Option<bool>("--no-reuse") { Description = "leave temporal reuse off (exits only by S_ext against the label centres)" };
        var data = new Option<string>("--data") { Description = "calibration frames: calib (the bundled calibration split) or images:DIR / video:FILE (your frames at the model's input size, labelled by the full model's top-1)", DefaultValueFactory = _ => "calib" };
        var model = new Option<FileInfo?>("--model") { Description = "the full ONNX model the plan was cut from, to label --data frames (default: plan.json's model path)" };
        var streamFrames = new Option<int>("--stream-frames") { Description = "frames per simulated calibration stream (low, medium, high)", DefaultValueFactory = _ => new OnlineEvaluationOptions().StreamCalibrationFrames };
        var adaptiveBitsOnly = new Option<bool>("--adaptive-bits-only") { Description = "no semantic cache and no early exit, only eq. 11's adaptive bits (automatic when the tail's output is not [N, classes]; give it for an embedding model)" };
        var json = new Option<bool>("--json") { Description = "print the stored scheduler state's calibration as one JSON object on the last line" };
        var command = new Command("calibrate-online", "calibrate the online scheduler (S_ext, S_adj, warm semantic centres) of a plan into DIR/scheduler.json")
        {
            plan, frames, epsilon, budgetShare, window, delay, runLength, minBits, bands, rawFeatures, noReuse, data, model, streamFrames, adaptiveBitsOnly, json,
        };
        command.SetAction(parse => Run(parse.GetValue(plan)!, parse.GetValue(frames), parse.GetValue(epsilon), parse.GetValue(budgetShare),
            parse.GetValue(window), parse.GetValue(delay), parse.GetValue(runLength), parse.GetValue(minBits), parse.GetValue(bands), parse.GetValue(rawFeatures), parse.GetValue(noReuse),
            new UserData(parse.GetValue(data)!, parse.GetValue(model), parse.GetValue(streamFrames), parse.GetValue(adaptiveBitsOnly)), parse.GetValue(json)));
        return command;
    }

    private sealed record UserData(string Spec, FileInfo? Model, int StreamFrames, bool AdaptiveBitsOnly);

    private static int Run(DirectoryInfo plan, int frameCount, double epsilon, double budgetShare, int window, int delay, int runLength, int minBits, int bands, bool rawFeatures, bool noReuse, UserData user, bool json)
    {
        if (delay < 0 || runLength < 1 || user.StreamFrames < 1)
        {
            Console.Error.WriteLine($"coach calibrate-online: need --feedback-delay ≥ 0 (got {delay}), --run-length ≥ 1 (got {runLength}) and --stream-frames ≥ 1 (got {user.StreamFrames})");
            return 2;
        }

        if (!(epsilon is > 0 and < 1) || !(budgetShare is > 0 and <= 1) || frameCount < 0 || minBits is < 1 or > 8 || window is 1 or < 0)
        {
            Console.Error.WriteLine($"coach calibrate-online: need 0 < --epsilon < 1 (got {epsilon}), 0 < --budget-share ≤ 1 (got {budgetShare}), --frames ≥ 0 (got {frameCount}), 1 ≤ --min-bits ≤ 8 (got {minBits}), --centre-window 0 or ≥ 2 (got {window})");
            return 2;
        }

        try
        {
            ILabelledFrames calibrationFrames = user.Spec == "calib"
                ? OnlineCalibrationSession.CalibrationFrames(frameCount)
                : OnlineCalibrationSession.UserFrames(plan.FullName, user.Spec, user.Model?.FullName, frameCount, user.AdaptiveBitsOnly, note => Console.Error.WriteLine($"coach calibrate-online: {note}"));
            Console.Error.WriteLine($"coach calibrate-online: {plan.FullName}; {calibrationFrames.Count} calibration frames from {calibrationFrames.Source}");
            var clock = Stopwatch.StartNew();
            var lastDraw = TimeSpan.Zero;
            var options = new OnlineEvaluationOptions { Epsilon = epsilon, BudgetShare = budgetShare, CentreWindow = window >= 2 ? window : null, MinBits = minBits, FeedbackDelayFrames = delay, StreamRunLength = runLength, StandardiseFeatures = !rawFeatures, TemporalReuse = !noReuse, FeatureBands = bands, StreamCalibrationFrames = user.StreamFrames };
            var (state, path, elapsed) = OnlineCalibrationSession.Run(plan.FullName, calibrationFrames, options, (done, total) =>
            {
                if (done == total || clock.Elapsed - lastDraw > TimeSpan.FromMilliseconds(250))
                {
                    lastDraw = clock.Elapsed;
                    Console.Error.Write($"\r  head → UAQ({options.MinBits}…plan bits) → tail: {done}/{total}");
                }
            }, user.AdaptiveBitsOnly);
            Console.Error.WriteLine();
            var c = state.Calibration;
            if (state.AdaptiveBitsOnly)
            {
                Console.WriteLine($"plan {state.PlanId}: adaptive bits only (eq. 11 from the live bandwidth, {c.PlanBits}…{c.MaxBits} bits; no semantic cache, no early exit): {state.ModeReason}");
                Console.WriteLine($"  head {state.CalibrationEdgeMs:0.00} ms, tail {state.CalibrationCloudMs:0.00} ms here over {c.SampleCount} frames; {elapsed.TotalSeconds:0.0} s");
                Console.WriteLine($"  wrote {path}");
                WriteJson(json, state, path);
                return 0;
            }

            Console.WriteLine($"plan {state.PlanId}: feature {state.FeatureLength} values from {string.Join(", ", state.CutTensors.Select(t => $"{t.Name} ({t.Channels} ch)"))}");
            Console.WriteLine($"  S_ext {c.ExitThreshold?.ToString("0.####") ?? "off (no safe early exit)"}; reuse if cos > {c.ReuseThreshold?.ToString("0.####") ?? "off"}; S_adj {(c.BitThresholds.Count == 0 ? "none (plan bits only)" : string.Join("  ", c.BitThresholds.Select(t => $"{t.Bits} bits if S > {t.MinSeparability:0.####}")))}; plan bits {c.PlanBits}");
            Console.WriteLine($"  calibration: full model {c.FullAccuracy:P2}, with the policy {c.PolicyAccuracy:P2} (loss {(c.FullAccuracy - c.PolicyAccuracy) * 100:0.00} points, ε {c.Epsilon * 100:0.##} %); early exits {c.ExitRatio:P1}; mean Q_r of sent frames {c.MeanBits:0.00}");
            Console.WriteLine($"  centres warm from {c.SampleCount} frames, window {(state.CentreWindow?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none (exact mean)")}; head {state.CalibrationEdgeMs:0.00} ms, tail {state.CalibrationCloudMs:0.00} ms here; {elapsed.TotalSeconds:0.0} s");
            Console.WriteLine($"  fitted on simulated streams (run length {state.StreamRunLength}, label feedback after {state.FeedbackDelayFrames} frames): {string.Join("; ", c.StreamLevels.Select(l => $"{l.Correlation} EER {l.EarlyExitRatio:P1}, loss {l.AccuracyLoss * 100:0.00} %"))}; exit guards: agree with the last {c.CloudAgreementFrames} cloud labels, at most {c.MaxConsecutiveExits?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unlimited"} exits in a row");
            Console.WriteLine($"  wrote {path}");
            WriteJson(json, state, path);
            return 0;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or InvalidDataException or IOException
                                      or ArgumentException or FormatException or Coach.Native.OnnxRuntime.OrtException or ModelDataMismatchException)
        {
            Console.Error.WriteLine($"coach calibrate-online: {e.Message}{(Environment.GetEnvironmentVariable("COACH_TRACE") is null ? string.Empty : Environment.NewLine + e.StackTrace)}");
            return 1;
        }
    }

    private static void WriteJson(bool json, SchedulerState state, string path)
    {
        if (!json)
        {
            return;
        }

        using var stream = Console.OpenStandardOutput();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("plan", state.PlanId);
            w.WriteString("path", path);
            w.WriteString("mode", state.Mode);
            if (state.ModeReason is not null)
            {
                w.WriteString("mode_reason", state.ModeReason);
            }

            w.WriteBoolean("early_exit", !state.AdaptiveBitsOnly);
            w.WriteNumber("labels", state.LabelCount);
            w.WriteNumber("feature_length", state.FeatureLength);
            w.WriteNumber("centre_window", state.CentreWindow ?? 0);
            w.WriteNumber("feedback_delay_frames", state.FeedbackDelayFrames ?? 0);
            w.WriteString("calibration_source", state.CalibrationSource);
            w.WritePropertyName("calibration");
            using (var calibration = JsonDocument.Parse(state.Calibration.ToJson()))
            {
                calibration.RootElement.WriteTo(w); // compact: the whole object stays on the last line
            }

            w.WriteEndObject();
        }

        stream.WriteByte((byte)'\n');
    }
}
