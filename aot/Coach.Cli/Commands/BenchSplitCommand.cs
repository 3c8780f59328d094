using System.CommandLine;
using Coach.Engine.Data;
using Coach.Engine.Graph;
using Coach.Experiments;
using Coach.Native.OnnxRuntime;
using Coach.Transport;

namespace Coach.Cli.Commands;

/// <summary><c>coach bench split</c>: sampled cuts of a model reproduce it (<see cref="SplitBenchmark"/>).</summary>
internal static class BenchSplitCommand
{
    public static Command Create()
    {
        var models = new Option<string>("--models") { Description = "comma-separated ONNX files or bundled names (default: the paper exports in .cache/models/paper)" };
        var samples = new Option<int>("--samples") { Description = "cuts per model, evenly spaced over the topological order", DefaultValueFactory = _ => 4 };
        var plans = new Option<string?>("--plan") { Description = "instead of sampled cuts: check plan folders' head.onnx + tail.onnx against the full model (comma-separated)" };
        var command = new Command("split", "check that sampled cuts of a model, or a plan's head and tail, reproduce it (tail(head(x)) = full(x) within 1e-5)") { models, samples, plans };
        command.SetAction(parse =>
        {
            if (parse.GetValue(plans) is { } planList)
            {
                return CheckPlans(planList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            }
            var paths = parse.GetValue(models) is { } list
                ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(m => ModelCatalog.TryGet(m, out var e) && e is not null ? e.Path : m).ToArray()
                : SplitBenchmark.PaperModels();
            if (paths.Length == 0)
            {
                Console.Error.WriteLine($"coach bench split: no models; export the paper's with `./coach models paper` (into {SplitBenchmark.PaperDirectory}) or give --models");
                return 1;
            }

            bool allClose = true;
            foreach (var path in paths)
            {
                try
                {
                    allClose &= SplitBenchmark.CheckModel(path, parse.GetValue(samples), Console.Out, Console.Error);
                }
                catch (Exception e) when (e is IOException or ModelGraphException or OrtException or InvalidOperationException)
                {
                    Console.Error.WriteLine($"coach bench split: {path}: {e.Message}");
                    return 1;
                }
            }

            return allClose ? 0 : 4;
        });
        return command;
    }

    private static int CheckPlans(string[] directories)
    {
        bool allClose = true;
        foreach (var directory in directories)
        {
            try
            {
                allClose &= SplitBenchmark.CheckPlan(PlanDirectory.Load(directory), Console.Out);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or OrtException or ArgumentException)
            {
                Console.Error.WriteLine($"coach bench split --plan: {directory}: {e.Message}");
                return 1;
            }
        }
        return allClose ? 0 : 4;
    }
}
