using System.Globalization;

namespace Coach.Experiments;

/// <summary>Resident memory of a process from <c>/proc/PID/status</c>: VmRSS now and VmHWM (its peak).</summary>
public readonly record struct ProcessMemory(double RssMb, double PeakRssMb)
{
    /// <summary>This process's memory.</summary>
    public static ProcessMemory? OfSelf() => Read("/proc/self/status");

    /// <summary>Another process's memory, or null when it is gone (or /proc is not there).</summary>
    public static ProcessMemory? Of(int processId) => Read($"/proc/{processId.ToString(CultureInfo.InvariantCulture)}/status");

    private static ProcessMemory? Read(string path)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        double rss = -1, peak = -1;
        foreach (string line in lines)
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = Kilobytes(line) / 1024.0;
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = Kilobytes(line) / 1024.0;
            }
        }

        // A zombie (killed, not yet reaped) has no Vm lines.
        return rss < 0 ? null : new ProcessMemory(rss, Math.Max(rss, peak));
    }

    private static long Kilobytes(string line)
    {
        // "VmRSS:\t   12345 kB"
        string[] parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 2 && long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out long kb) ? kb : -1;
    }
}
