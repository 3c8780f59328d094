using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Coach.Transport.Cloud;
using Coach.Transport.Security;

namespace Coach.Experiments;

/// <summary>
/// The cloud of <c>coach bench chaos</c>: either a published <c>coach-cloud serve</c> child process,
/// killed with SIGKILL like a crashed or OOM-killed server or stopped with SIGTERM like a rolling
/// restart, or (when the binary is missing) a <see cref="CloudServer"/> in this process whose
/// sockets are all aborted at once, or which drains as on SIGTERM.
/// </summary>
internal abstract class ChaosCloud : IAsyncDisposable
{
    public abstract IPEndPoint LocalEndPoint { get; }

    /// <summary>The child's process id; null in-process.</summary>
    public abstract int? ProcessId { get; }

    /// <summary>Connections that ended on an unexpected exception inside the cloud (a server bug).</summary>
    public abstract long InternalErrors { get; }

    /// <summary>True when the cloud ended without being killed by the schedule (a crash).</summary>
    public abstract bool Crashed { get; }

    /// <summary>Kills the cloud mid-stream: no Goodbye, every connection drops at once.</summary>
    public abstract Task KillAsync();

    /// <summary>
    /// Stops the cloud as an orchestrator does (SIGTERM to the child; the same drain in-process):
    /// Goodbye (ShuttingDown), requests answered for up to <paramref name="drain"/>. Returns the
    /// exit code (in-process: 0 when the drain completed, 1 when it ran out).
    /// </summary>
    public abstract Task<int> StopGracefullyAsync(TimeSpan drain);

    /// <summary>Delays every answer at the cloud itself; false where that cannot change while it runs (the child).</summary>
    public abstract bool TrySetResponseDelay(TimeSpan delay);

    public abstract ValueTask DisposeAsync();
}

/// <summary>A <see cref="CloudServer"/> in this process (the fallback when coach-cloud is not published).</summary>
internal sealed class InProcessChaosCloud : ChaosCloud
{
    private readonly CloudServer _server;
    private int _faulted;
    private bool _killed;

    private InProcessChaosCloud(CloudServer server)
    {
        _server = server;
        _ = server.Completion.ContinueWith(t => { if (t.IsFaulted) { Interlocked.Exchange(ref _faulted, 1); } }, TaskScheduler.Default);
    }

