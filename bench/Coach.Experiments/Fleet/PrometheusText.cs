using System.Globalization;
using System.Text.RegularExpressions;

namespace Coach.Experiments.Fleet;

/// <summary>One sample of a Prometheus text exposition: the series name, its labels and its value.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>
/// Reads the Prometheus text format that <c>coach-cloud --metrics-listen</c> serves (docs/fleet.md §1), enough to take the
/// per-plan batch sizes, queueing delays and answer counts out of a scrape: <c>name{label="v",…} value</c> lines; comments
/// and blank lines are skipped.
/// </summary>
public static partial class PrometheusText
{
    public static IReadOnlyList<PrometheusSample> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var samples = new List<PrometheusSample>();
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            Match match = SampleLine().Match(line);
            if (!match.Success)
            {
                continue;
            }

            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (Match label in LabelPair().Matches(match.Groups["labels"].Value))
            {
                labels[label.Groups["k"].Value] = label.Groups["v"].Value.Replace("\\\"", "\"", StringComparison.Ordinal).Replace("\\\\", "\\", StringComparison.Ordinal);
            }

            string valueText = match.Groups["value"].Value;
            double value = valueText switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                _ => double.Parse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            samples.Add(new PrometheusSample(match.Groups["name"].Value, labels, value));
        }

        return samples;
    }

    /// <summary>The value of <paramref name="name"/> for each value of the label <paramref name="by"/> (summed over other labels).</summary>
    public static Dictionary<string, double> SumBy(IEnumerable<PrometheusSample> samples, string name, string by)
    {
        var sums = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (PrometheusSample s in samples)
        {
            if (s.Name == name && s.Labels.TryGetValue(by, out string? key))
            {
                sums[key] = sums.GetValueOrDefault(key) + s.Value;
            }
        }

        return sums;
    }

    [GeneratedRegex(@"^(?<name>[A-Za-z_:][A-Za-z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)(\s+\d+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"(?<k>[A-Za-z_][A-Za-z0-9_]*)=""(?<v>(\\.|[^""\\])*)""", RegexOptions.CultureInvariant)]
    private static partial Regex LabelPair();
}
