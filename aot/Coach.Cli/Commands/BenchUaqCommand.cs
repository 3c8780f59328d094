using System.CommandLine;
using Coach.Engine.DataPlane;
using Coach.Experiments;

namespace Coach.Cli.Commands;

/// <summary><c>coach bench uaq [--json]</c>: UAQ quantize+pack / unpack+dequantize throughput beside a plain copy.</summary>
internal static class BenchUaqCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of the table" };
        var values = new Option<int>("--values") { Description = "FP32 values in the tensor (default 262144 = 1 MiB)", DefaultValueFactory = _ => UaqThroughput.DefaultValueCount };
        var rounds = new Option<int>("--rounds") { Description = "rounds per figure; the median is reported", DefaultValueFactory = _ => 7 };
        var command = new Command("uaq", "quantize+pack and unpack+dequantize throughput for 2, 4 and 8 bits on a 1 MiB FP32 tensor, beside Span.CopyTo") { json, values, rounds };
        command.SetAction(parse =>
        {
            int count = parse.GetValue(values);
            int roundCount = parse.GetValue(rounds);
            if (count < 1 || roundCount < 1)
            {
                Console.Error.WriteLine("coach bench uaq: --values and --rounds must be positive.");
                return 2;
            }

            var report = UaqThroughput.Measure(count, [2, 4, 8], roundCount);
            if (parse.GetValue(json))
            {
                Console.WriteLine(UaqBenchmark.Json(report));
            }
            else
            {
                UaqBenchmark.WriteTable(report, Console.Out);
            }

            return 0;
        });
        return command;
    }
}
