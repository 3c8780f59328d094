using System.CommandLine;

namespace Coach.Cli.Commands;

/// <summary><c>coach bench online</c>: the online scheduler on low/medium/high correlated streams.</summary>
internal static class BenchOnlineCommand
{
    public static Command Create()
    {
        var command = new Command("online", "early-exit ratio, accuracy and bytes per frame of the online scheduler on correlated streams");
        command.SetAction(_ =>
        {
            Console.Error.WriteLine("coach bench online: not wired yet.");
            return 3;
        });
        return command;
    }
}
