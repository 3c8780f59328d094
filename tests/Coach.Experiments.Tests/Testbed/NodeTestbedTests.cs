using System.Diagnostics;
using Coach.Engine.Data;
using Coach.Experiments;

namespace Coach.Experiments.Tests.Testbed;

/// <summary>The multi-device testbed (scripts/testbed/nodes.sh): the commands it would run on a cgroup v2 machine, and —
/// where this machine allows kernel shaping (root, netns, tc, a CPU cgroup, as CI has) — real devices whose processes run
/// in their own namespace and CPU group and reach each other through the bridge at the shaped rate.</summary>
public sealed class NodeTestbedTests : IDisposable
{
    private readonly string _mount = Path.Combine(Path.GetTempPath(), $"coach-cgroup-{Guid.NewGuid():N}");
    private readonly string _state = Path.Combine(Path.GetTempPath(), $"coach-nodes-{Guid.NewGuid():N}");

    public NodeTestbedTests() => Directory.CreateDirectory(_mount);

    public void Dispose() => Directory.Delete(_mount, recursive: true);

    private static string Script => Path.Combine(ModelCatalog.RepositoryRoot, "scripts", "testbed", "nodes.sh");

    private (int Code, string Output) DryRun(params string[] args)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Script);
        info.ArgumentList.Add("--dry-run");
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        info.Environment["COACH_CGROUP_MOUNT"] = _mount;
        info.Environment["COACH_NODES_STATE"] = _state;
        using var p = Process.Start(info)!;
        var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output);
    }

    [Fact]
    public void EachNodeGetsANamespaceOnTheBridgeItsOwnShapedEgressAndCpuQuota()
    {
        File.WriteAllText(Path.Combine(_mount, "cgroup.controllers"), "cpu memory\n");
        File.WriteAllText(Path.Combine(_mount, "cgroup.subtree_control"), "");

        var (code, output) = DryRun("up", "--node", "edge:25:10mbit", "--node", "w1:100:none:20mbit");

        Assert.True(code == 0, output);
        Assert.Contains("ip -n coach-hub link add coach-br type bridge", output);
        Assert.Contains("ip -n coach-n-edge addr add 198.18.1.10/24 dev cn-edge", output);
        Assert.Contains("ip -n coach-n-w1 addr add 198.18.1.11/24 dev cn-w1", output);
        Assert.Contains("ip -n coach-hub link set ch-w1 master coach-br", output);
        // The edge's sends are shaped on its own end, w1's receives on the bridge's end; w1 sends unshaped.
        Assert.Contains("ip netns exec coach-n-edge tc qdisc add dev cn-edge root tbf rate 10mbit", output);
        Assert.Contains("ip netns exec coach-hub tc qdisc add dev ch-w1 root tbf rate 20mbit", output);
        Assert.DoesNotContain("tc qdisc add dev cn-w1", output);
        // 25 % of one core: 1 ms of CPU per 4 ms.
        Assert.Contains($"echo \"1000 4000\" > {_mount}/coach-n-edge/cpu.max", output);
        Assert.Contains($"echo \"max 10000\" > {_mount}/coach-n-w1/cpu.max", output);
    }

    [Theory]
    [InlineData("EDGE:25:10mbit", "must be 1-10 of [a-z0-9]")]
    [InlineData("edge:0:10mbit", "CPU must be a whole percent")]
    [InlineData("edge:25", "give NAME:CPU:EGRESS")]
    [InlineData("edge:25:10furlongs", "unknown rate unit")]
    public void ABadNodeIsRefusedWithWhatToWrite(string spec, string expected)
    {
        File.WriteAllText(Path.Combine(_mount, "cgroup.controllers"), "cpu\n");
        var (code, output) = DryRun("up", "--node", spec);
        Assert.Equal(2, code);
        Assert.Contains(expected, output);
    }

    [Fact]
    public async Task RealNodesRunTheirProcessesInTheirOwnNamespaceAndCpuGroupAndReachEachOther()
    {
        if (NodeTestbed.Unavailability(ModelCatalog.RepositoryRoot) is not null)
        {
            // Not root, or no namespaces or CPU cgroup here: the dry-run tests above still cover the commands.
            return;
        }

        using var testbed = new NodeTestbed(ModelCatalog.RepositoryRoot);
        testbed.Up([new TestbedNode("ta", 50, "8mbit"), new TestbedNode("tb", 100, "none")]);
        Assert.Equal("198.18.1.10", testbed.Address("ta"));
        Assert.Equal("198.18.1.11", testbed.Address("tb"));

        await using (var probe = testbed.Start("ta", "probe", "/bin/sh", ["-c", "cat /proc/self/cgroup; ip -4 -o addr show"]))
        {
            Assert.Equal(0, await probe.WaitAsync(TimeSpan.FromSeconds(20)));
            var output = probe.Stdout;
            Assert.Contains("coach-n-ta", output);
            Assert.Contains("198.18.1.10/24", output);
            Assert.DoesNotContain("198.18.1.11", output);
        }

        // 1 MB from ta (shaped at 8 Mbit/s) to tb through the bridge takes about a second, not milliseconds.
        await using var sink = testbed.Start("tb", "sink", "/usr/bin/python3", ["-c",
            "import socket,time;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('0.0.0.0',9300));s.listen(1);print('listening',flush=True);c,_=s.accept();t=time.time();n=0\nwhile True:\n b=c.recv(65536)\n if not b: break\n n+=len(b)\nprint(n,time.time()-t,flush=True)"]);
        for (var waited = Stopwatch.StartNew(); !sink.Stdout.Contains("listening", StringComparison.Ordinal); await Task.Delay(50))
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(30) && !sink.HasExited, "the sink did not start listening: " + sink.StderrTail());
        }
        await using (var source = testbed.Start("ta", "source", "/usr/bin/python3", ["-c",
            "import socket;c=socket.create_connection(('198.18.1.11',9300));c.sendall(b'x'*1000000);c.close()"]))
        {
            Assert.True(await source.WaitAsync(TimeSpan.FromSeconds(30)) == 0, source.StderrTail());
        }

        Assert.True(await sink.WaitAsync(TimeSpan.FromSeconds(30)) == 0, sink.StderrTail());
        var line = sink.LastStdoutLine!.Split(' ');
        Assert.Equal("1000000", line[0]);
        double seconds = double.Parse(line[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(seconds, 0.7, 5.0);
    }
}
