using Coach.Native.Telemetry;

namespace Coach.Native.Tests.Telemetry;

/// <summary>Energy per frame from samples driven by a manual clock over fixture trees whose values the test changes.</summary>
public sealed class TelemetrySamplerTests
{
    private const string OrinHwmon = "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon1";
    private const string OrinGpuLoad = "sys/class/devfreq/17000000.gpu/device/load";

    [Fact]
    public void ConstantFiveWattsForTwoSecondsOverHundredFramesIsATenthOfAJoulePerFrame()
    {
        using var fixture = SysfsFixture.Copy("orin-jp6");
        fixture.Write($"{OrinHwmon}/in1_input", 5000); // 5.000 V
        fixture.Write($"{OrinHwmon}/curr1_input", 1000); // 1.000 A → 5.0 W
        var clock = new ManualClock();
        using var sampler = new TelemetrySampler(JetsonTelemetry.Open(fixture.Root), TimeSpan.FromMilliseconds(100), clock: clock, ownsTelemetry: true);

        sampler.Start();
        sampler.BeginRun();
        clock.Advance(TimeSpan.FromSeconds(2)); // the timer samples every 100 ms
        var report = sampler.EndRun(frames: 100);

        Assert.True(report.HasEnergy);
        Assert.Equal(10.0, report.Joules, 9);        // 5 W × 2 s
        Assert.Equal(0.1, report.JoulesPerFrame, 9); // 10 J / 100 frames
        Assert.Equal(5.0, report.MeanPowerW, 9);
        Assert.Equal(TimeSpan.FromSeconds(2), report.Duration);
        Assert.Equal(100, report.Frames);
        Assert.Equal(22, report.Samples); // BeginRun, 20 timer ticks, EndRun (the last at the same instant as the 20th tick)
    }

    [Fact]
    public void LinearlyRisingPowerIntegratesExactlyAndPeakAndMeanFollowTheValuesWritten()
    {
        using var fixture = SysfsFixture.Copy("orin-jp6");
        var clock = new ManualClock();
        using var sampler = new TelemetrySampler(JetsonTelemetry.Open(fixture.Root), clock: clock, ownsTelemetry: true);
        const int steps = 40;
        var step = TimeSpan.FromMilliseconds(50);
        fixture.Write($"{OrinHwmon}/in1_input", 5000);

        // Power ramps 4 W → 6 W and GPU load 0 → 100 % over 2 s; the hottest zone climbs 50 → 70 °C.
        for (int i = 0; i <= steps; i++)
        {
            double fraction = (double)i / steps;
            fixture.Write($"{OrinHwmon}/curr1_input", (long)Math.Round(800 + 400 * fraction)); // mA at 5 V
            fixture.Write(OrinGpuLoad, (long)Math.Round(1000 * fraction));
            fixture.Write("sys/class/thermal/thermal_zone8/temp", (long)Math.Round(50_000 + 20_000 * fraction));
            if (i == 0)
            {
                sampler.BeginRun();
            }
            else
            {
                sampler.SampleNow();
            }
            if (i < steps)
            {
                clock.Advance(step);
            }
        }
        var report = sampler.EndRun(frames: 40);

        // The trapezoidal rule is exact for a linear ramp: ∫ = (4 W + 6 W) / 2 × 2 s.
        Assert.Equal((4.0 + 6.0) / 2 * 2.0, report.Joules, 9);
        Assert.Equal(report.Joules / 40, report.JoulesPerFrame, 12);
        Assert.Equal(5.0, report.MeanPowerW, 9);
        Assert.Equal(0.5, report.MeanGpuLoad, 9);
        Assert.Equal(70.0, report.PeakTempC, 9);
    }

    [Fact]
    public void UnreadablePowerSampleIsLeftOutOfTheIntegralNotCountedAsZero()
    {
        using var fixture = SysfsFixture.Copy("xavier-nx-jp5");
        const string hwmon = "sys/bus/i2c/drivers/ina3221/7-0040/hwmon/hwmon6";
        fixture.Write($"{hwmon}/in1_input", 5000);
        fixture.Write($"{hwmon}/curr1_input", 2000); // 10 W
        var clock = new ManualClock();
        using var sampler = new TelemetrySampler(JetsonTelemetry.Open(fixture.Root), clock: clock, ownsTelemetry: true);

        sampler.BeginRun();
        clock.Advance(TimeSpan.FromSeconds(1));
        sampler.SampleNow();                                  // 0–1 s at 10 W
        fixture.Write($"{hwmon}/curr1_input", "garbled");
        clock.Advance(TimeSpan.FromSeconds(1));
        sampler.SampleNow();                                  // unreadable: 1–2 s and 2–3 s are unknown
        fixture.Write($"{hwmon}/curr1_input", 2000);
        clock.Advance(TimeSpan.FromSeconds(1));
        sampler.SampleNow();
        clock.Advance(TimeSpan.FromSeconds(1));
        var report = sampler.EndRun(frames: 10);              // 3–4 s at 10 W

        Assert.Equal(20.0, report.Joules, 9);
        Assert.Equal(10.0, report.MeanPowerW, 9);
        Assert.Equal(TimeSpan.FromSeconds(4), report.Duration);
    }

