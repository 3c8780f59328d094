using Coach.Native.Telemetry;

namespace Coach.Native.Tests.Telemetry;

/// <summary>Reads power, temperature and GPU load from fixture trees shaped like each supported Jetson's sysfs.</summary>
public sealed class JetsonTelemetryTests
{
    private const string OrinHwmon = "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon1";
    private const string XavierHwmon = "sys/bus/i2c/drivers/ina3221/7-0040/hwmon/hwmon6";
    private const string Tx2Input = "sys/bus/i2c/drivers/ina3221x/0-0041/iio:device1";

    [Fact]
    public void OrinJetPack6ReadsInputRailThermalZonesAndDevfreqGpuLoad()
    {
        using var fixture = SysfsFixture.Copy("orin-jp6");
        using var telemetry = JetsonTelemetry.Open(fixture.Root);

        Assert.True(telemetry.IsAvailable);
        Assert.Equal(["VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"], telemetry.Power.Rails.Select(r => r.Name));
        Assert.All(telemetry.Power.Rails, r => Assert.Equal(PowerRailLayout.Hwmon, r.Layout));
        Assert.Equal("VDD_IN", telemetry.Power.TotalSource);
        double expectedWatts = fixture.ReadInt64($"{OrinHwmon}/in1_input") * fixture.ReadInt64($"{OrinHwmon}/curr1_input") / 1e6;
        Assert.Equal(expectedWatts, telemetry.Power.ReadTotalWatts(), 9);

        // The CV zones of an Orin without DLAs read −256 °C (offline) and must not count; tj-thermal is the hottest.
        Assert.Contains(telemetry.Thermal.Zones, z => z.Name == "tj-thermal");
        Assert.Equal(fixture.ReadInt64("sys/class/thermal/thermal_zone8/temp") / 1000.0, telemetry.Thermal.ReadPeakCelsius(), 9);
        Span<double> zones = stackalloc double[telemetry.Thermal.Zones.Count];
        telemetry.Thermal.ReadAll(zones);
        int cv0 = telemetry.Thermal.Zones.ToList().FindIndex(z => z.Name == "cv0-thermal");
        Assert.True(double.IsNaN(zones[cv0]));

        Assert.EndsWith("devfreq/17000000.gpu/device/load", telemetry.Gpu.LoadPath, StringComparison.Ordinal);
        Assert.Equal(fixture.ReadInt64("sys/class/devfreq/17000000.gpu/device/load") / 1000.0, telemetry.Gpu.ReadLoad(), 9);
    }

    [Fact]
    public void XavierNxJetPack5ReadsHwmonRailsAndFallsBackToGpu0Load()
    {
        using var fixture = SysfsFixture.Copy("xavier-nx-jp5");
        using var telemetry = JetsonTelemetry.Open(fixture.Root);

        Assert.Equal(["VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"], telemetry.Power.Rails.Select(r => r.Name));
        Assert.DoesNotContain(telemetry.Power.Rails, r => r.Name == "sum of shunt voltages");
        double expectedWatts = fixture.ReadInt64($"{XavierHwmon}/in1_input") * fixture.ReadInt64($"{XavierHwmon}/curr1_input") / 1e6;
        Assert.Equal(expectedWatts, telemetry.Power.ReadTotalWatts(), 9);

        // PMIC-Die reports a fixed 100 °C trip value on Xavier and is not a die temperature.
        Assert.DoesNotContain(telemetry.Thermal.Zones, z => z.Name == "PMIC-Die");
        Assert.Equal(fixture.ReadInt64("sys/class/thermal/thermal_zone1/temp") / 1000.0, telemetry.Thermal.ReadPeakCelsius(), 9);

        Assert.EndsWith("sys/devices/gpu.0/load", telemetry.Gpu.LoadPath, StringComparison.Ordinal);
        Assert.Equal(fixture.ReadInt64("sys/devices/gpu.0/load") / 1000.0, telemetry.Gpu.ReadLoad(), 9);
    }

    [Fact]
    public void Tx2JetPack4ReadsIioRailsFromBothMonitors()
    {
        using var fixture = SysfsFixture.Copy("tx2-jp4");
        using var telemetry = JetsonTelemetry.Open(fixture.Root);

        Assert.Equal(6, telemetry.Power.Rails.Count);
        Assert.All(telemetry.Power.Rails, r => Assert.Equal(PowerRailLayout.Iio, r.Layout));
        Assert.Equal("VDD_IN", telemetry.Power.TotalSource);
        // The IIO driver reports power itself (mW); it is used as given.
        Assert.Equal(fixture.ReadInt64($"{Tx2Input}/in_power0_input") / 1000.0, telemetry.Power.ReadTotalWatts(), 9);

        Span<double> rails = stackalloc double[telemetry.Power.Rails.Count];
        telemetry.Power.ReadRails(rails);
        int gpuRail = telemetry.Power.Rails.ToList().FindIndex(r => r.Name == "VDD_SYS_GPU");
        Assert.Equal(fixture.ReadInt64("sys/bus/i2c/drivers/ina3221x/0-0040/iio:device0/in_power0_input") / 1000.0, rails[gpuRail], 9);

        Assert.DoesNotContain(telemetry.Thermal.Zones, z => z.Name == "PMIC-Die");
        Assert.Equal(fixture.ReadInt64("sys/class/thermal/thermal_zone0/temp") / 1000.0, telemetry.Thermal.ReadPeakCelsius(), 9);
        Assert.Equal(fixture.ReadInt64("sys/devices/17000000.gp10b/load") / 1000.0, telemetry.Gpu.ReadLoad(), 9);
    }

