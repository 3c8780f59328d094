using System.Text;

namespace Coach.Native.Telemetry;

/// <summary>One reading of the device: module power, hottest thermal zone and GPU load (NaN for what is missing).</summary>
/// <param name="Timestamp">When it was taken, in <see cref="TimeProvider.GetTimestamp"/> ticks of the sampler's clock.</param>
/// <param name="PowerW">Module power in watts (<see cref="PowerRails.TotalSource"/>).</param>
/// <param name="PeakTempC">Hottest online thermal zone in °C.</param>
/// <param name="GpuLoad">GPU load as a fraction in [0, 1].</param>
public readonly record struct TelemetrySample(long Timestamp, double PowerW, double PeakTempC, double GpuLoad);

/// <summary>
/// The Jetson's sysfs telemetry: INA3221 power rails, thermal zones and GPU load, all discovered under one sysfs root
/// ("/" on a device, a fixture tree in tests). On a machine without them every part reports
/// <c>IsAvailable == false</c> and reads NaN; opening never throws for missing sensors.
/// </summary>
public sealed class JetsonTelemetry : IDisposable
{
    private JetsonTelemetry(string sysfsRoot, PowerRails power, ThermalZones thermal, GpuLoadSensor gpu)
    {
        SysfsRoot = sysfsRoot;
        Power = power;
        Thermal = thermal;
        Gpu = gpu;
    }

    public string SysfsRoot { get; }

    public PowerRails Power { get; }

    public ThermalZones Thermal { get; }

    public GpuLoadSensor Gpu { get; }

    /// <summary>True when any of power, temperature or GPU load can be read.</summary>
    public bool IsAvailable => Power.IsAvailable || Thermal.IsAvailable || Gpu.IsAvailable;

    /// <summary>Discovers the sensors under <paramref name="sysfsRoot"/> (default "/").</summary>
    public static JetsonTelemetry Open(string sysfsRoot = "/")
    {
        ArgumentException.ThrowIfNullOrEmpty(sysfsRoot);
        return new JetsonTelemetry(sysfsRoot, PowerRails.Discover(sysfsRoot), ThermalZones.Discover(sysfsRoot), GpuLoadSensor.Discover(sysfsRoot));
    }

    /// <summary>Reads every sensor once. Allocation-free.</summary>
    public TelemetrySample Read(long timestamp) =>
        new(timestamp, Power.ReadTotalWatts(), Thermal.ReadPeakCelsius(), Gpu.ReadLoad());

    /// <summary>One line per sensor group saying what was found, for logs (e.g. <c>power: VDD_IN of 3 rails (hwmon)</c>).</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        if (Power.IsAvailable)
        {
            text.Append("power: ").Append(Power.TotalSource).Append(" of ").Append(Power.Rails.Count).Append(" INA3221 rails (")
                .Append(Power.Rails[0].Layout == PowerRailLayout.Hwmon ? "hwmon" : "iio").Append("): ")
                .AppendJoin(", ", Power.Rails.Select(r => r.Name)).AppendLine();
        }
        else
        {
            text.Append("power: no INA3221 rails under ").Append(Path.Combine(SysfsRoot, "sys/bus/i2c/drivers/ina3221{,x}")).AppendLine();
        }
        text.Append("thermal: ").Append(Thermal.IsAvailable ? string.Join(", ", Thermal.Zones.Select(z => z.Name)) : "no thermal zones").AppendLine();
        text.Append("gpu load: ").Append(Gpu.LoadPath ?? "no Tegra GPU load attribute");
        return text.ToString();
    }

    public void Dispose()
    {
        Power.Dispose();
        Thermal.Dispose();
        Gpu.Dispose();
    }
}
