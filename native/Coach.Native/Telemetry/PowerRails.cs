namespace Coach.Native.Telemetry;

/// <summary>How the INA3221 driver exposes a rail: the hwmon driver of JetPack 5/6 or the IIO driver of JetPack 4.</summary>
public enum PowerRailLayout
{
    /// <summary><c>/sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*/in{N}_label, in{N}_input (mV), curr{N}_input (mA)</c> — Orin, Xavier on JetPack 5/6.</summary>
    Hwmon,

    /// <summary><c>/sys/bus/i2c/drivers/ina3221x/*/iio:device*/rail_name_{N}, in_power{N}_input (mW), in_current{N}_input, in_voltage{N}_input</c> — TX2, Xavier on JetPack 4.</summary>
    Iio,
}

/// <summary>One monitored supply rail of an INA3221 channel.</summary>
/// <param name="Name">The rail's label from the device tree (e.g. <c>VDD_IN</c>, <c>VDD_CPU_GPU_CV</c>).</param>
/// <param name="Layout">Which driver layout it was found in.</param>
/// <param name="Directory">The hwmon or IIO directory holding the channel's files.</param>
/// <param name="Channel">The channel number in that directory's file names.</param>
public sealed record PowerRail(string Name, PowerRailLayout Layout, string Directory, int Channel);

/// <summary>
/// The Jetson's INA3221 power monitors read from sysfs. The module's total power is the input rail
/// (<c>VDD_IN</c>; <c>POM_5V_IN</c> on Nano/TX1, <c>5V_IN</c> in some Xavier NX trees) when the board has one, as tegrastats
/// and jetson-stats report it; boards without an input rail (AGX Xavier, AGX Orin) report the sum of their rails.
/// </summary>
public sealed class PowerRails : IDisposable
{
    /// <summary>Labels of a module's input rail, in order of preference.</summary>
    private static readonly string[] InputRailNames = ["VDD_IN", "POM_5V_IN", "5V_IN"];

    private readonly RailSensor[] sensors;
    private readonly int totalRail;

    private PowerRails(RailSensor[] sensors)
    {
        this.sensors = sensors;
        Rails = Array.ConvertAll(sensors, s => s.Rail);
        totalRail = -1;
        foreach (var name in InputRailNames)
        {
            totalRail = Array.FindIndex(sensors, s => string.Equals(s.Rail.Name, name, StringComparison.OrdinalIgnoreCase));
            if (totalRail >= 0)
            {
                break;
            }
        }
        TotalSource = sensors.Length == 0 ? "none"
            : totalRail >= 0 ? Rails[totalRail].Name
            : $"sum of {sensors.Length} rails";
    }

    /// <summary>True when at least one rail was found.</summary>
    public bool IsAvailable => sensors.Length > 0;

    /// <summary>Every rail found, sorted by sensor path and channel.</summary>
    public IReadOnlyList<PowerRail> Rails { get; }

    /// <summary>What <see cref="ReadTotalWatts"/> measures: the input rail's name, "sum of N rails", or "none".</summary>
    public string TotalSource { get; }

    /// <summary>Finds the INA3221 rails under <paramref name="sysfsRoot"/> (the file-system root on a device; a fixture tree in tests). Never throws for missing sensors.</summary>
    public static PowerRails Discover(string sysfsRoot = "/")
    {
        ArgumentNullException.ThrowIfNull(sysfsRoot);
        var sensors = new List<RailSensor>();
        string drivers = Path.Combine(sysfsRoot, "sys", "bus", "i2c", "drivers");

        // JetPack 5/6: mainline-style hwmon driver, one hwmon directory per I2C device.
        foreach (var device in I2cDevices(Path.Combine(drivers, "ina3221")))
        {
            foreach (var hwmon in SysfsAttribute.ListDirectories(Path.Combine(device, "hwmon"), "hwmon*"))
            {
                AddHwmonRails(hwmon, sensors);
            }
        }

        // JetPack 4 (L4T 32): NVIDIA's IIO driver.
        foreach (var device in I2cDevices(Path.Combine(drivers, "ina3221x")))
        {
            foreach (var iio in SysfsAttribute.ListDirectories(device, "iio:device*"))
            {
                AddIioRails(iio, sensors);
            }
        }
        return new PowerRails([.. sensors]);
    }

    /// <summary>
    /// The module's power in watts now (see <see cref="TotalSource"/>); NaN when unavailable or when a needed
    /// rail could not be read this time. Allocation-free.
    /// </summary>
    public double ReadTotalWatts()
    {
        if (sensors.Length == 0)
        {
            return double.NaN;
        }
        if (totalRail >= 0)
        {
            return sensors[totalRail].ReadWatts();
        }
        double sum = 0;
        foreach (var sensor in sensors)
        {
            sum += sensor.ReadWatts(); // a NaN rail makes the sum NaN: a partial sum would understate the power
        }
        return sum;
    }

