using System.CommandLine;

namespace Coach.Cli.Commands;

internal static class DemoCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "print the comparison as one JSON object on the last line" };
        var command = new Command("demo", "run COACH and the baselines on the bundled model and data") { json };
        command.SetAction(_ =>
        {
            Console.Error.WriteLine("coach demo: the end-to-end demo is not built yet (transport and processes are a later step).");
            return 3;
        });
        return command;
    }
}
