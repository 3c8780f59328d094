using System.Text.Json;
using Coach.Engine.DataPlane;

namespace Coach.Experiments;

/// <summary><c>coach bench uaq</c>: how UAQ's quantize+pack and unpack+dequantize throughput is reported beside a plain copy.</summary>
public static class UaqBenchmark
{
    /// <summary>The figures as a table, and whether pack4 reaches a quarter of a plain copy's throughput.</summary>
    public static void WriteTable(UaqThroughputReport report, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(output);
        double copy = report.Gbps("memcpy");
        output.WriteLine($"UAQ on {report.ValueCount:N0} FP32 values ({report.ValueCount * 4 / 1048576.0:0.##} MiB), vector width {report.VectorWidth}, GB/s of FP32 input (median)");
        output.WriteLine($"{"kernel",-10} {"GB/s",8} {"× copy",8} {"alloc B/call",13}");
        foreach (var f in report.Figures)
        {
            output.WriteLine($"{f.Name,-10} {f.GigabytesPerSecond,8:0.00} {f.GigabytesPerSecond / copy,8:0.000} {f.AllocatedBytesPerCall,13:0.##}");
        }

        double ratio = report.Gbps("pack4") / copy;
        output.WriteLine($"pack4 / memcpy = {ratio:0.000} (bar ≥ 0.25): {(ratio >= 0.25 ? "met" : "NOT met")}; allocation per call: {report.AllocatedBytesPerCall:0.##} B");
    }

    /// <summary>The figures as one JSON object on one line.</summary>
    public static string Json(UaqThroughputReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        using var stream = new MemoryStream();
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

        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }
}