    /// <summary>Reads every rail in watts into <paramref name="watts"/> (length ≥ <c>Rails.Count</c>); an unreadable rail gives NaN.</summary>
    public void ReadRails(Span<double> watts)
    {
        if (watts.Length < sensors.Length)
        {
            throw new ArgumentException($"the destination holds {watts.Length} values but there are {sensors.Length} rails", nameof(watts));
        }
        for (int i = 0; i < sensors.Length; i++)
        {
            watts[i] = sensors[i].ReadWatts();
        }
    }

    public void Dispose()
    {
        foreach (var sensor in sensors)
        {
            sensor.Dispose();
        }
    }

    /// <summary>I2C client directories of a driver (<c>1-0040</c>, <c>0-0041</c>), skipping <c>module</c> and other non-device links.</summary>
    private static IEnumerable<string> I2cDevices(string driver)
    {
        foreach (var entry in SysfsAttribute.ListDirectories(driver))
        {
            var name = Path.GetFileName(entry);
            if (name.Length > 0 && char.IsAsciiDigit(name[0]) && name.Contains('-', StringComparison.Ordinal))
            {
                yield return entry;
            }
        }
    }

    private static void AddHwmonRails(string hwmon, List<RailSensor> sensors)
    {
        // Channels 1-3 carry bus voltage (in{N}) and current (curr{N}); in4-6 are shunt voltages and
        // in7 "sum of shunt voltages", which are not rails.
        for (int channel = 1; channel <= 3; channel++)
        {
            var label = SysfsAttribute.TryReadText(Path.Combine(hwmon, $"in{channel}_label"));
            if (string.IsNullOrEmpty(label) || IsUnconnected(label))
            {
                continue;
            }
            var millivolts = SysfsAttribute.TryOpen(Path.Combine(hwmon, $"in{channel}_input"));
            var milliamps = SysfsAttribute.TryOpen(Path.Combine(hwmon, $"curr{channel}_input"));
            if (millivolts is null || milliamps is null)
            {
                millivolts?.Dispose();
                milliamps?.Dispose();
                continue;
            }
            sensors.Add(new RailSensor(new PowerRail(label, PowerRailLayout.Hwmon, hwmon, channel), milliwatts: null, millivolts, milliamps));
        }
    }

    private static void AddIioRails(string iio, List<RailSensor> sensors)
    {
        for (int channel = 0; channel <= 2; channel++)
        {
            var label = SysfsAttribute.TryReadText(Path.Combine(iio, $"rail_name_{channel}"));
            if (string.IsNullOrEmpty(label) || IsUnconnected(label))
            {
                continue;
            }
            var milliwatts = SysfsAttribute.TryOpen(Path.Combine(iio, $"in_power{channel}_input"));
            var millivolts = SysfsAttribute.TryOpen(Path.Combine(iio, $"in_voltage{channel}_input"));
            var milliamps = SysfsAttribute.TryOpen(Path.Combine(iio, $"in_current{channel}_input"));
            if (milliwatts is null && (millivolts is null || milliamps is null))
            {
                milliwatts?.Dispose();
                millivolts?.Dispose();
                milliamps?.Dispose();
                continue;
            }
            sensors.Add(new RailSensor(new PowerRail(label, PowerRailLayout.Iio, iio, channel), milliwatts, millivolts, milliamps));
        }
    }

    /// <summary>Orin device trees label unused channels "NC" (not connected).</summary>
    private static bool IsUnconnected(string label) =>
        label.Equals("NC", StringComparison.OrdinalIgnoreCase) || label.StartsWith("NC ", StringComparison.OrdinalIgnoreCase);

    private sealed class RailSensor(PowerRail rail, SysfsAttribute? milliwatts, SysfsAttribute? millivolts, SysfsAttribute? milliamps) : IDisposable
    {
        public PowerRail Rail { get; } = rail;

        public double ReadWatts()
        {
            // The IIO driver computes power itself; hwmon gives bus voltage and current (P = V·I).
            if (milliwatts is not null)
            {
                return milliwatts.TryReadInt64(out long mw) ? mw / 1000.0 : double.NaN;
            }
            if (millivolts!.TryReadInt64(out long mv) && milliamps!.TryReadInt64(out long ma))
            {
                return mv * (double)ma / 1e6;
            }
            return double.NaN;
        }

        public void Dispose()
        {
            milliwatts?.Dispose();
            millivolts?.Dispose();
            milliamps?.Dispose();
        }
    }
}
