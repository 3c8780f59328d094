namespace Coach.Native.Telemetry;

/// <summary>
/// The integrated GPU's load, from the GPU device's <c>load</c> attribute (per mille, 0–1000, as tegrastats' GR3D).
/// Found as jetson-stats does — the devfreq device whose device-tree node is a Tegra GPU
/// (<c>/sys/class/devfreq/*/device/of_node/name</c> ∈ ga10b, gv11b, gp10b, gpu) — with the fixed paths of each
/// generation as a fallback.
/// </summary>
public sealed class GpuLoadSensor : IDisposable
{
    /// <summary>Device-tree node names of Tegra integrated GPUs: Orin (JetPack 5), Xavier, TX2, Orin (JetPack 6).</summary>
    private static readonly string[] GpuNodeNames = ["ga10b", "gv11b", "gp10b", "gpu"];

    /// <summary>Known locations of the load attribute, relative to the sysfs root.</summary>
    private static readonly string[] FixedLoadPaths =
    [
        "sys/devices/platform/bus@0/17000000.gpu/load", // Orin, JetPack 6 (L4T 36)
        "sys/devices/platform/17000000.gpu/load",       // Orin, JetPack 6
        "sys/devices/platform/17000000.ga10b/load",     // Orin, JetPack 5 (L4T 35)
        "sys/devices/17000000.ga10b/load",              // Orin, JetPack 5
        "sys/devices/17000000.gv11b/load",              // Xavier NX / AGX Xavier
        "sys/devices/17000000.gp10b/load",              // TX2
        "sys/devices/gpu.0/load",                       // Xavier, TX2, Nano: link to the GPU device
        "sys/devices/platform/gpu.0/load",              // older L4T
    ];

    private readonly SysfsAttribute? load;

    private GpuLoadSensor(SysfsAttribute? load) => this.load = load;

    /// <summary>True when a GPU load attribute was found.</summary>
    public bool IsAvailable => load is not null;

    /// <summary>The attribute read, or null.</summary>
    public string? LoadPath => load?.Path;

    /// <summary>Finds the GPU load attribute under <paramref name="sysfsRoot"/>. Never throws for a missing GPU.</summary>
    public static GpuLoadSensor Discover(string sysfsRoot = "/")
    {
        ArgumentNullException.ThrowIfNull(sysfsRoot);
        foreach (var devfreq in SysfsAttribute.ListDirectories(Path.Combine(sysfsRoot, "sys", "class", "devfreq")))
        {
            var node = SysfsAttribute.TryReadText(Path.Combine(devfreq, "device", "of_node", "name"));
            if (node is not null && Array.IndexOf(GpuNodeNames, node) >= 0
                && SysfsAttribute.TryOpen(Path.Combine(devfreq, "device", "load")) is { } found)
            {
                return new GpuLoadSensor(found);
            }
        }
        foreach (var relative in FixedLoadPaths)
        {
            if (SysfsAttribute.TryOpen(Path.Combine(sysfsRoot, relative)) is { } found)
            {
                return new GpuLoadSensor(found);
            }
        }
        return new GpuLoadSensor(null);
    }

    /// <summary>GPU load as a fraction in [0, 1]; NaN when unavailable or unreadable. Allocation-free.</summary>
    public double ReadLoad() =>
        load is not null && load.TryReadInt64(out long perMille) ? Math.Clamp(perMille / 1000.0, 0.0, 1.0) : double.NaN;

    public void Dispose() => load?.Dispose();
}
