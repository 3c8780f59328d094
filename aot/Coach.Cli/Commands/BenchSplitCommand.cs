using System.CommandLine;
using Coach.Engine.Data;
using Coach.Engine.Graph;
using Coach.Experiments;
using Coach.Native.OnnxRuntime;

namespace Coach.Cli.Commands;

/// <summary><c>coach bench split</c>: sampled cuts of a model reproduce it (<see cref="SplitBenchmark"/>).</summary>
internal static class BenchSplitCommand
{
    public static Command Create()
    {
        var models = new Option<string>("--models") { Description = "comma-separated ONNX files or bundled names (default: the paper exports in .cache/models/paper)" };
        var samples = new Option<int>("--samples") { Description = "cuts per model, evenly spaced over the topological order", DefaultValueFactory = _ => 4 };
        var command = new Command("split", "check that sampled cuts of a model reproduce it (tail(head(x)) = full(x) within 1e-5)") { models, samples };
        command.SetAction(parse =>
        {
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
}
