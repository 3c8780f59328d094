using System.Diagnostics;
using System.Text;

namespace Coach.Experiments;

/// <summary>
/// A coach-edge or coach-cloud process started by an experiment. Standard output and error are
/// collected line by line (the last line of standard output is where the binaries print their JSON
/// summary); the process is killed with its children when the experiment is disposed, so a failed
/// or interrupted experiment leaves nothing running.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Action<string>? _onStderrLine;
    private string? _lastStdoutLine;

    public string Name { get; }

    public string CommandLine { get; }

    private ChildProcess(string name, ProcessStartInfo startInfo, Action<string>? onStderrLine)
    {
        Name = name;
        _onStderrLine = onStderrLine;
        CommandLine = startInfo.FileName + " " + string.Join(' ', startInfo.ArgumentList.Select(Quote));
        _process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _stdoutClosed.TrySetResult();
                return;
            }

            lock (_stdout)
            {
                _stdout.AppendLine(e.Data);
                if (e.Data.Length > 0)
                {
                    _lastStdoutLine = e.Data;
                }
            }
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _stderrClosed.TrySetResult();
                return;
            }

            lock (_stderr)
            {
                _stderr.AppendLine(e.Data);
            }

            _onStderrLine?.Invoke(e.Data);
        };
    }

    /// <summary>Starts a process described by <paramref name="startInfo"/> (for example one that a testbed wraps to run
    /// inside a network namespace); its standard output and error are collected as for every child.</summary>
    public static ChildProcess Start(string name, ProcessStartInfo startInfo, Action<string>? onStderrLine = null)
    {
        startInfo.RedirectStandardOutput = true;
        startInfo.RedirectStandardError = true;
        startInfo.UseShellExecute = false;
        var child = new ChildProcess(name, startInfo, onStderrLine);
        child._process.Start();
        child._process.BeginOutputReadLine();
        child._process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Starts <paramref name="file"/>; when <paramref name="cpuGroup"/> is given the process joins that CPU cgroup before it executes.</summary>
    public static ChildProcess Start(string name, string file, IEnumerable<string> arguments, CpuQuotaGroup? cpuGroup = null, Action<string>? onStderrLine = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        if (!File.Exists(file))
        {
            throw new FileNotFoundException($"{name}: '{file}' does not exist; run `./coach publish` first", file);
        }

        var info = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        if (cpuGroup is not null)
        {
            // The shell writes its own pid into the group, then becomes the binary: every thread the
            // binary starts inherits the quota.
            info.FileName = "/bin/sh";
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add("echo $$ > \"$0\" && exec \"$@\"");
            info.ArgumentList.Add(cpuGroup.ProcsFile);
            info.ArgumentList.Add(file);
        }
        else
        {
            info.FileName = file;
        }

        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        if (environment is not null)
        {
            foreach (var (k, v) in environment)
            {
                info.Environment[k] = v;
            }
        }

        return Start(name, info, onStderrLine);
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The process id (for /proc figures such as its CPU time).</summary>
    public int Id => _process.Id;

    public int ExitCode => _process.ExitCode;

    public string? LastStdoutLine
    {
        get
        {
            lock (_stdout)
            {
                return _lastStdoutLine;
            }
        }
    }

    public string Stdout
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>The last <paramref name="lines"/> lines of standard error, for error messages.</summary>
    public string StderrTail(int lines = 15)
    {
        var all = Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    /// <summary>Waits for the process to exit (and its output to drain); kills it after <paramref name="timeout"/>.</summary>
    public async Task<int> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Kill();
            if (cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            throw new TimeoutException($"{Name} did not finish within {timeout.TotalSeconds:0} s and was killed; its last output:\n{StderrTail()}");
        }

        await Task.WhenAll(_stdoutClosed.Task, _stderrClosed.Task).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false);
        return _process.ExitCode;
    }

    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    /// <summary>Asks the process to stop with SIGTERM and gives it <paramref name="grace"/> before killing it.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_process.HasExited)
        {
            return;
        }

        try
        {
            using var term = Process.Start(new ProcessStartInfo("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false });
            term?.WaitForExit();
            using var cts = new CancellationTokenSource(grace);
            await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            Kill();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The kernel will reap it; nothing more to do from here.
        }

        _process.Dispose();
    }

    private static string Quote(string a) => a.Length > 0 && a.All(c => char.IsLetterOrDigit(c) || "-_./:=,@".Contains(c)) ? a : "'" + a.Replace("'", "'\\''") + "'";
}
