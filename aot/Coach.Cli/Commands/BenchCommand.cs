using System.CommandLine;

namespace Coach.Cli.Commands;

/// <summary><c>coach bench …</c>: micro and system benchmarks; each subcommand lives in its own <c>Bench*.cs</c> file.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench", "benchmarks: UAQ kernels (uaq), the online scheduler on correlated streams (online)");
        foreach (var subcommand in Subcommands())
        {
            command.Subcommands.Add(subcommand);
        }

        return command;
    }

    private static IEnumerable<Command> Subcommands()
    {
        yield return BenchUaqCommand.Create();
        yield return BenchOnlineCommand.Create();
        yield return BenchPaperCommand.Create();
        yield return BenchChaosCommand.Create();
        yield return BenchSplitCommand.Create();
        yield return BenchEntropyCommand.Create();
        yield return BenchFleetCommand.Create();
        yield return BenchPipeCommand.Create();
        yield return BenchCodedCommand.Create();
    }
}
