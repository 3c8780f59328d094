using System.CommandLine;
using Coach.Cloud.Commands;

var root = new RootCommand("coach-cloud — the cloud half of Coach: serves the tails of split models to coach-edge clients");
root.Subcommands.Add(ServeCommand.Create());
// No termination timeout: `serve` handles SIGTERM and SIGINT itself with a graceful drain
// (--drain-s) that must not be cut short by the parser's default 2 s forced exit.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }).ConfigureAwait(false);
