using System.Diagnostics;

namespace Coach.Transport;

/// <summary>Microseconds on this process's monotonic clock (never wall time; never compared across machines).</summary>
public static class MonotonicClock
{
    private static readonly double MicrosPerTick = 1_000_000.0 / Stopwatch.Frequency;

    public static long NowMicros => (long)(Stopwatch.GetTimestamp() * MicrosPerTick);
}
