namespace Coach.Engine.Online;

/// <summary>
/// The cloud's load as the edge sees it (docs/fleet.md §7): each Result reports how long its request waited for the tail,
/// and that queueing is part of the cloud stage's time per frame, so eq. 11 takes <c>T_c + queueing</c> as T_c. Past
/// <see cref="EnterSeconds"/> of smoothed queueing the edge moves to its fallback plan — the full model on the edge — and it
/// returns to the cloud plan once the queueing falls below <see cref="LeaveSeconds"/> (hysteresis: one threshold would flap
/// on every report around it). While on the fallback, one frame in <see cref="ProbeEvery"/> still goes to the cloud, so its
/// answers keep reporting the queueing the way back depends on. Allocation-free; not thread-safe (the schedule stage owns it).
/// </summary>
public sealed class CloudLoadFeedback
{
    private long _framesSinceProbe;
    private bool _seeded;

    /// <param name="enterSeconds">Smoothed queueing above which the edge answers on its fallback plan.</param>
    /// <param name="leaveSeconds">Smoothed queueing below which it returns to the cloud plan; below <paramref name="enterSeconds"/>.</param>
    /// <param name="smoothing">Weight of each new report in the exponential moving average, in (0, 1].</param>
    /// <param name="probeEvery">On the fallback, every this many frames one is sent to the cloud (≥ 2).</param>
    public CloudLoadFeedback(double enterSeconds, double leaveSeconds, double smoothing = 0.25, int probeEvery = 8)
    {
        if (!(enterSeconds > 0) || !double.IsFinite(enterSeconds))
        {
            throw new ArgumentOutOfRangeException(nameof(enterSeconds), enterSeconds, "the queueing that moves the edge to its fallback plan must be a positive number of seconds.");
        }

        if (!(leaveSeconds >= 0) || !(leaveSeconds < enterSeconds))
        {
            throw new ArgumentOutOfRangeException(nameof(leaveSeconds), leaveSeconds, $"the queueing that returns the edge to the cloud plan must be at least 0 and below the threshold that leaves it ({enterSeconds * 1000:0.###} ms), or the edge would flap.");
        }

        if (!(smoothing > 0 && smoothing <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(smoothing), smoothing, "the smoothing weight is in (0, 1].");
        }

        if (probeEvery < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(probeEvery), probeEvery, "the fallback probes the cloud with one frame in at least 2 (1 would send them all).");
        }

        EnterSeconds = enterSeconds;
        LeaveSeconds = leaveSeconds;
        Smoothing = smoothing;
        ProbeEvery = probeEvery;
    }

    public double EnterSeconds { get; }

    public double LeaveSeconds { get; }

    public double Smoothing { get; }

    public int ProbeEvery { get; }

    /// <summary>The smoothed queueing the cloud reports (0 before any report).</summary>
    public double QueueSeconds { get; private set; }

    /// <summary>True while the edge answers on its fallback plan.</summary>
    public bool OnFallback { get; private set; }

    /// <summary>Times the edge moved to the fallback plan.</summary>
    public int FallbackEntries { get; private set; }

    /// <summary>Times it returned to the cloud plan.</summary>
    public int FallbackExits { get; private set; }

    /// <summary>One Result's queueing time; returns whether the plan changed.</summary>
    public bool Report(double queueSeconds)
    {
        if (!(queueSeconds >= 0) || !double.IsFinite(queueSeconds))
        {
            return false; // a Result without a usable figure teaches nothing
        }

        QueueSeconds = _seeded ? QueueSeconds + (Smoothing * (queueSeconds - QueueSeconds)) : queueSeconds;
        _seeded = true;
        if (!OnFallback && QueueSeconds > EnterSeconds)
        {
            OnFallback = true;
            FallbackEntries++;
            _framesSinceProbe = 0;
            return true;
        }

        if (OnFallback && QueueSeconds < LeaveSeconds)
        {
            OnFallback = false;
            FallbackExits++;
            return true;
        }

        return false;
    }

    /// <summary>For the next frame: true = answer it on the fallback plan; false = send it to the cloud (always, off the fallback; one in <see cref="ProbeEvery"/> on it).</summary>
    public bool AnswerOnEdge()
    {
        if (!OnFallback)
        {
            return false;
        }

        if (++_framesSinceProbe >= ProbeEvery)
        {
            _framesSinceProbe = 0;
            return false;
        }

        return true;
    }
}
