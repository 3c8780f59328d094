namespace Coach.Transport.Edge;

/// <summary>
/// A device <see cref="Slowdown"/> times slower than this one (<see cref="EdgeRunOptions.EmulatedSlowdown"/>,
/// <c>--emulate-slowdown</c>): every edge compute step is stretched to that multiple of its measured
/// time by waiting, for latency measurements where a CPU quota cannot slow a lone frame (CFS quotas
/// are ≥ 1 ms, more than a frame's CPU).
/// </summary>
internal sealed class EmulatedDeviceClock(double slowdown)
{
    /// <summary>How many times slower the emulated device is; 1 or less = off.</summary>
    public double Slowdown { get; } = slowdown;

    /// <summary>
    /// A compute step that ran from <paramref name="start"/> to <paramref name="end"/> is stretched to
    /// <c>slowdown × (end − start)</c> by waiting (sleep, then a spin for the last millisecond so the
    /// stretch is exact to a few microseconds). Returns the new end.
    /// </summary>
    public long Dilate(long start, long end)
    {
        if (Slowdown <= 1)
        {
            return end;
        }

        long until = end + (long)((end - start) * (Slowdown - 1));
        long remaining;
        while ((remaining = until - MonotonicClock.NowMicros) > 1500)
        {
            Thread.Sleep((int)((remaining - 1000) / 1000));
        }

        while (MonotonicClock.NowMicros < until)
        {
            Thread.SpinWait(32);
        }

        return MonotonicClock.NowMicros;
    }
}
