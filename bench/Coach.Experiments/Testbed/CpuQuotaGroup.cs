using System.Globalization;

namespace Coach.Experiments;

/// <summary>Which cgroup interface limits CPU time on this machine.</summary>
internal enum CgroupVersion
{
    /// <summary>The v1 cpu controller: <c>cpu.cfs_quota_us</c> and <c>cpu.cfs_period_us</c> under <c>/sys/fs/cgroup/cpu</c>.</summary>
    V1,

    /// <summary>The unified hierarchy: <c>cpu.max</c> ("quota period") under <c>/sys/fs/cgroup</c> (JetPack 6, current distributions).</summary>
    V2,
}

/// <summary>
/// A CPU cgroup with a CFS quota: a process inside gets <c>quota/period</c> of one core, which makes this machine's CPU
/// stand in for a Jetson-class device a stated factor slower (the testbed of scripts/testbed/testbed.sh). Works on cgroup v2
/// (<c>cpu.max</c>) and on the v1 cpu controller; v2 is taken when the unified hierarchy offers the cpu controller.
/// CFS takes quotas of at least 1 ms, so the group gets a 1 ms quota per (1 ms / share) period, the finest throttling
/// there is (8 ms for 1/8 of a core). A frame that finds a full quota after idling still runs up to 1 ms at full speed,
/// so latency runs slow the edge with <c>coach-edge run --emulate-slowdown</c> instead.
/// </summary>
internal sealed class CpuQuotaGroup : IDisposable
{
    /// <summary>Where the kernel mounts cgroups.</summary>
    public const string DefaultMount = "/sys/fs/cgroup";

    private const int QuotaMicros = 1_000;

    private readonly string _controllerRoot;

    private CpuQuotaGroup(string directory, string controllerRoot, CgroupVersion version, double share, int quota, int period)
    {
        Directory = directory;
        _controllerRoot = controllerRoot;
        Version = version;
        ShareOfOneCore = share;
        QuotaMicroseconds = quota;
        PeriodMicroseconds = period;
    }

    /// <summary>The group's folder.</summary>
    public string Directory { get; }

    /// <summary>The interface the quota was written through.</summary>
    public CgroupVersion Version { get; }

    public double ShareOfOneCore { get; }

    public int QuotaMicroseconds { get; }

    public int PeriodMicroseconds { get; }

    /// <summary>Writing a pid here moves that process (and the threads it starts later) into the group.</summary>
    public string ProcsFile => Path.Combine(Directory, "cgroup.procs");

    /// <summary>How the quota is set, in words, e.g. "cgroup v2 cpu.max 1000/8000 µs".</summary>
    public string Description => $"{Describe(Version)} {QuotaMicroseconds}/{PeriodMicroseconds} µs";

    /// <summary>"cgroup v2 cpu.max" or "cgroup v1 cpu.cfs_quota_us".</summary>
    public static string Describe(CgroupVersion version) =>
        version == CgroupVersion.V2 ? "cgroup v2 cpu.max" : "cgroup v1 cpu.cfs_quota_us";

    /// <summary>The CPU interface under <paramref name="mount"/>: v2 when the unified hierarchy lists the cpu controller,
    /// else v1 when its cpu controller is mounted; null when neither (then <paramref name="reason"/> says why).</summary>
    public static CgroupVersion? Detect(string mount, out string reason)
    {
        var controllers = Path.Combine(mount, "cgroup.controllers");
        if (File.Exists(controllers))
        {
            if (File.ReadAllText(controllers).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Contains("cpu"))
            {
                reason = "";
                return CgroupVersion.V2;
            }
            reason = $"the cgroup v2 hierarchy at {mount} does not offer the cpu controller ({controllers} lists no cpu)";
        }
        else
        {
            reason = $"no cgroup v2 hierarchy at {mount}";
        }

        if (File.Exists(Path.Combine(mount, "cpu", "cpu.cfs_quota_us")))
        {
            reason = "";
            return CgroupVersion.V1;
        }
        reason += $" and no cgroup-v1 cpu controller at {Path.Combine(mount, "cpu")}";
        return null;
    }

    /// <summary>Why a group cannot be made here, or null when it can (root, and a v2 or v1 CPU interface).</summary>
    public static string? Unavailability(string mount = DefaultMount)
    {
        if (!OperatingSystem.IsLinux())
        {
            return "CPU cgroups need Linux";
        }

        if (Environment.UserName != "root" && !string.Equals(Environment.GetEnvironmentVariable("USER"), "root", StringComparison.Ordinal))
        {
            return "creating a CPU cgroup needs root";
        }

        return Detect(mount, out var reason) is null ? reason : null;
    }

    /// <summary>Creates the group NAME giving its members <paramref name="shareOfOneCore"/> of one core, through the
    /// interface <see cref="Detect"/> finds under <paramref name="mount"/>.</summary>
    public static CpuQuotaGroup Create(string name, double shareOfOneCore, string mount = DefaultMount)
    {
        if (shareOfOneCore is <= 0 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(shareOfOneCore), shareOfOneCore, "the CPU share must be in (0, 64] cores");
        }

        var version = Detect(mount, out var reason)
            ?? throw new InvalidOperationException($"cannot slow the edge with a CPU cgroup: {reason}");
        int period = shareOfOneCore < 1 ? (int)Math.Round(QuotaMicros / shareOfOneCore) : 10_000;
        int quota = shareOfOneCore < 1 ? QuotaMicros : (int)Math.Round(period * shareOfOneCore);

        if (version == CgroupVersion.V2)
        {
            // A child gets the cpu interface files only once its parent delegates the controller to children.
            var delegation = Path.Combine(mount, "cgroup.subtree_control");
            if (!File.ReadAllText(delegation).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Contains("cpu"))
            {
                File.WriteAllText(delegation, "+cpu");
            }
            var directory = Path.Combine(mount, name);
            System.IO.Directory.CreateDirectory(directory);
            File.WriteAllText(Path.Combine(directory, "cpu.max"), string.Create(CultureInfo.InvariantCulture, $"{quota} {period}"));
            return new CpuQuotaGroup(directory, mount, version, shareOfOneCore, quota, period);
        }

        var root = Path.Combine(mount, "cpu");
        var dir = Path.Combine(root, name);
        System.IO.Directory.CreateDirectory(dir);
        // Both values must be valid at every step: the period first when it grows, the quota first when it shrinks.
        TryWrite(Path.Combine(dir, "cpu.cfs_period_us"), period);
        File.WriteAllText(Path.Combine(dir, "cpu.cfs_quota_us"), quota.ToString(CultureInfo.InvariantCulture));
        File.WriteAllText(Path.Combine(dir, "cpu.cfs_period_us"), period.ToString(CultureInfo.InvariantCulture));
        return new CpuQuotaGroup(dir, root, version, shareOfOneCore, quota, period);
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
                        File.WriteAllText(Path.Combine(_controllerRoot, "cgroup.procs"), pid);
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
