using System.Text.Json;
using Coach.Transport.Edge;

namespace Coach.Native.Tests.Telemetry;

/// <summary><c>coach-edge run</c>'s energy and temperature figures, read from fake Jetson sysfs trees.</summary>
public sealed class EdgeTelemetryTests
{
    private const string OrinHwmon = "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon1";

    private static EdgeRunSummary Summary(int answered) => new()
    {
        PlanId = "p", Method = "coach", Scheduler = "fixed", FramesSent = answered, FramesAnswered = answered, FramesFailed = 0,
        RequestsSent = answered, RequestsAnswered = answered, Duplicates = 0, EarlyExits = 0, WallSeconds = 1, ThroughputFps = answered,
        LatencyMeanMs = 1, LatencyP50Ms = 1, LatencyP95Ms = 1, LatencyP99Ms = 1, Accuracy = 1, BytesPerFrame = 1, MeanBits = 4,
        EdgeUtilisation = 1, HeadUtilisation = 1, ScheduleUtilisation = 0, SendUtilisation = 0, CloudUtilisation = 0, BubbleRatio = 0, MeanCloudBatch = 1,
    };

    [Fact]
    public void OnAnOrinTheSummaryCarriesEnergyPerFramePowerAndPeakTemperature()
    {
        using var fixture = SysfsFixture.Copy("orin-jp6");
        fixture.Write($"{OrinHwmon}/in1_input", 5000); // VDD_IN 5.000 V
        fixture.Write($"{OrinHwmon}/curr1_input", 1000); // 1.000 A: 5 W
        var lines = new List<string>();

        using var telemetry = EdgeTelemetry.Start(fixture.Root, TimeSpan.FromMilliseconds(10), lines.Add);
        Assert.NotNull(telemetry);
        Thread.Sleep(200);
        var summary = telemetry.Complete(Summary(answered: 20));

        var energy = summary.Energy!.Value;
        Assert.Equal(5.0, energy.MeanPowerW, 6);
        // Constant 5 W: the energy is power times the sampled span (within the span's rounding to ticks).
        Assert.InRange(energy.Joules / (5.0 * energy.Duration.TotalSeconds), 0.99, 1.01);
        Assert.InRange(energy.Duration.TotalMilliseconds, 150, 5_000);
        using var json = JsonDocument.Parse(summary.ToJson());
        var root = json.RootElement;
        Assert.Equal(Math.Round(energy.Joules / 20 * 1000, 4), root.GetProperty("energy_mj_per_frame").GetDouble());
        Assert.Equal(5.0, root.GetProperty("mean_power_w").GetDouble());
        Assert.Equal(Math.Round(energy.PeakTempC, 4), root.GetProperty("peak_temp_c").GetDouble());
        Assert.InRange(energy.PeakTempC, 20, 110);
        Assert.Contains(lines, l => l.Contains("VDD_IN", StringComparison.Ordinal));
        Assert.Contains("J/frame", summary.Format());
    }

    [Fact]
    public void WithoutSensorsNothingStartsAndTheSummaryHasNoEnergyKeys()
    {
        using var fixture = SysfsFixture.Empty();
        var lines = new List<string>();

        var telemetry = EdgeTelemetry.Start(fixture.Root, TimeSpan.FromMilliseconds(10), lines.Add);

        Assert.Null(telemetry);
        Assert.Contains(lines, l => l.Contains("no Jetson telemetry", StringComparison.Ordinal));
        var json = Summary(answered: 5).ToJson();
        Assert.DoesNotContain("energy", json);
        Assert.DoesNotContain("temp", json);
    }
}
