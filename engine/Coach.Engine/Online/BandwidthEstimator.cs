namespace Coach.Engine.Online;

/// <summary>
/// Live uplink bandwidth B̂ from per-frame (bytes, transfer time) samples: the harmonic mean of the rates of the last k samples.
/// </summary>
/// <remarks>
/// The harmonic mean of equal-weight rates is dominated by the slow samples, so a burst that arrived from a socket buffer
/// (a very high apparent rate) barely moves it, while a real drop in bandwidth shows within a few frames. Samples with a
/// non-positive byte count or time are rejected, and each rate is clamped to [1/16, 16] × the current estimate once there is
/// one, so a single stalled frame cannot pull the estimate down by more than 1/k of its weight. Thread-safe: the receive loop
/// adds samples while the scheduler reads.
/// </remarks>
public sealed class BandwidthEstimator
{
    private const double OutlierFactor = 16.0;
    private readonly double[] _inverseRates;
    private readonly Lock _gate = new();
    private int _next;
    private int _count;
    private double _estimate;

    /// <param name="window">k, the number of recent samples kept.</param>
    /// <param name="priorBytesPerSecond">The estimate before any sample arrives (the plan's bandwidth).</param>
    public BandwidthEstimator(int window, double priorBytesPerSecond)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        if (!double.IsFinite(priorBytesPerSecond) || priorBytesPerSecond <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(priorBytesPerSecond), priorBytesPerSecond, "The prior bandwidth must be a positive number of bytes per second.");
        }

        _inverseRates = new double[window];
        _estimate = priorBytesPerSecond;
    }

    public int Window => _inverseRates.Length;

    public int SampleCount
    {
        get
        {
            lock (_gate)
            {
                return _count;
            }
        }
    }

    /// <summary>B̂ in bytes per second.</summary>
    public double BytesPerSecond
    {
        get
        {
            lock (_gate)
            {
                return _estimate;
            }
        }
    }

    /// <summary>Adds one transfer; returns false (and ignores it) when it carries no information.</summary>
    public bool AddSample(long bytes, double seconds)
    {
        if (bytes <= 0 || !(seconds > 0) || !double.IsFinite(seconds))
        {
            return false;
        }

        double rate = bytes / seconds;
        lock (_gate)
        {
            if (_count > 0)
            {
                rate = Math.Clamp(rate, _estimate / OutlierFactor, _estimate * OutlierFactor);
            }

            _inverseRates[_next] = 1.0 / rate;
            _next = (_next + 1) % _inverseRates.Length;
            _count = Math.Min(_count + 1, _inverseRates.Length);
            double sum = 0;
            for (int i = 0; i < _count; i++)
            {
                sum += _inverseRates[i];
            }

            _estimate = _count / sum;
        }

        return true;
    }
}
