using System.CommandLine;
using Coach.Experiments;
using Coach.Engine.Data;

namespace Coach.Cli.Commands;

/// <summary><c>coach bench paper</c>: the paper's experiments, every method on the same testbed (see <see cref="PaperBenchmark"/>).</summary>
internal static class BenchPaperCommand
{
    public static Command Create()
    {
        var quick = new Option<bool>("--quick") { Description = "fewer frames and bandwidths (under 10 minutes)" };
        var json = new Option<bool>("--json") { Description = "print per-method results and the summary as one JSON object on the last line" };
        var output = new Option<string?>("--out") { Description = "folder for CSV files, plots and README.md (default .cache/bench/paper)" };
        var models = new Option<string>("--models") { Description = "comma-separated bundled model names or ONNX files; the first is the primary model", DefaultValueFactory = _ => "resnet-fm112,vgg-fm112" };
        var loopback = new Option<bool>("--loopback") { Description = "use loopback and the in-process shaper even when the kernel testbed is available" };
        var bin = new Option<string?>("--bin") { Description = "folder with the published coach-edge and coach-cloud (default dist/linux-x64)" };
        var command = new Command("paper", "Table I, Table II, Fig. 5 and Fig. 6-7 of the paper: COACH against Neurosurgeon, DADS, SPINN, JPS, cloud-only and edge-only")
        {
            quick, json, output, models, loopback, bin,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var root = ModelCatalog.RepositoryRoot;
            var args = Environment.GetCommandLineArgs().Skip(1);
            var options = new PaperBenchmarkOptions
            {
                Quick = parse.GetValue(quick),
                OutputDirectory = Path.GetFullPath(parse.GetValue(output) ?? Path.Combine(root, ".cache", "bench", "paper")),
                WorkDirectory = Path.Combine(root, ".cache", "bench"),
                BinaryDirectory = parse.GetValue(bin) ?? PublishedBinaries.DefaultDirectory,
                Models = parse.GetValue(models)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                KernelTestbed = !parse.GetValue(loopback),
                CommandLine = "./coach " + string.Join(' ', args),
            };
            try
            {
                var result = await new PaperBenchmark(options, Console.Error).RunAsync(cancellationToken).ConfigureAwait(false);
                Console.Error.WriteLine($"coach bench paper: tables, CSV files and plots in {options.OutputDirectory}");
                if (parse.GetValue(json))
                {
                    Console.WriteLine(result);
                }

                return 0;
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or TimeoutException or ArgumentException or UnauthorizedAccessException or InvalidDataException)
            {
                Console.Error.WriteLine($"coach bench paper: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
