using System.CommandLine;
using Coach.Experiments;

namespace Coach.Cli.Commands;

/// <summary>
/// <c>coach bench chaos [--quick] [--json] [--duration-s S]</c>: the fault schedule of <see cref="ChaosBenchmark"/> against a live
/// cloud and edge (soak: <c>--duration-s 600 --rss-csv FILE</c>).
/// </summary>
internal static class BenchChaosCommand
{
    public static Command Create()
    {
        var quick = new Option<bool>("--quick") { Description = "short schedule (3 s link cut, 50,000 in-memory fuzz cases); a few minutes at most" };
        var json = new Option<bool>("--json") { Description = "print one JSON object on the last line" };
        var rate = new Option<int>("--fps") { Description = "frames per second offered by the edge's source", DefaultValueFactory = _ => 300 };
        var duration = new Option<double>("--duration-s") { Description = "repeat the fault cycle until this many seconds have passed (soak); 0 = one cycle", DefaultValueFactory = _ => 0 };
        var fuzzCases = new Option<long>("--fuzz-cases") { Description = "in-memory fuzz cases (default 50,000 with --quick, else 1,000,000)", DefaultValueFactory = _ => 0 };
        var inProcess = new Option<bool>("--in-process") { Description = "run the cloud inside this process even when the published coach-cloud is there" };
        var bin = new Option<string?>("--bin") { Description = "folder of the published coach-cloud (default: next to this program, then dist/RID)" };
        var killEveryCycle = new Option<bool>("--kill-every-cycle") { Description = "kill and restart the cloud in every cycle of a soak (default: in the first only, so one cloud process lives through the rest and its memory can be compared)" };
        var rssInterval = new Option<double>("--rss-interval-s") { Description = "period of the RSS samples of the cloud and the edge, seconds (default 1 with --quick, else 10)", DefaultValueFactory = _ => 0 };
        var rssCsv = new Option<FileInfo?>("--rss-csv") { Description = "write the RSS samples here (CSV)" };
        var liveFuzz = new Option<int>("--live-fuzz-cases") { Description = "mutated frames sent to the live cloud per cycle (default 1,500 with --quick, else 10,000)", DefaultValueFactory = _ => 0 };
        var command = new Command("chaos", "fault schedule against a live cloud and edge: kill/restart, link cut, 1 Mbit/s, slow cloud, fuzzing; every frame must be answered exactly once")
        {
            quick, json, rate, duration, fuzzCases, inProcess, bin, killEveryCycle, rssInterval, rssCsv, liveFuzz,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            bool isQuick = parse.GetValue(quick);
            long fuzz = parse.GetValue(fuzzCases) is > 0 and var f ? f : isQuick ? 50_000 : 1_000_000;
            double interval = parse.GetValue(rssInterval) is > 0 and var r ? r : isQuick ? 1 : 10;
            var settings = new ChaosSettings(isQuick, Math.Max(10, parse.GetValue(rate)), parse.GetValue(duration), fuzz)
            {
                InProcess = parse.GetValue(inProcess),
                BinaryDirectory = parse.GetValue(bin),
                KillEveryCycle = parse.GetValue(killEveryCycle),
                RssInterval = TimeSpan.FromSeconds(interval),
                RssCsv = parse.GetValue(rssCsv)?.FullName,
                LiveFuzzCasesOverride = parse.GetValue(liveFuzz),
            };
            ChaosReport report = await ChaosBenchmark.RunAsync(settings, cancellationToken).ConfigureAwait(false);
            Console.Error.WriteLine(report.Describe());
            if (parse.GetValue(json))
            {
                Console.Out.WriteLine(report.ToJson());
            }

            return report.Passed ? 0 : 4;
        });
        return command;
    }
}