    [Fact]
    public void WithoutTelemetryTheSamplerDoesNotStartAndReportsNoEnergy()
    {
        using var fixture = SysfsFixture.Empty();
        var clock = new ManualClock();
        using var sampler = new TelemetrySampler(JetsonTelemetry.Open(fixture.Root), clock: clock, ownsTelemetry: true);

        sampler.Start();
        sampler.BeginRun();
        clock.Advance(TimeSpan.FromSeconds(1));
        var report = sampler.EndRun(frames: 10);

        Assert.False(sampler.IsAvailable);
        Assert.Equal(0, clock.ActiveTimers);
        Assert.False(report.HasEnergy);
        Assert.True(double.IsNaN(report.JoulesPerFrame));
        Assert.Equal(10, report.Frames);
        Assert.Equal(TimeSpan.FromSeconds(1), report.Duration);
        Assert.Equal("energy: no Jetson telemetry on this machine", report.ToString());
    }

    [Fact]
    public void RingKeepsTheLatestSamplesOldestFirst()
    {
        using var fixture = SysfsFixture.Copy("tx2-jp4");
        var clock = new ManualClock();
        using var sampler = new TelemetrySampler(JetsonTelemetry.Open(fixture.Root), TimeSpan.FromMilliseconds(10), capacity: 8, clock: clock, ownsTelemetry: true);

        sampler.Start();
        clock.Advance(TimeSpan.FromMilliseconds(200)); // 20 ticks into a ring of 8
        var recent = new TelemetrySample[16];
        int count = sampler.CopyRecent(recent);

        Assert.Equal(20, sampler.SampleCount);
        Assert.Equal(8, count);
        for (int i = 1; i < count; i++)
        {
            Assert.Equal(TimeSpan.FromMilliseconds(10), clock.GetElapsedTime(recent[i - 1].Timestamp, recent[i].Timestamp));
        }
        Assert.Equal(sampler.Latest, recent[count - 1]);
        sampler.Stop();
        Assert.Equal(0, clock.ActiveTimers);
    }

    [Fact]
    public void SamplingAllocatesNothingInSteadyState()
    {
        using var fixture = SysfsFixture.Copy("orin-jp6");
        var clock = new ManualClock();
        using var sampler = new TelemetrySampler(JetsonTelemetry.Open(fixture.Root), capacity: 256, clock: clock, ownsTelemetry: true);
        sampler.BeginRun();
        for (int i = 0; i < 100; i++)
        {
            sampler.SampleNow(); // warm up: JIT, first reads
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            clock.Advance(TimeSpan.FromMilliseconds(1));
            sampler.SampleNow();
        }
        var report = sampler.Measure(frames: 10_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.True(report.HasEnergy);
    }

    [Fact]
    public void RealTimerSamplesInTheBackground()
    {
        using var fixture = SysfsFixture.Copy("orin-jp6");
        using var sampler = new TelemetrySampler(JetsonTelemetry.Open(fixture.Root), TimeSpan.FromMilliseconds(5), ownsTelemetry: true);

        sampler.BeginRun();
        sampler.Start();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (sampler.SampleCount < 5 && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(5); // waiting for a real timer to tick: nothing to synchronise on but time itself
        }
        var report = sampler.EndRun(frames: 1);

        Assert.True(sampler.SampleCount >= 5, $"only {sampler.SampleCount} samples in 10 s");
        Assert.True(report.Joules > 0);
        Assert.True(report.Duration > TimeSpan.Zero);
    }

    [Fact]
    public void BadArgumentsAreRejectedWithTheReason()
    {
        using var fixture = SysfsFixture.Empty();
        using var telemetry = JetsonTelemetry.Open(fixture.Root);

        Assert.Contains("interval must be positive", Assert.Throws<ArgumentOutOfRangeException>(() => new TelemetrySampler(telemetry, TimeSpan.Zero)).Message, StringComparison.Ordinal);
        Assert.Contains("at least 2", Assert.Throws<ArgumentOutOfRangeException>(() => new TelemetrySampler(telemetry, capacity: 1)).Message, StringComparison.Ordinal);
        using var sampler = new TelemetrySampler(telemetry);
        Assert.Contains("BeginRun", Assert.Throws<InvalidOperationException>(() => sampler.EndRun(1)).Message, StringComparison.Ordinal);
    }
}
