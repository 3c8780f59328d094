using System.CommandLine;
using Coach.Cli.Commands;

var root = new RootCommand("coach — offline tools of Coach: plan, eval, profile, bench, models, demo");
foreach (var command in CommandCatalog.All())
{
    root.Subcommands.Add(command);
}

return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