    [Fact]
    public void BoardWithoutInputRailReportsSumOfConnectedRails()
    {
        // AGX Orin labels: two monitors, no VDD_IN, unused channels labelled NC.
        using var fixture = SysfsFixture.Empty();
        string[][] monitors =
        [
            ["1-0040", "VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"],
            ["1-0041", "NC", "VDDQ_VDD2_1V8AO", "NC"],
        ];
        double expected = 0;
        int hwmon = 1;
        foreach (var monitor in monitors)
        {
            var dir = $"sys/bus/i2c/drivers/ina3221/{monitor[0]}/hwmon/hwmon{hwmon++}";
            for (int channel = 1; channel <= 3; channel++)
            {
                long mv = 5000 + channel, ma = 100 * channel + hwmon;
                fixture.Write($"{dir}/in{channel}_label", monitor[channel]);
                fixture.Write($"{dir}/in{channel}_input", mv);
                fixture.Write($"{dir}/curr{channel}_input", ma);
                if (monitor[channel] != "NC")
                {
                    expected += mv * ma / 1e6;
                }
            }
        }

        using var rails = PowerRails.Discover(fixture.Root);

        Assert.Equal(["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"], rails.Rails.Select(r => r.Name));
        Assert.Equal("sum of 4 rails", rails.TotalSource);
        Assert.Equal(expected, rails.ReadTotalWatts(), 9);
    }

    [Fact]
    public void DiscoveryFollowsSysfsSymlinksAsOnARealDevice()
    {
        // On a device the driver entries and devfreq entries are links into /sys/devices.
        using var fixture = SysfsFixture.Empty();
        var device = "sys/devices/platform/bus@0/c240000.i2c/i2c-1/1-0040";
        fixture.Write($"{device}/hwmon/hwmon1/in1_label", "VDD_IN");
        fixture.Write($"{device}/hwmon/hwmon1/in1_input", 5000);
        fixture.Write($"{device}/hwmon/hwmon1/curr1_input", 1500);
        Directory.CreateDirectory(fixture.PathOf("sys/bus/i2c/drivers/ina3221"));
        File.CreateSymbolicLink(fixture.PathOf("sys/bus/i2c/drivers/ina3221/1-0040"), fixture.PathOf(device));
        File.CreateSymbolicLink(fixture.PathOf("sys/bus/i2c/drivers/ina3221/module"), fixture.PathOf("sys/devices"));
        var gpu = "sys/devices/platform/bus@0/17000000.gpu";
        fixture.Write($"{gpu}/of_node/name", "gpu\0");
        fixture.Write($"{gpu}/load", 250);
        Directory.CreateDirectory(fixture.PathOf($"{gpu}/devfreq/17000000.gpu"));
        File.CreateSymbolicLink(fixture.PathOf($"{gpu}/devfreq/17000000.gpu/device"), fixture.PathOf(gpu));
        Directory.CreateDirectory(fixture.PathOf("sys/class/devfreq"));
        File.CreateSymbolicLink(fixture.PathOf("sys/class/devfreq/17000000.gpu"), fixture.PathOf($"{gpu}/devfreq/17000000.gpu"));

        using var telemetry = JetsonTelemetry.Open(fixture.Root);

        Assert.Equal(7.5, telemetry.Power.ReadTotalWatts(), 9); // 5000 mV × 1500 mA
        Assert.Equal(0.25, telemetry.Gpu.ReadLoad(), 9);
    }

    [Fact]
    public void MachineWithoutTelemetryIsUnavailableAndReadsNaN()
    {
        using var fixture = SysfsFixture.Empty();
        using var telemetry = JetsonTelemetry.Open(fixture.Root);

        Assert.False(telemetry.IsAvailable);
        Assert.False(telemetry.Power.IsAvailable);
        Assert.False(telemetry.Thermal.IsAvailable);
        Assert.False(telemetry.Gpu.IsAvailable);
        var sample = telemetry.Read(0);
        Assert.True(double.IsNaN(sample.PowerW));
        Assert.True(double.IsNaN(sample.PeakTempC));
        Assert.True(double.IsNaN(sample.GpuLoad));
        Assert.Contains("no INA3221 rails", telemetry.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void OpeningTheHostRootNeverThrows()
    {
        // This build machine is not a Jetson: whatever it has, opening "/" must succeed and say what it found.
        using var telemetry = JetsonTelemetry.Open("/");
        Assert.Contains("gpu load:", telemetry.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void UnreadableOrGarbledValuesReadAsNaNNotExceptions()
    {
        using var fixture = SysfsFixture.Copy("orin-jp6");
        using var telemetry = JetsonTelemetry.Open(fixture.Root);

        fixture.Write($"{OrinHwmon}/curr1_input", "not a number");
        fixture.Write("sys/class/devfreq/17000000.gpu/device/load", "");

        Assert.True(double.IsNaN(telemetry.Power.ReadTotalWatts()));
        Assert.True(double.IsNaN(telemetry.Gpu.ReadLoad()));
    }

    [Fact]
    public void DescribeNamesWhatWasFound()
    {
        using var fixture = SysfsFixture.Copy("tx2-jp4");
        using var telemetry = JetsonTelemetry.Open(fixture.Root);

        var text = telemetry.Describe();

        Assert.Contains("power: VDD_IN of 6 INA3221 rails (iio)", text, StringComparison.Ordinal);
        Assert.Contains("GPU-therm", text, StringComparison.Ordinal);
        Assert.Contains("17000000.gp10b/load", text, StringComparison.Ordinal);
    }
}
