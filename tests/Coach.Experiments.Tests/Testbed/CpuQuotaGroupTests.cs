using System.Diagnostics;
using Coach.Engine.Data;
using Coach.Experiments;

namespace Coach.Experiments.Tests.Testbed;

/// <summary>The edge's CPU quota on fake cgroup trees laid out as the kernel lays them out: a v2-only machine
/// (JetPack 6, current Debian), a v1 machine, and a hybrid one whose unified hierarchy holds no controllers.</summary>
public sealed class CpuQuotaGroupTests : IDisposable
{
    private readonly string _mount = Path.Combine(Path.GetTempPath(), $"coach-cgroup-{Guid.NewGuid():N}");

    public CpuQuotaGroupTests() => Directory.CreateDirectory(_mount);

    public void Dispose() => Directory.Delete(_mount, recursive: true);

    private void UnifiedHierarchy(string controllers)
    {
        File.WriteAllText(Path.Combine(_mount, "cgroup.controllers"), controllers + "\n");
        File.WriteAllText(Path.Combine(_mount, "cgroup.subtree_control"), "");
    }

    private void V1CpuController()
    {
        Directory.CreateDirectory(Path.Combine(_mount, "cpu"));
        File.WriteAllText(Path.Combine(_mount, "cpu", "cpu.cfs_quota_us"), "-1\n");
    }

    [Fact]
    public void OnACgroupV2OnlyMachineTheQuotaGoesToCpuMaxAfterDelegatingTheController()
    {
        UnifiedHierarchy("cpuset cpu io memory hugetlb pids rdma misc");

        using var group = CpuQuotaGroup.Create("coach-edge-test", 1.0 / 8, _mount);

        Assert.Equal(CgroupVersion.V2, group.Version);
        Assert.Equal(Path.Combine(_mount, "coach-edge-test"), group.Directory);
        Assert.Equal("+cpu", File.ReadAllText(Path.Combine(_mount, "cgroup.subtree_control")));
        // An 8x slower edge: 1 ms of CPU per 8 ms period (cpu.max is "quota period").
        Assert.Equal("1000 8000", File.ReadAllText(Path.Combine(group.Directory, "cpu.max")));
        Assert.Equal("cgroup v2 cpu.max 1000/8000 µs", group.Description);
        Assert.False(Directory.Exists(Path.Combine(_mount, "cpu")));
    }

    [Fact]
    public void AProcessStartedThroughTheProcsFileJoinsTheGroup()
    {
        UnifiedHierarchy("cpu pids");
        using var group = CpuQuotaGroup.Create("coach-edge-join", 0.25, _mount);

        // The same hand-off the bench uses for coach-edge: the shell writes its pid, then becomes the program.
        using var shell = Process.Start(new ProcessStartInfo("/bin/sh")
        {
            ArgumentList = { "-c", "echo $$ > \"$0\" && exec sleep 0", group.ProcsFile },
            UseShellExecute = false,
        })!;
        shell.WaitForExit();

        Assert.Equal(0, shell.ExitCode);
        Assert.Equal(shell.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), File.ReadAllText(group.ProcsFile).Trim());
        Assert.Equal("1000 4000", File.ReadAllText(Path.Combine(group.Directory, "cpu.max")));
    }

    [Fact]
    public void TheControllerIsNotDelegatedTwice()
    {
        UnifiedHierarchy("cpu memory");
        File.WriteAllText(Path.Combine(_mount, "cgroup.subtree_control"), "cpu memory\n");

        using var group = CpuQuotaGroup.Create("coach-edge-again", 0.5, _mount);

        Assert.Equal("cpu memory\n", File.ReadAllText(Path.Combine(_mount, "cgroup.subtree_control")));
        Assert.Equal("1000 2000", File.ReadAllText(Path.Combine(group.Directory, "cpu.max")));
    }

    [Fact]
    public void OnAV1MachineTheQuotaGoesToTheCfsFiles()
    {
        V1CpuController();

        using var group = CpuQuotaGroup.Create("coach-edge-v1", 1.0 / 8, _mount);

        Assert.Equal(CgroupVersion.V1, group.Version);
        Assert.Equal("1000", File.ReadAllText(Path.Combine(group.Directory, "cpu.cfs_quota_us")));
        Assert.Equal("8000", File.ReadAllText(Path.Combine(group.Directory, "cpu.cfs_period_us")));
    }

    [Fact]
    public void AHybridMachineWhoseUnifiedHierarchyHasNoCpuControllerUsesV1()
    {
        UnifiedHierarchy("");
        V1CpuController();

        Assert.Equal(CgroupVersion.V1, CpuQuotaGroup.Detect(_mount, out _));
    }

    [Fact]
    public void WithoutAnyCpuControllerTheReasonNamesBothPlacesLooked()
    {
        UnifiedHierarchy("memory pids");

        Assert.Null(CpuQuotaGroup.Detect(_mount, out var reason));
        Assert.Contains("lists no cpu", reason);
        Assert.Contains(Path.Combine(_mount, "cpu"), reason);
        var error = Assert.Throws<InvalidOperationException>(() => CpuQuotaGroup.Create("x", 0.5, _mount));
        Assert.Contains("cannot slow the edge", error.Message);
    }

    [Fact]
    public void TheTestbedScriptWritesCpuMaxOnACgroupV2Machine()
    {
        UnifiedHierarchy("cpuset cpu io memory pids");
        var script = Path.Combine(ModelCatalog.RepositoryRoot, "scripts", "testbed", "testbed.sh");
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { script, "--dry-run", "up", "--edge-slowdown", "8" })
        {
            info.ArgumentList.Add(a);
        }
        info.Environment["COACH_CGROUP_MOUNT"] = _mount;

        using var p = Process.Start(info)!;
        var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();

        Assert.True(p.ExitCode == 0, output);
        Assert.Contains($"echo +cpu > {_mount}/cgroup.subtree_control", output);
        Assert.Contains($"echo \"1000 8000\" > {_mount}/coach-edge/cpu.max", output);
        Assert.Contains("cgroup v2 cpu.max 1000/8000", output);
        Assert.DoesNotContain("cfs_quota_us", output);
    }
}
