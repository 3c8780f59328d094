using System.Globalization;

namespace Coach.Engine.Planning;

/// <summary>Parses link rates as tc writes them: 10mbit, 500kbit, 1gbit, 2.5mbps, 800000 (bit/s).</summary>
public static class Bandwidth
{
    public static double ParseBitsPerSecond(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var s = text.Trim().ToLowerInvariant();
        double unit = 1;
        foreach (var (suffix, factor) in new (string, double)[]
        {
            ("gbit/s", 1e9), ("mbit/s", 1e6), ("kbit/s", 1e3), ("bit/s", 1),
            ("gbps", 1e9), ("mbps", 1e6), ("kbps", 1e3), ("bps", 1),
            ("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1),
        })
        {
            if (s.EndsWith(suffix, StringComparison.Ordinal))
            {
                unit = factor;
                s = s[..^suffix.Length].Trim();
                break;
            }
        }
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !(value > 0) || double.IsInfinity(value))
        {
            throw new FormatException($"bandwidth '{text}' is not a positive rate; write e.g. 10mbit, 500kbit or 1gbit");
        }
        return value * unit;
    }

    public static string Format(double bitsPerSecond) => bitsPerSecond switch
    {
        >= 1e9 => $"{bitsPerSecond / 1e9:0.###} Gbit/s",
        >= 1e6 => $"{bitsPerSecond / 1e6:0.###} Mbit/s",
        >= 1e3 => $"{bitsPerSecond / 1e3:0.###} kbit/s",
        _ => $"{bitsPerSecond:0.###} bit/s",
    };
}
