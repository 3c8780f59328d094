namespace Coach.Native.Telemetry;

/// <summary>
/// Samples <see cref="JetsonTelemetry"/> on a background timer into a preallocated ring and integrates power over
/// time into energy for the current run, so the edge can report joules per frame. Steady state allocates nothing:
/// the ring is allocated once, sensors are read through open handles, and a run's figures are running sums.
/// On a machine without telemetry <see cref="Start"/> does nothing and reports carry NaN.
/// </summary>
public sealed class TelemetrySampler : IDisposable
{
    /// <summary>20 Hz: fine enough for per-run energy, far below the cost that would disturb the head's compute.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(50);

    private readonly JetsonTelemetry telemetry;
    private readonly bool ownsTelemetry;
    private readonly TimeProvider clock;
    private readonly TelemetrySample[] ring;
    private readonly Lock gate = new();
    private ITimer? timer;
    private long sampleCount;

    // The run in progress: running integrals (trapezoidal rule) between consecutive samples.
    private bool inRun;
    private TelemetrySample previous;
    private long runStart;
    private int runSamples;
    private double joules;
    private double powerSeconds;
    private double loadIntegral;
    private double loadSeconds;
    private double peakTempC;
    private double lastPowerW;
    private double lastGpuLoad;

    /// <param name="telemetry">The sensors to read.</param>
    /// <param name="interval">Sampling period of <see cref="Start"/>'s timer; default <see cref="DefaultInterval"/>.</param>
    /// <param name="capacity">Samples kept in the ring for <see cref="CopyRecent"/>; energy does not depend on it.</param>
    /// <param name="clock">Time source; tests pass a manual clock. Default <see cref="TimeProvider.System"/>.</param>
    /// <param name="ownsTelemetry">Dispose <paramref name="telemetry"/> with the sampler.</param>
    public TelemetrySampler(JetsonTelemetry telemetry, TimeSpan? interval = null, int capacity = 4096, TimeProvider? clock = null, bool ownsTelemetry = false)
    {
        ArgumentNullException.ThrowIfNull(telemetry);
        Interval = interval ?? DefaultInterval;
        if (Interval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(interval), Interval, "the sampling interval must be positive, e.g. 50 ms");
        }
        if (capacity < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "the sample ring must hold at least 2 samples");
        }
        this.telemetry = telemetry;
        this.ownsTelemetry = ownsTelemetry;
        this.clock = clock ?? TimeProvider.System;
        ring = new TelemetrySample[capacity];
    }

    public TimeSpan Interval { get; }

    public int Capacity => ring.Length;

    /// <summary>True when the device has any telemetry to sample.</summary>
    public bool IsAvailable => telemetry.IsAvailable;

    public JetsonTelemetry Telemetry => telemetry;

    /// <summary>Samples taken since creation (the ring keeps the last <see cref="Capacity"/>).</summary>
    public long SampleCount
    {
        get
        {
            lock (gate)
            {
                return sampleCount;
            }
        }
    }

    /// <summary>The most recent sample; default when none was taken.</summary>
    public TelemetrySample Latest
    {
        get
        {
            lock (gate)
            {
                return sampleCount == 0 ? default : ring[(sampleCount - 1) % ring.Length];
            }
        }
    }

    /// <summary>Starts sampling every <see cref="Interval"/> on a timer thread. Does nothing without telemetry or when started.</summary>
    public void Start()
    {
        if (!IsAvailable)
        {
            return;
        }
        lock (gate)
        {
            timer ??= clock.CreateTimer(static state => ((TelemetrySampler)state!).SampleNow(), this, Interval, Interval);
        }
    }

    /// <summary>Stops the timer; samples and the run in progress are kept.</summary>
    public void Stop()
    {
        ITimer? stopped;
        lock (gate)
        {
            stopped = timer;
            timer = null;
        }
        stopped?.Dispose();
    }

    /// <summary>Takes one sample now (what the timer does each tick). Allocation-free.</summary>
    public TelemetrySample SampleNow()
    {
        lock (gate)
        {
            var sample = telemetry.Read(clock.GetTimestamp());
            ring[sampleCount % ring.Length] = sample;
            sampleCount++;
            if (inRun)
            {
                Accumulate(sample);
            }
            return sample;
        }
    }

    /// <summary>Starts a run: clears its figures and takes its first sample.</summary>
    public void BeginRun()
    {
        lock (gate)
        {
            inRun = true;
            runSamples = 0;
            joules = powerSeconds = loadIntegral = loadSeconds = 0;
            peakTempC = lastPowerW = lastGpuLoad = double.NaN;
            runStart = clock.GetTimestamp();
            SampleNow();
        }
    }

    /// <summary>The run's figures so far, taking a sample now; the run goes on.</summary>
    public EnergyReport Measure(long frames)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(frames);
        lock (gate)
        {
            if (!inRun)
            {
                throw new InvalidOperationException("no run in progress: call BeginRun() when the run starts");
            }
            SampleNow();
            return Report(frames);
        }
    }

    /// <summary>Ends the run begun by <see cref="BeginRun"/>: takes a last sample and reports energy per frame over the run.</summary>
    public EnergyReport EndRun(long frames)
    {
        lock (gate)
        {
            var report = Measure(frames);
            inRun = false;
            return report;
        }
    }

    /// <summary>Copies up to <c>destination.Length</c> of the latest samples, oldest first; returns how many.</summary>
    public int CopyRecent(Span<TelemetrySample> destination)
    {
        lock (gate)
        {
            int count = (int)Math.Min(Math.Min(sampleCount, ring.Length), destination.Length);
            long first = sampleCount - count;
            for (int i = 0; i < count; i++)
            {
                destination[i] = ring[(first + i) % ring.Length];
            }
            return count;
        }
    }

    private void Accumulate(in TelemetrySample sample)
    {
        if (runSamples > 0)
        {
            double seconds = clock.GetElapsedTime(previous.Timestamp, sample.Timestamp).TotalSeconds;
            if (seconds > 0)
            {
                // Trapezoidal rule: exact for power that changes linearly between samples.
                if (!double.IsNaN(previous.PowerW) && !double.IsNaN(sample.PowerW))
                {
                    joules += 0.5 * (previous.PowerW + sample.PowerW) * seconds;
                    powerSeconds += seconds;
                }
                if (!double.IsNaN(previous.GpuLoad) && !double.IsNaN(sample.GpuLoad))
                {
                    loadIntegral += 0.5 * (previous.GpuLoad + sample.GpuLoad) * seconds;
                    loadSeconds += seconds;
                }
            }
        }
        if (!double.IsNaN(sample.PeakTempC) && (double.IsNaN(peakTempC) || sample.PeakTempC > peakTempC))
        {
            peakTempC = sample.PeakTempC;
        }
        if (!double.IsNaN(sample.PowerW))
        {
            lastPowerW = sample.PowerW;
        }
        if (!double.IsNaN(sample.GpuLoad))
        {
            lastGpuLoad = sample.GpuLoad;
        }
        previous = sample;
        runSamples++;
    }

    private EnergyReport Report(long frames)
    {
        var duration = clock.GetElapsedTime(runStart, previous.Timestamp);
        double energy = powerSeconds > 0 ? joules : double.NaN;
        double meanPower = powerSeconds > 0 ? joules / powerSeconds : lastPowerW;
        double meanLoad = loadSeconds > 0 ? loadIntegral / loadSeconds : lastGpuLoad;
        double perFrame = frames > 0 ? energy / frames : double.NaN;
        return new EnergyReport(energy, frames, perFrame, meanPower, peakTempC, meanLoad, duration, runSamples);
    }

    public void Dispose()
    {
        Stop();
        if (ownsTelemetry)
        {
            telemetry.Dispose();
        }
    }
}
