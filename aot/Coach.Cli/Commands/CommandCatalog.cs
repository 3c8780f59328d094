using System.CommandLine;

namespace Coach.Cli.Commands;

/// <summary>Every subcommand of the <c>coach</c> CLI; each lives in a file of its own.</summary>
internal static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return DemoCommand.Create();
        yield return EvalCommand.Create();
        yield return DataCommand.Create();
        yield return ModelsCommand.Create();
        yield return BenchCommand.Create();
        yield return CodedCommand.Create();
        yield return PlanCommand.Create();
        yield return ProfileCommand.Create();
        yield return CalibrateOnlineCommand.Create();
    }
}
