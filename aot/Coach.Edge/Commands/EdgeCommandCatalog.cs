using System.CommandLine;

namespace Coach.Edge.Commands;

/// <summary>Every subcommand of <c>coach-edge</c>; each lives in a file of its own.</summary>
internal static class EdgeCommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return VersionCommand.Create();
        yield return SelftestCommand.Create();
        yield return RunCommand.Create();
        yield return Coach.Cli.Commands.ProfileCommand.Create();
    }
}
