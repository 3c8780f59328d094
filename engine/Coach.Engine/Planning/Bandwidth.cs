using System.Globalization;

namespace Coach.Engine.Planning;

/// <summary>
/// The one parser of link rates (the planner's --bandwidth, the bench's links, the edge's in-process shaper), written
/// as <c>tc</c> writes them: <c>10mbit</c>, <c>500kbit</c>, <c>1gbit</c>, <c>64000bit</c> or a bare number of bit/s,
/// optionally with <c>/s</c> (<c>2.5Mbit/s</c>). tc reads <c>mbps</c>, <c>kbps</c>, <c>bps</c> as bytes per second,
/// which users often mean as bits: those are refused with a message rather than guessed.
/// </summary>
public static class Bandwidth
{
    private static readonly (string Suffix, double Factor)[] BitUnits = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1)];

    public static double ParseBitsPerSecond(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var s = text.Trim().ToLowerInvariant();
        if (s.EndsWith("/s", StringComparison.Ordinal))
        {
            s = s[..^2].TrimEnd();
        }
        if (s.EndsWith("bps", StringComparison.Ordinal))
        {
            throw new FormatException($"rate '{text}': tc reads bps, kbps, mbps and gbps as BYTES per second; write the bit rate, e.g. 10mbit for 10 Mbit/s");
        }

        double unit = 1;
        foreach (var (suffix, factor) in BitUnits)
        {
            if (s.EndsWith(suffix, StringComparison.Ordinal))
            {
                unit = factor;
                s = s[..^suffix.Length].TrimEnd();
                break;
            }
        }
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !(value > 0) || !double.IsFinite(value))
        {
            throw new FormatException($"rate '{text}' is not a positive link rate; write it as tc does, e.g. 10mbit, 500kbit or 1gbit");
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
