using System.CommandLine;
using Coach.Engine.Data;
using Coach.Experiments;

namespace Coach.Cli.Commands;

/// <summary><c>coach bench pipe</c>: a model pipelined over 2, 3 and 4 stages, measured against its plan (<see cref="PipeBenchmark"/>).</summary>
internal static class BenchPipeCommand
{
    public static Command Create()
    {
        var quick = new Option<bool>("--quick") { Description = "150 frames a run (a few minutes)" };
        var json = new Option<bool>("--json") { Description = "print the result as one JSON object on the last line" };
        var command = new Command("pipe", "resnet-fm112 across 2, 3 and 4 stages (relays, emulated 8x slower boards, paced links): measured against predicted and against the two-stage plan")
        {
            quick, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                var result = await PipeBenchmark.RunAsync(parse.GetValue(quick), Path.Combine(ModelCatalog.RepositoryRoot, ".cache", "bench", "pipe"), Console.Error, cancellationToken).ConfigureAwait(false);
                Console.WriteLine(parse.GetValue(json) ? result : $"coach bench pipe: {result}");
                return 0;
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or TimeoutException or ArgumentException or InvalidDataException)
            {
                Console.Error.WriteLine($"coach bench pipe: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
