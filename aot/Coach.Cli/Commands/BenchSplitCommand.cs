using System.CommandLine;
using System.Globalization;
using Coach.Engine.Data;
using Coach.Engine.Graph;
using Coach.Engine.Splitting;
using Coach.Native.OnnxRuntime;

namespace Coach.Cli.Commands;

/// <summary>
/// <c>coach bench split</c>: sampled cuts of a (paper-scale) model reproduce it — tail(head(x)) against the full model
/// within 1e-5 — for ResNet-101 and VGG-16 from <c>./coach models paper</c>, where checking every cut would be slow.
/// </summary>
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
                : Directory.Exists(PaperDirectory) ? Directory.GetFiles(PaperDirectory, "*.onnx").Order().ToArray() : [];
            if (paths.Length == 0)
            {
                Console.Error.WriteLine($"coach bench split: no models; export the paper's with `./coach models paper` (into {PaperDirectory}) or give --models");
                return 1;
            }

            // Graph optimizations off on all three sessions: fusions chosen differently on either side of a cut reorder float
            // arithmetic, which is not what this check is about (whether the split computes the same function).
            var settings = new SessionSettings { Providers = [ExecutionProvider.Cpu], Optimization = GraphOptimization.Disabled };
            bool allClose = true;
            foreach (var path in paths)
            {
                try
                {
                    var checks = SplitVerifier.CheckSampledPrefixCuts(LayerGraph.Load(path), parse.GetValue(samples), settings,
                        (done, total) => Console.Error.Write($"\r{Path.GetFileName(path)}: cut {done}/{total}   "));
                    Console.Error.WriteLine();
                    foreach (var c in checks)
                    {
                        bool ok = c.MaxRelativeDifference <= 1e-5;
                        allClose &= ok;
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"{Path.GetFileName(path)}: {c.EdgeLayers} edge layers, cut [{string.Join(", ", c.CutTensors)}]: max relative difference {c.MaxRelativeDifference:G3} {(ok ? "ok" : "TOO LARGE")}"));
                    }
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

    private static string PaperDirectory => Path.Combine(ModelCatalog.RepositoryRoot, ".cache", "models", "paper");
}
