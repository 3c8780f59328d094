using System.CommandLine;
using Coach.Engine.Data;
using Coach.Experiments.Fleet;

namespace Coach.Cli.Commands;

/// <summary>
/// <c>coach bench fleet [--quick] [--json]</c>: K emulated edges on mixed plans and links against real coach-cloud processes, and
/// the failover scenario behind HAProxy (<see cref="FleetBenchmark"/>, docs/fleet.md).
/// </summary>
internal static class BenchFleetCommand
{
    public static Command Create()
    {
        var quick = new Option<bool>("--quick") { Description = "4, 8 and 16 edges for 5 s each, failover with 4 edges; a few minutes at most" };
        var json = new Option<bool>("--json") { Description = "print one JSON object on the last line" };
        var edges = new Option<string?>("--edges") { Description = "fleet sizes, comma-separated (default 4,8,16)" };
        var seconds = new Option<double>("--seconds") { Description = "seconds each edge takes frames in a scenario (default 5 with --quick, else 20)" };
        var fps = new Option<double>("--fps") { Description = "frames per second each edge's camera offers (0: as fast as it takes them)", DefaultValueFactory = _ => 20 };
        var failoverEdges = new Option<int>("--failover-edges") { Description = "edges in the failover scenario (0: leave it out)", DefaultValueFactory = _ => 4 };
        var realignEdges = new Option<int>("--realign-edges") { Description = "edges in the mixed-plan scenario run with independent tails and with re-alignment (0: leave it out)", DefaultValueFactory = _ => 6 };
        var realignBudget = new Option<double>("--realign-budget-ms") { Description = "the cloud-side latency budget both runs of the mixed-plan scenario keep, ms", DefaultValueFactory = _ => 50 };
        var overloadEdges = new Option<int>("--overload-edges") { Description = "edges in the overload scenario (the cloud in a CPU cgroup, shedding; 0: leave it out)", DefaultValueFactory = _ => 6 };
        var bin = new Option<string?>("--bin") { Description = "folder of the published coach-cloud and coach-edge (default dist/RID)" };
        var output = new Option<string?>("--out") { Description = "folder for the plans, /metrics scrapes and logs (default .cache/bench/fleet)" };
        var command = new Command("fleet", "many emulated edges with mixed plans and links against coach-cloud, and a failover behind HAProxy: throughput, p95 per edge, the cloud's batches, frames lost")
        {
            quick, json, edges, seconds, fps, failoverEdges, realignEdges, realignBudget, overloadEdges, bin, output,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            bool isQuick = parse.GetValue(quick);
            int[] sizes;
            try
            {
                sizes = (parse.GetValue(edges) ?? "4,8,16").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(s => int.TryParse(s, out int k) && k > 0 ? k : throw new FormatException($"--edges: '{s}' is not a positive number of edges")).ToArray();
            }
            catch (FormatException e)
            {
                Console.Error.WriteLine($"coach bench fleet: {e.Message}");
                return 2;
            }

            double runSeconds = parse.GetValue(seconds) is > 0 and var s0 ? s0 : isQuick ? 5 : 20;
            if (parse.GetValue(fps) < 0 || parse.GetValue(failoverEdges) < 0)
            {
                Console.Error.WriteLine("coach bench fleet: --fps and --failover-edges must be ≥ 0");
                return 2;
            }

            var settings = new FleetSettings
            {
                Quick = isQuick,
                EdgeCounts = sizes,
                Seconds = runSeconds,
                FramesPerSecond = parse.GetValue(fps),
                FailoverEdges = parse.GetValue(failoverEdges),
                RealignEdges = Math.Max(0, parse.GetValue(realignEdges)),
                RealignBudgetMs = parse.GetValue(realignBudget),
                OverloadEdges = Math.Max(0, parse.GetValue(overloadEdges)),
                BinaryDirectory = parse.GetValue(bin),
                WorkDirectory = Path.GetFullPath(parse.GetValue(output) ?? Path.Combine(ModelCatalog.RepositoryRoot, ".cache", "bench", "fleet")),
            };
            try
            {
                FleetReport report = await FleetBenchmark.RunAsync(settings, cancellationToken).ConfigureAwait(false);
                Console.Error.WriteLine(report.Describe());
                if (parse.GetValue(json))
                {
                    Console.Out.WriteLine(report.ToJson());
                }

                return report.Passed ? 0 : 4;
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or TimeoutException or InvalidDataException or ArgumentException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"coach bench fleet: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
