using System.Diagnostics;
using System.Globalization;

namespace Coach.Experiments;

/// <summary>
/// The kernel testbed of docs/architecture.md §6 driven through <c>scripts/testbed/testbed.sh</c>: two network
/// namespaces joined by a veth pair shaped with <c>tc tbf</c>, the edge in a CPU cgroup. Everything it
/// made is removed on dispose (also after a failure or Ctrl-C, through the runner's dispose).
/// </summary>
internal sealed class Testbed : IDisposable
{
    public const string CloudAddress = "198.18.0.2";

    private readonly string _script;
    private bool _up;

    public Testbed(string repositoryRoot)
    {
        _script = Path.Combine(repositoryRoot, "scripts", "testbed", "testbed.sh");
        if (!File.Exists(_script))
        {
            throw new FileNotFoundException($"testbed script '{_script}' is missing", _script);
        }
    }

    /// <summary>Why kernel shaping is not possible here (not root, no netns/tc/cgroup), or null.</summary>
    public static string? Unavailability(string repositoryRoot)
    {
        var script = Path.Combine(repositoryRoot, "scripts", "testbed", "testbed.sh");
        var (code, output) = Run(script, ["check"]);
        return code == 0 ? null : output.Trim().Length > 0 ? output.Trim() : "testbed check failed";
    }

    public string Script => _script;

    public void Up(string rate, double edgeShareOfOneCore)
    {
        // A whole slowdown factor is passed as such (1 ms of CPU per factor-ms period); other shares as a percentage.
        double slowdown = 1 / edgeShareOfOneCore;
        string[] cpu = Math.Abs(slowdown - Math.Round(slowdown)) < 1e-9 && slowdown >= 1
            ? ["--edge-slowdown", ((int)Math.Round(slowdown)).ToString(CultureInfo.InvariantCulture)]
            : ["--edge-cpu-percent", Math.Max(1, (int)Math.Round(edgeShareOfOneCore * 100)).ToString(CultureInfo.InvariantCulture)];
        Check(Run(_script, ["up", "--rate", rate, .. cpu]), "up");
        _up = true;
        // Also clean up when the process is terminated (SIGTERM) rather than cancelled.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Dispose();
    }

    public void SetRate(string rate) => Check(Run(_script, ["rate", rate]), "rate " + rate);

    public void Dispose()
    {
        lock (_script)
        {
            DisposeCore();
        }
    }

    private void DisposeCore()
    {
        if (_up)
        {
            var (code, output) = Run(_script, ["down"]);
            if (code != 0)
            {
                Console.Error.WriteLine($"coach: testbed cleanup failed ({output.Trim()}); run `{_script} down` as root");
            }

            _up = false;
        }
    }

    private static void Check((int Code, string Output) result, string what)
    {
        if (result.Code != 0)
        {
            throw new InvalidOperationException($"testbed {what} failed: {result.Output.Trim()}");
        }
    }

    /// <summary>Runs a testbed script and returns its exit code with standard output and error together.</summary>
    internal static (int Code, string Output) Run(string script, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(script) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var p = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {script}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr);
    }
}
