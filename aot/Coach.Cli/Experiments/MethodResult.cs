using System.Globalization;
using System.Text.Json;

namespace Coach.Cli.Experiments;

/// <summary>One method's measured run (the edge's JSON summary) beside what its plan predicted.</summary>
internal sealed record MethodResult(MethodSpec Method, JsonElement Summary, double PredictedThroughputFps)
{
    public double Number(string name) => Summary.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN;

    public double ThroughputFps => Number("throughput_fps");

    public double Accuracy => Number("accuracy");

    /// <summary>The keys every report carries, in snake_case, from the edge's summary plus the plan's prediction.</summary>
    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject(Method.Key);
        foreach (var p in Summary.EnumerateObject())
        {
            p.WriteTo(w);
        }

        w.WriteNumber("predicted_throughput_fps", Math.Round(PredictedThroughputFps, 3));
        w.WriteEndObject();
    }

    public static string Format(double value, string format) => double.IsNaN(value) ? "-" : value.ToString(format, CultureInfo.InvariantCulture);
}
