using System.CommandLine;
using Coach.Edge.Commands;

// coach-edge: the NativeAOT binary that runs on the end device (a Jetson): the head of the split
// model and the online scheduler. Every subcommand lives in Commands/ and is listed in EdgeCommandCatalog.
var root = new RootCommand("coach-edge — the end-device side of Coach (NativeAOT)");

// Our --version also names the ONNX Runtime actually loaded and its providers, so the built-in
// version option (assembly version only) is replaced.
for (var i = root.Options.Count - 1; i >= 0; i--)
{
    if (root.Options[i] is VersionOption)
    {
        root.Options.RemoveAt(i);
    }
}
var version = new Option<bool>("--version") { Description = "print Coach's version, the ONNX Runtime loaded and its execution providers" };
root.Options.Add(version);
root.SetAction(parseResult =>
{
    if (parseResult.GetValue(version))
    {
        return VersionCommand.Print();
    }
    Console.Error.WriteLine("coach-edge: give a command (see --help), or --version");
    return 2;
});

foreach (var command in EdgeCommandCatalog.All())
{
    root.Subcommands.Add(command);
}

// No termination timeout: `run` handles SIGTERM and SIGINT itself (it finishes the frames taken),
// which the parser's default 2 s forced exit would cut short.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }).ConfigureAwait(false);
