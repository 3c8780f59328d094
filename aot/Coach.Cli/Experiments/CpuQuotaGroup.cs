using System.Globalization;

namespace Coach.Cli.Experiments;

/// <summary>
/// A cgroup-v1 CPU group with a CFS quota: a process inside gets <c>quota/period</c> of one core, which
/// makes this machine's CPU stand in for a Jetson-class device a stated factor slower (ARCHITECTURE §6).
/// CFS takes quotas of at least 1 ms, so the group gets a 1 ms quota per (1 ms / share) period, the finest throttling
/// there is (8 ms for 1/8 of a core). A frame that finds a full quota after idling still runs up to 1 ms at full speed,
/// so latency runs slow the edge with <c>coach-edge run --emulate-slowdown</c> instead.
/// </summary>
internal sealed class CpuQuotaGroup : IDisposable
{
    private const string ControllerRoot = "/sys/fs/cgroup/cpu";
    private const int QuotaMicros = 1_000;

    public string Directory { get; }

    public double ShareOfOneCore { get; }

    public string ProcsFile => Path.Combine(Directory, "cgroup.procs");

    private CpuQuotaGroup(string directory, double share)
    {
        Directory = directory;
        ShareOfOneCore = share;
    }

    /// <summary>Why a group cannot be made here, or null when it can (root and the v1 cpu controller).</summary>
    public static string? Unavailability()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "CPU cgroups need Linux";
        }

        if (Environment.UserName != "root" && !string.Equals(Environment.GetEnvironmentVariable("USER"), "root", StringComparison.Ordinal))
        {
            return "creating a CPU cgroup needs root";
        }

        return File.Exists(Path.Combine(ControllerRoot, "cpu.cfs_quota_us")) ? null : $"no cgroup-v1 cpu controller at {ControllerRoot}";
    }

    /// <summary>Creates <c>/sys/fs/cgroup/cpu/NAME</c> giving its members <paramref name="shareOfOneCore"/> of one core.</summary>
    public static CpuQuotaGroup Create(string name, double shareOfOneCore)
    {
        if (shareOfOneCore is <= 0 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(shareOfOneCore), shareOfOneCore, "the CPU share must be in (0, 64] cores");
        }

        var reason = Unavailability();
        if (reason is not null)
        {
            throw new InvalidOperationException($"cannot slow the edge with a CPU cgroup: {reason}");
        }

        var dir = Path.Combine(ControllerRoot, name);
        System.IO.Directory.CreateDirectory(dir);
        int period = shareOfOneCore < 1 ? (int)Math.Round(QuotaMicros / shareOfOneCore) : 10_000;
        int quota = shareOfOneCore < 1 ? QuotaMicros : (int)Math.Round(period * shareOfOneCore);
        // Both values must be valid at every step: the period first when it grows, the quota first when it shrinks.
        TryWrite(Path.Combine(dir, "cpu.cfs_period_us"), period);
        File.WriteAllText(Path.Combine(dir, "cpu.cfs_quota_us"), quota.ToString(CultureInfo.InvariantCulture));
        File.WriteAllText(Path.Combine(dir, "cpu.cfs_period_us"), period.ToString(CultureInfo.InvariantCulture));
        return new CpuQuotaGroup(dir, shareOfOneCore);
    }

    private static void TryWrite(string path, int value)
    {
        try
        {
            File.WriteAllText(path, value.ToString(CultureInfo.InvariantCulture));
        }
        catch (IOException)
        {
            // Not valid against the current quota yet; written again below.
        }
    }

    public void Dispose()
    {
        try
        {
            // Members must leave before the group can be removed; move stragglers to the root group.
            if (File.Exists(ProcsFile))
            {
                foreach (var pid in File.ReadAllLines(ProcsFile))
                {
                    try
                    {
                        File.WriteAllText(Path.Combine(ControllerRoot, "cgroup.procs"), pid);
                    }
                    catch (IOException)
                    {
                        // The process exited meanwhile.
                    }
                }
            }

            System.IO.Directory.Delete(Directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"coach: could not remove the CPU cgroup {Directory}: {e.Message}");
        }
    }
}