    public static InProcessChaosCloud Start(string plansRoot, EdgeKeyStore keys)
    {
        var server = CloudServer.FromPlansDirectory(plansRoot, new CloudServerOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Keys = keys,
            LogInterval = TimeSpan.Zero,
            HandshakeTimeout = TimeSpan.FromSeconds(3),
            Log = static _ => { },
        });
        server.Start();
        return new InProcessChaosCloud(server);
    }

    public override IPEndPoint LocalEndPoint => _server.LocalEndPoint;

    public override int? ProcessId => null;

    public override long InternalErrors => _server.InternalErrors;

    public override bool Crashed => Volatile.Read(ref _faulted) != 0 || (!_killed && _server.Completion.IsCompleted);

    public override async Task KillAsync()
    {
        _killed = true;
        await _server.AbortAsync().ConfigureAwait(false);
    }

    public override async Task<int> StopGracefullyAsync(TimeSpan drain)
    {
        _killed = true;
        return await _server.ShutdownAsync(drain).ConfigureAwait(false) == 0 ? 0 : 1;
    }

    public override bool TrySetResponseDelay(TimeSpan delay)
    {
        _server.ResponseDelay = delay;
        return true;
    }

    public override async ValueTask DisposeAsync()
    {
        _killed = true;
        await _server.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>
/// <c>coach-cloud serve</c> as a child process on a free loopback port. Its log (one line per
/// connection, many thousands under live fuzzing) is read and only counted, keeping a short tail,
/// so this process's memory does not grow with it.
/// </summary>
internal sealed partial class ChildChaosCloud : ChaosCloud
{
    private const int TailLines = 40;
    private readonly Process _process;
    private readonly Queue<string> _tail = new();
    private readonly TaskCompletionSource<IPEndPoint> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _internalErrors;
    private volatile bool _killed;
    private int _processId;
    private int _disposed;

    private ChildChaosCloud(Process process) => _process = process;

    public string CommandLine { get; private init; } = string.Empty;

    /// <summary>Starts the binary and waits (≤ 60 s) for its "listening on" line.</summary>
    public static async Task<ChildChaosCloud> StartAsync(string binary, string plansRoot, string keysDirectory, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in (string[])["serve", "--listen", "127.0.0.1:0", "--plans", plansRoot, "--keys", keysDirectory, "--threads", "1", "--preload", "--log-interval-s", "0", "--handshake-timeout-s", "3"])
        {
            info.ArgumentList.Add(argument);
        }

        var cloud = new ChildChaosCloud(new Process { StartInfo = info, EnableRaisingEvents = true })
        {
            CommandLine = binary + " " + string.Join(' ', info.ArgumentList),
        };
        cloud._process.OutputDataReceived += (_, e) => cloud.OnStdout(e.Data);
        cloud._process.ErrorDataReceived += (_, e) => cloud.OnStderr(e.Data);
        cloud._process.Exited += (_, _) => cloud._listening.TrySetException(new InvalidOperationException(
            $"coach-cloud exited with code {cloud._process.ExitCode} before listening: {cloud.CommandLine}\n{cloud.Tail}"));
        cloud._process.Start();
        cloud._processId = cloud._process.Id; // kept: the sampler may ask after the process is disposed
        cloud._process.BeginOutputReadLine();
        cloud._process.BeginErrorReadLine();
        try
        {
            await cloud._listening.Task.WaitAsync(TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await cloud.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return cloud;
    }

    public override IPEndPoint LocalEndPoint => _listening.Task.Result;

    public override int? ProcessId => _processId;

    public override long InternalErrors => Interlocked.Read(ref _internalErrors);

    public override bool Crashed => !_killed && Volatile.Read(ref _disposed) == 0 && _process.HasExited;

    /// <summary>The last lines of its log, for messages.</summary>
    public string Tail
    {
        get
        {
            lock (_tail)
            {
                return string.Join('\n', _tail);
            }
        }
    }

    /// <summary>SIGKILL (Process.Kill on Linux), then waits until the kernel has reaped it.</summary>
    public override async Task KillAsync()
    {
        _killed = true;
        try
        {
            _process.Kill(entireProcessTree: false);
        }
        catch (InvalidOperationException)
        {
            // Already gone: counted by Crashed before the kill was asked for.
        }

        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
    }

    /// <summary>SIGTERM (as systemd or Kubernetes stop a service), then waits for the exit (the drain plus 10 s at most).</summary>
    public override async Task<int> StopGracefullyAsync(TimeSpan drain)
    {
        _killed = true;
        using (Process kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", _processId.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!)
        {
            await kill.WaitForExitAsync().ConfigureAwait(false);
        }

        await _process.WaitForExitAsync().WaitAsync(drain + TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        return _process.ExitCode;
    }

    public override bool TrySetResponseDelay(TimeSpan delay) => false;

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (!_process.HasExited)
        {
            await KillAsync().ConfigureAwait(false);
        }

        _process.Dispose();
    }

    private void OnStdout(string? line)
    {
        if (line is null)
        {
            return;
        }

        Match match = ListeningLine().Match(line);
        if (match.Success && IPEndPoint.TryParse(match.Groups[1].Value, out IPEndPoint? endPoint))
        {
            _listening.TrySetResult(endPoint);
        }

        Remember(line);
    }

    private void OnStderr(string? line)
    {
        if (line is null)
        {
            return;
        }

        // CloudConnection logs "connection #N (...) failed: <Exception type>: ..." only for an
        // unexpected exception; hostile input ends as "closed: <reason>".
        if (InternalErrorLine().IsMatch(line))
        {
            Interlocked.Increment(ref _internalErrors);
            Remember(line);
        }
        else if (!line.Contains("cloud: connection #", StringComparison.Ordinal))
        {
            Remember(line);
        }
    }

    private void Remember(string line)
    {
        lock (_tail)
        {
            _tail.Enqueue(line);
            while (_tail.Count > TailLines)
            {
                _tail.Dequeue();
            }
        }
    }

    [GeneratedRegex(@"listening on (\S+)$", RegexOptions.CultureInvariant)]
    private static partial Regex ListeningLine();

    [GeneratedRegex(@"cloud: connection #\d+ .*\) failed: \w+Exception: ", RegexOptions.CultureInvariant)]
    private static partial Regex InternalErrorLine();

    /// <summary>Where the published coach-cloud is looked for: --bin, next to this program, then dist/RID under the repository.</summary>
    public static string? FindBinary(string? binaryDirectory, out string note)
    {
        var candidates = new List<string>();
        if (binaryDirectory is not null)
        {
            candidates.Add(Path.Combine(binaryDirectory, "coach-cloud"));
        }

        candidates.Add(Path.Combine(AppContext.BaseDirectory, "coach-cloud"));
        try
        {
            candidates.Add(Path.Combine(PublishedBinaries.DefaultDirectory, "coach-cloud"));
        }
        catch (DirectoryNotFoundException)
        {
            // Not inside the repository: only the places above.
        }

        foreach (string candidate in candidates)
        {
            if (File.Exists(candidate))
            {
                note = candidate;
                return candidate;
            }
        }

        note = $"no published coach-cloud at {string.Join(" or ", candidates.Distinct())}; run `./coach publish` to kill a real process";
        return null;
    }
}
