using System.Diagnostics;
using System.Globalization;

namespace Coach.Transport;

/// <summary>
/// In-process token-bucket link shaper (ARCHITECTURE §6: stands in for <c>tc tbf</c> where the kernel
/// one is not available). Tokens are bytes, refilled at <see cref="BitsPerSecond"/>/8 per second up to
/// <see cref="BurstBytes"/>; a sender that overdraws waits until the debt is repaid, so the long-run
/// rate is exact even though timers are coarse. The rate can be changed while traffic flows.
/// </summary>
public sealed class LinkShaper
{
    private readonly Lock _gate = new();
    private double _bytesPerSecond;
    private double _tokens;
    private long _lastRefill;

    /// <param name="bitsPerSecond">Link rate in bit/s.</param>
    /// <param name="burstBytes">Bucket depth; 0 picks 5 ms of traffic, at least 4 KiB.</param>
    public LinkShaper(double bitsPerSecond, int burstBytes = 0)
    {
        SetRate(bitsPerSecond);
        BurstBytes = burstBytes > 0 ? burstBytes : (int)Math.Clamp(_bytesPerSecond * 0.005, 4096, 1 << 20);
        _tokens = BurstBytes;
        _lastRefill = Stopwatch.GetTimestamp();
    }

    public int BurstBytes { get; }

    /// <summary>Largest piece a sender should pass at once, so pacing is smooth within a frame.</summary>
    public int ChunkBytes => Math.Max(1024, BurstBytes);

    /// <summary>Current rate in bit/s; setting it takes effect for the next bytes sent.</summary>
    public double BitsPerSecond
    {
        get { lock (_gate) { return _bytesPerSecond * 8; } }
        set => SetRate(value);
    }

    /// <summary>Bytes passed so far.</summary>
    public long BytesPassed { get; private set; }

    /// <summary>Takes <paramref name="bytes"/> tokens, waiting while the bucket is in debt.</summary>
    public ValueTask AcquireAsync(int bytes, CancellationToken cancellationToken = default)
    {
        double waitSeconds;
        lock (_gate)
        {
            Refill();
            _tokens -= bytes;
            BytesPassed += bytes;
            waitSeconds = _tokens >= 0 ? 0 : -_tokens / _bytesPerSecond;
        }

        return waitSeconds <= 0 ? ValueTask.CompletedTask : new ValueTask(Task.Delay(TimeSpan.FromSeconds(waitSeconds), cancellationToken));
    }

    /// <summary>
    /// Parses a rate the way <c>tc</c> writes it: <c>20mbit</c>, <c>500kbit</c>, <c>1gbit</c>, <c>64000bit</c>
    /// (also <c>20Mbit/s</c>). Bytes-per-second units (<c>mbps</c>) are refused as ambiguous.
    /// </summary>
    public static double ParseRate(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string s = text.Trim().ToLowerInvariant();
        if (s.EndsWith("/s", StringComparison.Ordinal))
        {
            s = s[..^2];
        }

        (string Suffix, double Factor)[] units = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1)];
        foreach ((string suffix, double factor) in units)
        {
            if (s.EndsWith(suffix, StringComparison.Ordinal)
                && double.TryParse(s[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
                && value > 0 && double.IsFinite(value))
            {
                return value * factor;
            }
        }

        throw new FormatException($"'{text}' is not a link rate; write it as tc does, e.g. 20mbit, 500kbit, 1gbit");
    }

    public override string ToString() => $"{BitsPerSecond / 1e6:0.###} Mbit/s (burst {BurstBytes} B)";

    private void SetRate(double bitsPerSecond)
    {
        if (!(bitsPerSecond > 0) || !double.IsFinite(bitsPerSecond))
        {
            throw new ArgumentOutOfRangeException(nameof(bitsPerSecond), bitsPerSecond, "the link rate must be a positive number of bit/s");
        }

        lock (_gate)
        {
            if (_bytesPerSecond > 0)
            {
                Refill(); // tokens earned at the old rate stay earned
            }

            _bytesPerSecond = bitsPerSecond / 8;
        }
    }

    private void Refill()
    {
        long now = Stopwatch.GetTimestamp();
        double elapsed = (now - _lastRefill) / (double)Stopwatch.Frequency;
        _lastRefill = now;
        _tokens = Math.Min(BurstBytes, _tokens + (elapsed * _bytesPerSecond));
    }
}
