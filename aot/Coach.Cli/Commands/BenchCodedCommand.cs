using System.CommandLine;
using Coach.Experiments.Coded;

namespace Coach.Cli.Commands;

/// <summary><c>coach bench coded [--quick] [--json]</c>: coded vs uncoded vs replicated convolution on worker processes (<see cref="CodedBenchmark"/>).</summary>
internal static class BenchCodedCommand
{
    public static Command Create()
    {
        var quick = new Option<bool>("--quick") { Description = "40 frames (a minute or two on a 2-core machine)" };
        var json = new Option<bool>("--json") { Description = "print one JSON object on the last line" };
        var workers = new Option<int>("--workers") { Description = "worker processes, n", DefaultValueFactory = _ => 5 };
        var frames = new Option<int>("--frames") { Description = "frames (default 40 with --quick, else 200)", DefaultValueFactory = _ => 0 };
        var slowdown = new Option<double>("--slowdown") { Description = "each frame one worker, drawn at random, is this many times slower", DefaultValueFactory = _ => 5 };
        var device = new Option<double>("--device-slowdown") { Description = "every worker emulates a device this many times slower than this machine (compute stretched by waiting)", DefaultValueFactory = _ => 10 };
        var noKill = new Option<bool>("--no-kill") { Description = "do not kill a worker half-way" };
        var model = new Option<string>("--model") { Description = "bundled chain model", DefaultValueFactory = _ => "vgg-fm112" };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 1 };
        var command = new Command("coded", "coded distributed convolution (CoCoI) against uncoded and replicated splitting, with a random straggler and a killed worker")
        {
            quick, json, workers, frames, slowdown, device, noKill, model, seed,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = new CodedBenchSettings
            {
                Model = parse.GetValue(model)!,
                Workers = parse.GetValue(workers),
                Frames = parse.GetValue(frames) is > 0 and var f ? f : parse.GetValue(quick) ? 40 : 200,
                Slowdown = parse.GetValue(slowdown),
                DeviceSlowdown = parse.GetValue(device),
                KillOne = !parse.GetValue(noKill),
                Seed = parse.GetValue(seed),
            };
            try
            {
                return await CodedBenchmark.RunAsync(settings, Console.Error, Console.Out, parse.GetValue(json), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or ArgumentException)
            {
                Console.Error.WriteLine($"coach bench coded: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
