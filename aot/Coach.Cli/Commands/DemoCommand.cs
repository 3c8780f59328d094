using System.CommandLine;
using Coach.Engine.Data;
using Coach.Experiments;

namespace Coach.Cli.Commands;

/// <summary>
/// <c>coach demo</c>: COACH against the baselines end to end on the bundled model (<see cref="DemoRun"/>); with
/// <c>--model FILE --data images:DIR|video:FILE</c> the same pipeline on the user's model and frames (README.md, docs/online.md).
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "print the comparison as one JSON object on the last line" };
        var frames = new Option<int>("--frames") { Description = "frames per method", DefaultValueFactory = _ => 1000 };
        var bandwidth = new Option<string>("--bandwidth") { Description = "uplink rate (in-process shaper), tc syntax", DefaultValueFactory = _ => "20mbit" };
        var slowdown = new Option<double>("--edge-slowdown") { Description = "how many times slower than this machine the edge is (CPU cgroup quota; needs root)", DefaultValueFactory = _ => 4.0 };
        var model = new Option<string>("--model") { Description = "bundled model name or ONNX file", DefaultValueFactory = _ => "resnet-fm112" };
        var bin = new Option<string?>("--bin") { Description = "folder with the published coach-edge and coach-cloud (default dist/linux-x64)" };
        var data = new Option<string?>("--data") { Description = "your frames, images:DIR or video:FILE: the edge runs them, and the plan's bits and the online scheduler are calibrated on them label-free (default: the bundled stream and calibration split)" };
        var calibFrames = new Option<int>("--calib-frames") { Description = "with --data: frames the offline and online calibrations use (0 = all)", DefaultValueFactory = _ => 100 };
        var command = new Command("demo", "run COACH and the baselines end to end on the bundled model and data (or --model FILE --data images:DIR), and compare") { json, frames, bandwidth, slowdown, model, bin, data, calibFrames };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var root = ModelCatalog.RepositoryRoot;
            var settings = new ExperimentSettings
            {
                Model = parse.GetValue(model)!,
                Bandwidth = parse.GetValue(bandwidth)!,
                EdgeSlowdown = parse.GetValue(slowdown),
                Frames = parse.GetValue(frames),
                Correlation = StreamCorrelation.Medium,
                WorkDirectory = Path.Combine(root, ".cache", "demo"),
                BinaryDirectory = parse.GetValue(bin) ?? PublishedBinaries.DefaultDirectory,
                Data = parse.GetValue(data),
                CalibrationFrames = Math.Max(0, parse.GetValue(calibFrames)),
            };
            if (settings.Data is { } spec && !Coach.Engine.Data.Media.MediaSource.IsMedia(spec))
            {
                Console.Error.WriteLine($"coach demo: --data {spec}: expected images:DIR (a folder of JPEG/PNG images) or video:FILE");
                return 2;
            }

            try
            {
                await DemoRun.RunAsync(settings, parse.GetValue(json), Console.Out, Console.Error, cancellationToken).ConfigureAwait(false);
                return 0;
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or TimeoutException or ArgumentException or UnauthorizedAccessException or InvalidDataException)
            {
                Console.Error.WriteLine($"coach demo: {e.Message}");
                return 1;
            }
        });
        return command;
    }

}
