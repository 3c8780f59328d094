using System.Diagnostics;

namespace Coach.Transport;

/// <summary>
/// In-process token-bucket link shaper (docs/architecture.md §6: stands in for <c>tc tbf</c> where the kernel
/// one is not available). Tokens are bytes, refilled at <see cref="BitsPerSecond"/>/8 per second up to
/// <see cref="BurstBytes"/>; a sender that overdraws waits until the debt is repaid, so the long-run
/// rate is exact even though timers are coarse. The rate can be changed while traffic flows.
/// </summary>
public sealed class LinkShaper
{
    private readonly Lock _gate = new();
    private double _bytesPerSecond;

    // GCRA form of the token bucket: the instant the link will have sent everything passed so far.
    // Keeping an absolute schedule (not a token count capped at the burst) means a timer that wakes
    // late does not lose the time it overslept, so the long-run rate stays exact on a busy machine.
    private long _theoreticalDoneTicks;
    private long _waitTargetTicks;

    /// <param name="bitsPerSecond">Link rate in bit/s.</param>
    /// <param name="burstBytes">Bucket depth; 0 picks 10 ms of traffic, at least 16 KiB.</param>
    public LinkShaper(double bitsPerSecond, int burstBytes = 0)
    {
        SetRate(bitsPerSecond);
        BurstBytes = burstBytes > 0 ? burstBytes : (int)Math.Clamp(_bytesPerSecond * 0.010, 16 << 10, 1 << 20);
        _theoreticalDoneTicks = Stopwatch.GetTimestamp();
    }

    public int BurstBytes { get; }

    /// <summary>Largest piece a sender should pass at once, so pacing is smooth within a frame.</summary>
    public int ChunkBytes => Math.Max(1024, BurstBytes / 2);

    /// <summary>Current rate in bit/s; setting it takes effect for the next bytes sent.</summary>
    public double BitsPerSecond
    {
        get { lock (_gate) { return _bytesPerSecond * 8; } }
        set => SetRate(value);
    }

    /// <summary>Bytes passed so far.</summary>
    public long BytesPassed { get; private set; }

    /// <summary>Takes <paramref name="bytes"/> of link time, waiting while the sender is ahead of the rate by more than the burst.</summary>
    public ValueTask AcquireAsync(int bytes, CancellationToken cancellationToken = default)
    {
        double waitSeconds;
        lock (_gate)
        {
            long now = Stopwatch.GetTimestamp();
            long burstTicks = (long)(BurstBytes / _bytesPerSecond * Stopwatch.Frequency);

            // An idle link does not bank more than one burst of credit — but a sender coming back from
            // a wait this shaper imposed was not idle, however late its timer fired (busy machines
            // oversleep by tens of ms), so it keeps the schedule and catches up.
            bool returningFromWait = _waitTargetTicks != 0 && now - _waitTargetTicks < Stopwatch.Frequency / 4;
            if (!returningFromWait)
            {
                _theoreticalDoneTicks = Math.Max(_theoreticalDoneTicks, now - burstTicks);
            }

            _theoreticalDoneTicks += (long)(bytes / _bytesPerSecond * Stopwatch.Frequency);
            BytesPassed += bytes;
            waitSeconds = (_theoreticalDoneTicks - now - burstTicks) / (double)Stopwatch.Frequency;
            if (waitSeconds > 0)
            {
                _waitTargetTicks = _theoreticalDoneTicks - burstTicks;
            }
        }

        return waitSeconds <= 0 ? ValueTask.CompletedTask : new ValueTask(Task.Delay(TimeSpan.FromSeconds(waitSeconds), cancellationToken));
    }

    /// <summary>A rate as tc writes it (<see cref="Coach.Engine.Planning.Bandwidth.ParseBitsPerSecond"/>), in bit/s.</summary>
    public static double ParseRate(string text) => Coach.Engine.Planning.Bandwidth.ParseBitsPerSecond(text);

    public override string ToString() => $"{BitsPerSecond / 1e6:0.###} Mbit/s (burst {BurstBytes} B)";

    private void SetRate(double bitsPerSecond)
    {
        if (!(bitsPerSecond > 0) || !double.IsFinite(bitsPerSecond))
        {
            throw new ArgumentOutOfRangeException(nameof(bitsPerSecond), bitsPerSecond, "the link rate must be a positive number of bit/s");
        }

        lock (_gate)
        {
            _bytesPerSecond = bitsPerSecond / 8;
        }
    }
}
