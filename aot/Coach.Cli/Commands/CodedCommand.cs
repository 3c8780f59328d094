using System.CommandLine;
using System.Globalization;
using System.Net;
using Coach.Engine.Coded;
using Coach.Engine.Data;
using Coach.Engine.Graph;
using Coach.Native.OnnxRuntime;
using Coach.Transport.Cloud;

namespace Coach.Cli.Commands;

/// <summary>
/// <c>coach coded worker</c> (a worker process of coded distributed convolution) and <c>coach coded plan</c> (the
/// split the planner chooses per convolution); docs/coded.md.
/// </summary>
internal static class CodedCommand
{
    public static Command Create()
    {
        var command = new Command("coded", "coded distributed convolution (CoCoI): worker processes and the split choice; the bench is `coach bench coded`");
        command.Subcommands.Add(Worker());
        command.Subcommands.Add(Plan());
        return command;
    }

    private static Command Worker()
    {
        var plans = new Option<DirectoryInfo>("--plans") { Description = "folder of slice plan directories (tail.onnx = a coded slice's model, plan.json)", Required = true };
        var port = new Option<int>("--port") { Description = "TCP port on 127.0.0.1 (0 = any free port; the line 'coded worker listening on ADDRESS' says which)", DefaultValueFactory = _ => 0 };
        var command = new Command("worker", "serve coded slices over the Coach protocol; reads 'slowdown F' lines on stdin (fault injection: a straggler F times slower); ends at end of input") { plans, port };
        command.SetAction(async (parse, cancellationToken) =>
        {
            double slowdown = 1;
            var options = new CloudServerOptions
            {
                Listen = new IPEndPoint(IPAddress.Loopback, parse.GetValue(port)),
                MaxBatch = 1,
                MaxWait = TimeSpan.Zero,
                LogInterval = TimeSpan.Zero,
                TailSettings = SplitRunExecutor.CpuSettings,
                ComputeSlowdown = () => Volatile.Read(ref slowdown),
                Log = static _ => { },
            };
            CloudServer server;
            try
            {
                server = CloudServer.FromPlansDirectory(parse.GetValue(plans)!.FullName, options);
                server.PreloadTails();
                server.Start();
            }
            catch (Exception e) when (e is IOException or InvalidDataException or InvalidOperationException or OrtException)
            {
                Console.Error.WriteLine($"coach coded worker: {e.Message}");
                return 1;
            }

            Console.Out.WriteLine($"coded worker listening on {server.LocalEndPoint}");
            Console.Out.Flush();
            while (await Console.In.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
            {
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts is ["slowdown", var value] && double.TryParse(value, CultureInfo.InvariantCulture, out double factor) && factor >= 1)
                {
                    Volatile.Write(ref slowdown, factor);
                }
                else
                {
                    Console.Error.WriteLine($"coach coded worker: ignored '{line}': the worker reads 'slowdown F' with F ≥ 1");
                }
            }

            await server.StopAsync().ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    private static Command Plan()
    {
        var model = new Option<string>("--model") { Description = "bundled model name or ONNX file", DefaultValueFactory = _ => "vgg-fm112" };
        var workers = new Option<int>("--workers") { Description = "worker devices, n", DefaultValueFactory = _ => 5 };
        var shift = new Option<double>("--shift-ns-per-mac") { Description = "a worker's least time per multiply-accumulate (shifted exponential shift), ns", DefaultValueFactory = _ => 1.0 };
        var excess = new Option<double>("--straggle-ns-per-mac") { Description = "mean time per MAC above the shift (the exponential part), ns", DefaultValueFactory = _ => 1.0 };
        var failure = new Option<double>("--failure") { Description = "probability that a worker never answers", DefaultValueFactory = _ => 0.0 };
        var rate = new Option<double>("--link-mbit") { Description = "each worker's link, Mbit/s", DefaultValueFactory = _ => 100 };
        var command = new Command("plan", "choose k of n for each convolution of a model under shifted-exponential worker times (CoCoI's expected-latency objective)") { model, workers, shift, excess, failure, rate };
        command.SetAction(parse =>
        {
            string name = parse.GetValue(model)!;
            string path = ModelCatalog.TryGet(name, out var entry) && entry is not null ? entry.Path : name;
            try
            {
                var graph = LayerGraph.Load(path);
                ShapeDiscovery.Complete(graph);
                var settings = new CodedSplitSettings(parse.GetValue(workers), new ShiftedExponentialLatency(parse.GetValue(shift) * 1e-9, parse.GetValue(excess) * 1e-9),
                    parse.GetValue(failure), parse.GetValue(rate) * 1e6 / 8, 0.5e-3, 1e-9, parse.GetValue(shift) * 1e-9);
                Console.Out.WriteLine("layer\tn\tk\tk_approx\texpected_ms\tuncoded_ms\tmaster_alone_ms\tdistribute");
                foreach (var node in graph.Nodes.Where(x => x.OpType == "Conv"))
                {
                    var input = graph.Tensor(node.Proto.Input[0]);
                    var shape = (long[])input.Shape!.Clone();
                    shape[0] = 1;
                    var layer = CodedLayerShape.Of(LayerRun.FromModel(graph.Model, [node.Name], shape));
                    var c = CodedSplitPlanner.Choose(layer, settings);
                    Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{c.Layer}\t{c.N}\t{c.K}\t{c.ApproximateK:F2}\t{c.ExpectedSeconds * 1e3:F3}\t{c.UncodedSeconds * 1e3:F3}\t{c.LocalSeconds * 1e3:F3}\t{c.Distribute}"));
                }

                return 0;
            }
            catch (Exception e) when (e is IOException or ModelGraphException or SpatialSplitException or ArgumentException or OrtException)
            {
                Console.Error.WriteLine($"coach coded plan: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
