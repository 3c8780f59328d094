using System.CommandLine;
using Coach.Cloud.Commands;

var root = new RootCommand("coach-cloud — the cloud half of Coach: serves the tails of split models to coach-edge clients");
root.Subcommands.Add(ServeCommand.Create());
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
