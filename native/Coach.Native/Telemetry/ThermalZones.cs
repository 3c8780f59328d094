namespace Coach.Native.Telemetry;

/// <summary>One kernel thermal zone (<c>/sys/class/thermal/thermal_zone{N}</c>).</summary>
/// <param name="Name">Its <c>type</c>, e.g. <c>cpu-thermal</c> (Orin), <c>GPU-therm</c> (Xavier, TX2).</param>
/// <param name="Directory">The zone's directory.</param>
public sealed record ThermalZone(string Name, string Directory);

/// <summary>
/// The thermal zones of the SoC, read from <c>/sys/class/thermal/thermal_zone*/{type,temp}</c> (temp in millidegrees
/// Celsius). Zones that do not measure the die are left out of the peak: <c>PMIC-Die</c> on Xavier/TX2 reports a fixed
/// 100 °C trip value, and a zone reading −256 °C or below (Orin's convention for an offline sensor, e.g. the CV zones
/// of an Orin Nano without DLAs) is offline.
/// </summary>
public sealed class ThermalZones : IDisposable
{
    /// <summary>Readings at or below this are the L4T "sensor offline" value (−256 °C).</summary>
    private const long OfflineMillidegrees = -256_000;

    private readonly SysfsAttribute[] temperatures;

    private ThermalZones(ThermalZone[] zones, SysfsAttribute[] temperatures)
    {
        Zones = zones;
        this.temperatures = temperatures;
    }

    /// <summary>True when at least one zone was found.</summary>
    public bool IsAvailable => temperatures.Length > 0;

    /// <summary>The zones found (those counted in <see cref="ReadPeakCelsius"/>), sorted by directory.</summary>
    public IReadOnlyList<ThermalZone> Zones { get; }

    /// <summary>Finds the thermal zones under <paramref name="sysfsRoot"/>. Never throws for missing sensors.</summary>
    public static ThermalZones Discover(string sysfsRoot = "/")
    {
        ArgumentNullException.ThrowIfNull(sysfsRoot);
        var zones = new List<ThermalZone>();
        var attributes = new List<SysfsAttribute>();
        foreach (var directory in SysfsAttribute.ListDirectories(Path.Combine(sysfsRoot, "sys", "class", "thermal"), "thermal_zone*"))
        {
            var type = SysfsAttribute.TryReadText(Path.Combine(directory, "type"));
            if (string.IsNullOrEmpty(type) || type.StartsWith("PMIC", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            var temp = SysfsAttribute.TryOpen(Path.Combine(directory, "temp"));
            if (temp is null)
            {
                continue;
            }
            zones.Add(new ThermalZone(type, directory));
            attributes.Add(temp);
        }
        return new ThermalZones([.. zones], [.. attributes]);
    }

    /// <summary>Reads every zone in °C into <paramref name="celsius"/> (length ≥ <c>Zones.Count</c>); offline or unreadable zones give NaN.</summary>
    public void ReadAll(Span<double> celsius)
    {
        if (celsius.Length < temperatures.Length)
        {
            throw new ArgumentException($"the destination holds {celsius.Length} values but there are {temperatures.Length} zones", nameof(celsius));
        }
        for (int i = 0; i < temperatures.Length; i++)
        {
            celsius[i] = ReadCelsius(temperatures[i]);
        }
    }

    /// <summary>The hottest online zone in °C; NaN when none could be read. Allocation-free.</summary>
    public double ReadPeakCelsius()
    {
        double peak = double.NaN;
        foreach (var temperature in temperatures)
        {
            double value = ReadCelsius(temperature);
            if (!double.IsNaN(value) && (double.IsNaN(peak) || value > peak))
            {
                peak = value;
            }
        }
        return peak;
    }

    private static double ReadCelsius(SysfsAttribute temperature) =>
        temperature.TryReadInt64(out long millidegrees) && millidegrees > OfflineMillidegrees
            ? millidegrees / 1000.0
            : double.NaN;

    public void Dispose()
    {
        foreach (var temperature in temperatures)
        {
            temperature.Dispose();
        }
    }
}
