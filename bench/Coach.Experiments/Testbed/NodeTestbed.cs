using System.Diagnostics;
using System.Globalization;

namespace Coach.Experiments;

/// <summary>One device of the multi-device testbed: its name (1–10 of [a-z0-9]), its CPU as a percentage of one core
/// (100 = no quota), and the rates that shape what it sends and receives ("none" = unshaped).</summary>
internal sealed record TestbedNode(string Name, int CpuPercent, string Egress, string Ingress = "none")
{
    public string Spec => string.Create(CultureInfo.InvariantCulture, $"{Name}:{CpuPercent}:{Egress}:{Ingress}");
}

/// <summary>
/// The multi-device kernel testbed of docs/architecture.md §6 driven through <c>scripts/testbed/nodes.sh</c>: one network
/// namespace per device on a bridge, each device's egress shaped with <c>tc tbf</c> and each device in its own CPU cgroup.
/// Processes started through <see cref="Start"/> run inside their device's namespace and quota. Everything it made is
/// removed on dispose (also when the process is terminated).
/// </summary>
internal sealed class NodeTestbed : IDisposable
{
    private readonly string _script;
    private readonly Dictionary<string, string> _addresses = new(StringComparer.Ordinal);
    private bool _up;

    public NodeTestbed(string repositoryRoot)
    {
        _script = ScriptPath(repositoryRoot);
        if (!File.Exists(_script))
        {
            throw new FileNotFoundException($"testbed script '{_script}' is missing", _script);
        }
    }

    /// <summary>Why kernel shaping is not possible here (not root, no netns/tc/cgroup), or null when it is.</summary>
    public static string? Unavailability(string repositoryRoot)
    {
        var (code, output) = Testbed.Run(ScriptPath(repositoryRoot), ["check"]);
        return code == 0 ? null : output.Trim().Length > 0 ? output.Trim() : "testbed check failed";
    }

    /// <summary>The devices brought up, in address order.</summary>
    public IReadOnlyList<TestbedNode> Nodes { get; private set; } = [];

    /// <summary>Brings the devices up (after removing whatever an earlier testbed left).</summary>
    public void Up(IReadOnlyList<TestbedNode> nodes)
    {
        ArgumentOutOfRangeException.ThrowIfZero(nodes.Count);
        var args = new List<string> { "up" };
        foreach (var node in nodes)
        {
            args.Add("--node");
            args.Add(node.Spec);
        }

        _up = true;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Dispose();
        Check(Testbed.Run(_script, args), "up");
        Nodes = nodes;
        _addresses.Clear();
        foreach (var node in nodes)
        {
            var (code, output) = Testbed.Run(_script, ["addr", node.Name]);
            Check((code, output), "addr " + node.Name);
            _addresses[node.Name] = output.Trim().Split('\n')[0].Trim();
        }
    }

    /// <summary>The device's IPv4 address, as its peers reach it.</summary>
    public string Address(string node) =>
        _addresses.TryGetValue(node, out var address) ? address : throw new ArgumentException($"no testbed node '{node}' is up", nameof(node));

    /// <summary>A start description that runs <paramref name="file"/> inside the device's namespace and (unless
    /// <paramref name="cpuQuota"/> is false) its CPU group. Every wrapper exec's, so the process id is the program's.</summary>
    public ProcessStartInfo StartInfo(string node, string file, IEnumerable<string> arguments, bool cpuQuota = true)
    {
        _ = Address(node);
        var info = new ProcessStartInfo(_script) { UseShellExecute = false };
        info.ArgumentList.Add("exec");
        info.ArgumentList.Add(node);
        if (!cpuQuota)
        {
            info.ArgumentList.Add("--no-quota");
        }

        info.ArgumentList.Add("--");
        info.ArgumentList.Add(file);
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        return info;
    }

    /// <summary>Starts <paramref name="file"/> on the device as a collected child process.</summary>
    public ChildProcess Start(string node, string name, string file, IEnumerable<string> arguments, Action<string>? onStderrLine = null, bool cpuQuota = true)
    {
        if (!File.Exists(file))
        {
            throw new FileNotFoundException($"{name}: '{file}' does not exist; run `./coach publish` first", file);
        }

        return ChildProcess.Start(name, StartInfo(node, file, arguments, cpuQuota), onStderrLine);
    }

    /// <summary>Changes the device's egress rate live ("none" removes the shaping).</summary>
    public void SetRate(string node, string rate) => Check(Testbed.Run(_script, ["rate", node, rate]), $"rate {node} {rate}");

    /// <summary>Changes the device's CPU quota live (100 removes it), e.g. to make it straggle.</summary>
    public void SetCpu(string node, int percent) =>
        Check(Testbed.Run(_script, ["cpu", node, percent.ToString(CultureInfo.InvariantCulture)]), $"cpu {node} {percent}");

    public void Dispose()
    {
        lock (_script)
        {
            if (!_up)
            {
                return;
            }

            var (code, output) = Testbed.Run(_script, ["down"]);
            if (code != 0)
            {
                Console.Error.WriteLine($"coach: testbed cleanup failed ({output.Trim()}); run `{_script} down` as root");
            }

            _up = false;
        }
    }

    private static string ScriptPath(string repositoryRoot) => Path.Combine(repositoryRoot, "scripts", "testbed", "nodes.sh");

    private static void Check((int Code, string Output) result, string what)
    {
        if (result.Code != 0)
        {
            throw new InvalidOperationException($"testbed {what} failed: {result.Output.Trim()}");
        }
    }
}
