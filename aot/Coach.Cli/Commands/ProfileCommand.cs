using System.CommandLine;
using Coach.Engine.Profiling;
using Coach.Native.OnnxRuntime;

namespace Coach.Cli.Commands;

/// <summary>`coach profile`: per-layer latency of a model on this machine (docs/planner.md §2).</summary>
internal static class ProfileCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "ONNX model file", Required = true };
        var device = new Option<string>("--device") { Description = "name of the device this profile stands for (e.g. server, xavier-nx)", Required = true };
        var output = new Option<string>("--out") { Description = "profile JSON to write", Required = true };
        var runs = new Option<int>("--runs") { Description = "measured runs (after warm-up); each layer's time is the median", DefaultValueFactory = _ => 20 };
        var provider = new Option<string>("--provider") { Description = "execution provider: cpu, cuda or tensorrt", DefaultValueFactory = _ => "cpu" };
        var threads = new Option<int>("--threads") { Description = "intra-op threads (0 = ONNX Runtime's default)", DefaultValueFactory = _ => 0 };
        var command = new Command("profile", "measure per-layer latency with ONNX Runtime's profiler and write a layer profile") { model, device, output, runs, provider, threads };
        command.SetAction(parse =>
        {
            try
            {
                if (!ExecutionProviderExtensions.TryParse(parse.GetValue(provider)!, out var ep))
                {
                    Console.Error.WriteLine($"coach profile: unknown provider '{parse.GetValue(provider)}'; use cpu, cuda or tensorrt");
                    return 2;
                }
                var bar = new ProgressBar("profiling");
                var profile = ProfilingSession.Run(new ProfilingOptions
                {
                    Model = parse.GetValue(model)!,
                    Device = parse.GetValue(device)!,
                    OutputPath = parse.GetValue(output)!,
                    Runs = parse.GetValue(runs),
                    Provider = ep,
                    IntraOpThreads = parse.GetValue(threads),
                }, bar);
                bar.Done();
                Console.WriteLine($"{profile.Layers.Count} layers on {profile.Device} ({profile.Provider}): sum of layer medians {profile.TotalMicroseconds / 1e3:F3} ms, whole run median {profile.WholeRunMedianMicroseconds / 1e3:F3} ms -> {parse.GetValue(output)}");
                return 0;
            }
            catch (Exception e) when (e is IOException or ArgumentException or InvalidOperationException or Coach.Engine.Graph.ModelGraphException or OrtException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"coach profile: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}

/// <summary>A one-line progress bar on standard error.</summary>
internal sealed class ProgressBar(string label) : IProgress<ProfileProgress>
{
    private const int Width = 30;

    public void Report(ProfileProgress value)
    {
        int filled = value.Total == 0 ? Width : value.Done * Width / value.Total;
        Console.Error.Write($"\r{label} [{new string('#', filled)}{new string('.', Width - filled)}] {value.Done}/{value.Total} {value.Phase}   ");
    }

    public void Done() => Console.Error.WriteLine();
}
