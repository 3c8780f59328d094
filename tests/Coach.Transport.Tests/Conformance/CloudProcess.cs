using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;

namespace Coach.Transport.Tests.Conformance;

/// <summary>
/// The built <c>coach-cloud serve</c> as a child process on a free loopback port (<c>dotnet
/// coach-cloud.dll</c> from the build output), its log kept for assertions. The conformance
/// suite talks to it over real sockets, never to an in-process server.
/// </summary>
internal sealed partial class CloudProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _log = new();
    private readonly TaskCompletionSource<IPEndPoint> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private CloudProcess(Process process) => _process = process;

    public IPEndPoint EndPoint => _listening.Task.Result;

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Every line the cloud wrote to standard error so far.</summary>
    public IReadOnlyList<string> Log => [.. _log];

    /// <summary>Starts <c>coach-cloud serve --listen 127.0.0.1:0 --plans PLANS ARGS…</c> and waits for its "listening on" line.</summary>
    public static async Task<CloudProcess> StartAsync(string plans, params string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(BuiltBinary("Coach.Cloud", "coach-cloud.dll"));
        foreach (string argument in (string[])["serve", "--listen", "127.0.0.1:0", "--plans", plans, "--log-interval-s", "0", "--threads", "1", "--preload", .. arguments])
        {
            info.ArgumentList.Add(argument);
        }

        var cloud = new CloudProcess(new Process { StartInfo = info, EnableRaisingEvents = true });
        cloud._process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line && ListeningLine().Match(line) is { Success: true } match && IPEndPoint.TryParse(match.Groups[1].Value, out IPEndPoint? endPoint))
            {
                cloud._listening.TrySetResult(endPoint);
            }
        };
        cloud._process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                cloud._log.Enqueue(line);
            }
        };
        cloud._process.Exited += (_, _) => cloud._listening.TrySetException(new InvalidOperationException($"coach-cloud exited before listening:\n{string.Join('\n', cloud._log)}"));
        cloud._process.Start();
        cloud._process.BeginOutputReadLine();
        cloud._process.BeginErrorReadLine();
        try
        {
            await cloud._listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch
        {
            await cloud.DisposeAsync();
            throw;
        }

        return cloud;
    }

    /// <summary>The build output of <paramref name="project"/> (aot/PROJECT/bin/CONFIG/net10.0/FILE), the configuration this test assembly was built in.</summary>
    public static string BuiltBinary(string project, string file)
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory);
        string framework = here.Name;
        string configuration = here.Parent!.Name;
        DirectoryInfo? root = here;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Coach.sln")))
        {
            root = root.Parent;
        }

        string path = Path.Combine(root?.FullName ?? throw new DirectoryNotFoundException($"no Coach.sln above {here.FullName}"), "aot", project, "bin", configuration, framework, file);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is not built; build Coach.sln ({configuration}) first", path);
    }

    /// <summary>Sends a POSIX signal (TERM, INT, KILL) to the process.</summary>
    public void Signal(string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        kill.WaitForExit();
    }

    /// <summary>Waits for the process to exit; its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        await _process.WaitForExitAsync().WaitAsync(timeout);
        _process.WaitForExit(); // drains the redirected streams
        return _process.ExitCode;
    }

    /// <summary>Waits until a log line contains <paramref name="text"/>.</summary>
    public async Task<string> WaitForLogAsync(string text, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (_log.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal)) is { } line)
            {
                return line;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"coach-cloud logged no line with '{text}' within {timeout.TotalSeconds} s:\n{string.Join('\n', _log.TakeLast(20))}");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }

    [GeneratedRegex(@"listening on (\S+)$", RegexOptions.CultureInvariant)]
    private static partial Regex ListeningLine();
}
