using System.CommandLine;
using System.Text.Json;
using Coach.Engine.DataPlane;

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
                WriteJson(report);
            }
            else
            {
                WriteTable(report);
            }

            return 0;
        });
        return command;
    }

    private static void WriteTable(UaqThroughputReport report)
    {
        double copy = report.Gbps("memcpy");
        Console.WriteLine($"UAQ on {report.ValueCount:N0} FP32 values ({report.ValueCount * 4 / 1048576.0:0.##} MiB), vector width {report.VectorWidth}, GB/s of FP32 input (median)");
        Console.WriteLine($"{"kernel",-10} {"GB/s",8} {"× copy",8} {"alloc B/call",13}");
        foreach (var f in report.Figures)
        {
            Console.WriteLine($"{f.Name,-10} {f.GigabytesPerSecond,8:0.00} {f.GigabytesPerSecond / copy,8:0.000} {f.AllocatedBytesPerCall,13:0.##}");
        }

        double ratio = report.Gbps("pack4") / copy;
        Console.WriteLine($"pack4 / memcpy = {ratio:0.000} (bar ≥ 0.25): {(ratio >= 0.25 ? "met" : "NOT met")}; allocation per call: {report.AllocatedBytesPerCall:0.##} B");
    }

    private static void WriteJson(UaqThroughputReport report)
    {
        using var stream = Console.OpenStandardOutput();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteNumber("values", report.ValueCount);
            writer.WriteString("vector_width", report.VectorWidth.ToString());
            foreach (var f in report.Figures)
            {
                writer.WriteNumber($"{f.Name}_gbps", Math.Round(f.GigabytesPerSecond, 3));
            }

            writer.WriteNumber("pack4_vs_memcpy", Math.Round(report.Gbps("pack4") / report.Gbps("memcpy"), 4));
            writer.WriteNumber("alloc_bytes_per_call", report.AllocatedBytesPerCall);
            writer.WriteEndObject();
        }

        stream.WriteByte((byte)'\n');
    }
}
