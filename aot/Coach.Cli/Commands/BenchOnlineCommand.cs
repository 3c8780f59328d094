using System.CommandLine;
using Coach.Engine.Online;
using Coach.Engine.Splitting;
using Coach.Experiments;

namespace Coach.Cli.Commands;

/// <summary><c>coach bench online</c>: the online scheduler on low/medium/high correlated streams (<see cref="OnlineBenchmark"/>).</summary>
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
                var options = new OnlineBenchmarkOptions
                {
                    PlanDirectory = parse.GetValue(plan),
                    Model = parse.GetValue(model)!,
                    Cut = parse.GetValue(cut),
                    Frames = parse.GetValue(frames),
                    RunLength = parse.GetValue(runLength),
                    CalibrationCount = parse.GetValue(calibrationCount),
                    BandwidthMbps = parse.GetValue(bandwidth),
                    PlanBits = parse.GetValue(planBits),
                    CentreWindow = parse.GetValue(window),
                    FeedbackDelay = parse.GetValue(delay),
                    CalibrationStreamFrames = parse.GetValue(streamFrames),
                    Seed = parse.GetValue(seed),
                    BudgetShare = parse.GetValue(budgetShare),
                    ExitShare = parse.GetValue(exitShare),
                    FeatureBands = parse.GetValue(bands),
                    RawFeatures = parse.GetValue(rawFeatures),
                    NoReuse = parse.GetValue(noReuse),
                };
                OnlineBenchmark.Run(options, parse.GetValue(json), Console.Out, Console.Error);
                return 0;
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or InvalidDataException or InvalidCutException or KeyNotFoundException or ArgumentException)
            {
                Console.Error.WriteLine($"coach bench online: {e.Message}");
                return 2;
            }
        });
        return command;
    }
}
