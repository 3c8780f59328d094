using System.Diagnostics;
using System.Globalization;
using System.Net;
using Coach.Transport;
using Coach.Transport.Edge;
using Coach.Transport.Faults;
using Coach.Transport.Protocol;
using Coach.Transport.Security;

namespace Coach.Experiments;

/// <summary>What the fault schedule of <see cref="ChaosBenchmark"/> runs: its length, the offered frame rate, the fuzzing and the RSS sampling.</summary>
public sealed record ChaosSettings(bool Quick, int FramesPerSecond, double DurationSeconds, long FuzzCases)
{
    public TimeSpan Cut => TimeSpan.FromSeconds(Quick ? 3 : 10);

    public TimeSpan Phase => TimeSpan.FromSeconds(Quick ? 2 : 5);

    public int LiveFuzzCases => LiveFuzzCasesOverride > 0 ? LiveFuzzCasesOverride : Quick ? 1500 : 10_000;

    public int LiveFuzzCasesOverride { get; init; }

    public bool InProcess { get; init; }

    public string? BinaryDirectory { get; init; }

    public bool KillEveryCycle { get; init; }

    public TimeSpan RssInterval { get; init; } = TimeSpan.FromSeconds(10);

    public string? RssCsv { get; init; }
}

/// <summary>
/// The fault schedule of <c>coach bench chaos</c>: a real cloud — the published <c>coach-cloud serve</c> as a child process
/// (SIGKILLed mid-stream and restarted), or an in-process <see cref="Transport.Cloud.CloudServer"/> when the binary is not
/// there — and the edge (<see cref="EdgeRun"/>, the code of coach-edge run) behind a <see cref="FaultProxy"/>: cloud killed and
/// restarted, a rolling restart by SIGTERM, link cut, bandwidth collapsing to 1 Mbit/s, a slow cloud, and the protocol fuzzer
/// against the live server and in memory. The RSS of the cloud and of the edge process are sampled all along.
/// </summary>
public static class ChaosBenchmark
{
    public static async Task<ChaosReport> RunAsync(ChaosSettings settings, CancellationToken cancellationToken)
    {
        var report = new ChaosReport { Quick = settings.Quick, RssCsv = settings.RssCsv };
        var clock = Stopwatch.StartNew();
        void Event(string text) { lock (report.Events) { report.Events.Add($"[{clock.Elapsed.TotalSeconds,6:0.0} s] {text}"); } }

        string root = Path.Combine(Path.GetTempPath(), $"coach-chaos-{Environment.ProcessId}");
        string plansRoot = Path.Combine(root, "plans");
        string keysDirectory = Path.Combine(root, "keys");
        PlanDirectory plan = ChaosPlan.Write(Path.Combine(plansRoot, "chaos"));
        PreSharedKey edgeKey = PreSharedKey.Generate();
        PreSharedKey fuzzKey = PreSharedKey.Generate();
        WriteKey(keysDirectory, "chaos-edge", edgeKey);
        WriteKey(keysDirectory, "chaos-fuzzer", fuzzKey);
        var keys = EdgeKeyStore.Of([new("chaos-edge", edgeKey), new("chaos-fuzzer", fuzzKey)]);

        string note = "--in-process";
        string? binary = settings.InProcess ? null : ChildChaosCloud.FindBinary(settings.BinaryDirectory, out note);
        report.CloudProcess = binary is null ? "in-process" : "child";
        report.CloudProcessNote = note;
        async Task<ChaosCloud> StartCloudAsync() => binary is null
            ? InProcessChaosCloud.Start(plansRoot, keys)
            : await ChildChaosCloud.StartAsync(binary, plansRoot, keysDirectory, cancellationToken).ConfigureAwait(false);

        ChaosCloud cloud = await StartCloudAsync().ConfigureAwait(false);
        Event(binary is null
            ? $"cloud: in-process CloudServer on {cloud.LocalEndPoint} ({report.CloudProcessNote})"
            : $"cloud: child process {binary} (pid {cloud.ProcessId}) on {cloud.LocalEndPoint}");
        long internalErrors = 0;
        int crashes = 0;
        void Retire(ChaosCloud old)
        {
            internalErrors += old.InternalErrors;
            crashes += old.Crashed ? 1 : 0;
        }

        await using var proxy = new FaultProxy(cloud.LocalEndPoint);
        proxy.Start();
        var shaper = new LinkShaper(1e9);
        double cycleSeconds = (settings.Phase.TotalSeconds * 8) + settings.Cut.TotalSeconds + 4;
        var sigtermWindows = new List<(long From, long To)>();
        double totalSeconds = Math.Max(cycleSeconds, settings.DurationSeconds);
        int frames = (int)(totalSeconds * settings.FramesPerSecond);
        long startTicks = Stopwatch.GetTimestamp();
        var source = new ChaosPlan.Source(frames, index =>
        {
            // Paced source: frame i is released at i / fps seconds after the edge starts.
            long due = startTicks + (long)(index * (double)Stopwatch.Frequency / settings.FramesPerSecond);
            long wait = due - Stopwatch.GetTimestamp();
            if (wait > 0)
            {
                Thread.Sleep(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency));
            }
        });
        var options = new EdgeRunOptions
        {
            Cloud = proxy.LocalEndPoint,
            ClientId = "chaos-edge",
            Key = edgeKey,
            Shaper = shaper,
            ResponseTimeout = TimeSpan.FromSeconds(2),
            HandshakeTimeout = TimeSpan.FromSeconds(2),
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(100),
            ReconnectMaxDelay = TimeSpan.FromSeconds(1),
            Log = line =>
            {
                if (!line.Contains("failed at the cloud", StringComparison.Ordinal) && !line.Contains("reconnect attempt", StringComparison.Ordinal))
                {
                    Event(line);
                }
            },
        };

        string phase = "start";
        double EdgeSeconds() => Stopwatch.GetElapsedTime(startTicks).TotalSeconds;
        void Sample()
        {
            ChaosCloud current = Volatile.Read(ref cloud);
            int? pid = current.ProcessId;
            ProcessMemory? cloudMemory = pid is { } id ? ProcessMemory.Of(id) : null;
            ProcessMemory edgeMemory = ProcessMemory.OfSelf() ?? new ProcessMemory(0, 0);
            lock (report.Samples)
            {
                report.Samples.Add(new RssSample(EdgeSeconds(), Volatile.Read(ref phase), pid, cloudMemory, edgeMemory));
            }
        }

        startTicks = Stopwatch.GetTimestamp();
        Task<(EdgeRunSummary Summary, EdgePipeline Pipeline)> edge = EdgeRun.RunAsync(plan, source, new FixedBitsScheduler(), options, cancellationToken);
        using var schedule = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task sampler = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(settings.RssInterval);
            try
            {
                while (await timer.WaitForNextTickAsync(schedule.Token).ConfigureAwait(false) && !edge.IsCompleted)
                {
                    Sample();
                }
            }
            catch (OperationCanceledException)
            {
            }
        }, CancellationToken.None);
        async Task Wait(TimeSpan t) => await Task.WhenAny(edge, Task.Delay(t, schedule.Token)).ConfigureAwait(false);
        void Phase(string name, string text)
        {
            Volatile.Write(ref phase, name);
            Event(text);
        }

        try
        {
            double lastCycle = cycleSeconds;
            while (!edge.IsCompleted && EdgeSeconds() + lastCycle <= totalSeconds + 1)
            {
                double cycleStart = EdgeSeconds();
                report.Cycles++;
                Phase("steady", $"cycle {report.Cycles}");
                await Wait(settings.Phase).ConfigureAwait(false);
                if (report.Cycles == 1 || settings.KillEveryCycle)
                {
                    Phase("cloud-down", cloud.ProcessId is { } pid
                        ? $"fault: coach-cloud (pid {pid}) killed with SIGKILL mid-stream"
                        : "fault: cloud killed (every connection aborted, no Goodbye)");
                    ChaosCloud dead = cloud;
                    crashes += dead.Crashed ? 1 : 0; // died before the kill: that is a crash
                    await dead.KillAsync().ConfigureAwait(false);
                    internalErrors += dead.InternalErrors;
                    report.CloudKills++;
                    await dead.DisposeAsync().ConfigureAwait(false);
                    await Wait(settings.Phase).ConfigureAwait(false);
                    Volatile.Write(ref cloud, await StartCloudAsync().ConfigureAwait(false));
                    proxy.Upstream = cloud.LocalEndPoint;
                    report.ServerRestarts++;
                    Phase("steady", $"fault: cloud restarted on {cloud.LocalEndPoint}{(cloud.ProcessId is { } newPid ? $" (pid {newPid})" : string.Empty)}");
                    await Wait(settings.Phase).ConfigureAwait(false);

                    // A rolling restart (docs/protocol.md §1.7): the new cloud first, the balancer pointed
                    // at it, then SIGTERM to the old one mid-stream. Every frame must still be answered by a cloud.
                    ChaosCloud retiring = cloud;
                    ChaosCloud next = await StartCloudAsync().ConfigureAwait(false);
                    proxy.Upstream = next.LocalEndPoint;
                    Volatile.Write(ref cloud, next);
                    Phase("sigterm-restart", retiring.ProcessId is { } oldPid
                        ? $"fault: rolling restart: new coach-cloud (pid {next.ProcessId}) on {next.LocalEndPoint}, the old one (pid {oldPid}) stopped with SIGTERM mid-stream"
                        : $"fault: rolling restart: new cloud on {next.LocalEndPoint}, the old one drained (Goodbye ShuttingDown) mid-stream");
                    long signalled = MonotonicClock.NowMicros;
                    crashes += retiring.Crashed ? 1 : 0;
                    int exitCode = await retiring.StopGracefullyAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
                    internalErrors += retiring.InternalErrors;
                    await retiring.DisposeAsync().ConfigureAwait(false);
                    report.SigtermRestarts++;
                    report.SigtermExitCodes.Add(exitCode);
                    Phase("steady", $"fault: the old cloud drained{(retiring.ProcessId is null ? $" ({(exitCode == 0 ? "every connection closed" : "the drain ran out")})" : $" and exited with code {exitCode}")} after {(MonotonicClock.NowMicros - signalled) / 1e6:0.00} s");
                    // The window: from the signal to half a phase after the old cloud's exit, so frames
                    // taken in it are answered before the next fault (the link cut) can touch them.
                    sigtermWindows.Add((signalled, MonotonicClock.NowMicros + (long)(settings.Phase.TotalMicroseconds / 2)));
                    await Wait(settings.Phase).ConfigureAwait(false);
                }

                Phase("link-cut", $"fault: link cut for {settings.Cut.TotalSeconds:0} s{(settings.Quick ? " (shortened from 10 s by --quick)" : string.Empty)}");
                proxy.Cut();
                await Wait(settings.Cut).ConfigureAwait(false);
                proxy.Restore();
                Phase("steady", "fault: link restored");
                await Wait(settings.Phase).ConfigureAwait(false);

                Phase("1mbit", "fault: bandwidth collapses to 1 Mbit/s");
                shaper.BitsPerSecond = 1e6;
                await Wait(settings.Phase).ConfigureAwait(false);
                shaper.BitsPerSecond = 1e9;
                TimeSpan slow = TimeSpan.FromMilliseconds(150);
                bool atCloud = cloud.TrySetResponseDelay(slow);
                if (!atCloud)
                {
                    proxy.ResponseDelay = slow;
                }

                Phase("slow-cloud", atCloud ? "fault: cloud answers 150 ms late" : "fault: cloud's answers reach the edge 150 ms late (held on the link: the child's delay is fixed at its start)");
                await Wait(settings.Phase).ConfigureAwait(false);
                cloud.TrySetResponseDelay(TimeSpan.Zero);
                proxy.ResponseDelay = TimeSpan.Zero;

                if (!edge.IsCompleted)
                {
                    Phase("live-fuzz", $"fault: {settings.LiveFuzzCases} mutated frames over real sockets to the live cloud");
                    long answeredBefore = proxy.BytesToClients;
                    (long cases, long failures) = await ChaosLiveFuzz.RunAsync(cloud.LocalEndPoint, plan, fuzzKey, settings.LiveFuzzCases, report.Cycles, Event, schedule.Token).ConfigureAwait(false);
                    long answerBytes = proxy.BytesToClients - answeredBefore;
                    report.FuzzLive += cases;
                    report.FuzzFailures += failures;
                    report.FuzzRounds++;
                    report.HealthyFuzzRounds += answerBytes > 0 ? 1 : 0;
                    Event($"live fuzz: {cases} cases, {failures} hangs; the healthy edge got {answerBytes} bytes of cloud answers meanwhile");
                    if (cloud.Crashed)
                    {
                        Event("the cloud died under live fuzzing");
                    }
                }

                Volatile.Write(ref phase, "steady");
                lastCycle = EdgeSeconds() - cycleStart;
            }
        }
        finally
        {
            try
            {
                var (summary, pipeline) = await edge.ConfigureAwait(false);
                foreach (FrameRecord record in pipeline.Records)
                {
                    if (sigtermWindows.Exists(w => record.StartMicros >= w.From && record.StartMicros < w.To))
                    {
                        report.SigtermWindowFrames++;
                        report.SigtermWindowNotByCloud += record.Decision == FrameDecision.Cloud ? 0 : 1;
                        report.SigtermWindowLost += record.IsAnswered ? 0 : 1;
                    }
                }

                report.EdgeSeconds = EdgeSeconds();
                await schedule.CancelAsync().ConfigureAwait(false);
                await sampler.ConfigureAwait(false);
                Volatile.Write(ref phase, "end");
                Sample(); // the edge's last frame is answered; the cloud still runs
                report.FramesSent = summary.FramesSent;
                report.FramesAnswered = summary.FramesAnswered;
                report.FramesDuplicated = summary.Duplicates;
                report.FallbackAnswers = summary.FallbackAnswers;
                report.Reconnects = summary.Reconnects;
                report.CloudAnswers = summary.RequestsAnswered;
                report.Accuracy = summary.Accuracy;
            }
            finally
            {
                // Whatever failed above, no cloud process is left running behind the bench.
                Retire(cloud);
                await cloud.DisposeAsync().ConfigureAwait(false);
                report.ServerCrashes = crashes + (int)internalErrors;
                try
                {
                    Directory.Delete(root, recursive: true);
                }
                catch (IOException)
                {
                }
            }
        }

        if (settings.RssCsv is not null)
        {
            report.WriteCsv(settings.RssCsv);
        }

        // The parser fuzzer in memory, after the edge's memory was measured (it churns this process's heap).
        FuzzReport memory = ProtocolFuzzer.RunInMemory(settings.FuzzCases, seed: 8);
        report.FuzzInMemory = memory.Cases;
        report.FuzzFailures += memory.Failures.Count;
        foreach (string failure in memory.Failures)
        {
            Event($"fuzz failure: {failure}");
        }

        Event($"in-memory fuzz: {memory.Cases} cases, {memory.Rejected} refused, {memory.Accepted} parsed, max {memory.MaxAllocatedBytes} B allocated per case");
        report.WallSeconds = clock.Elapsed.TotalSeconds;
        return report;
    }

    /// <summary>A key file as coach-cloud --keys reads it: hex, owner-only.</summary>
    private static void WriteKey(string directory, string clientId, PreSharedKey key)
    {
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, clientId + ".key");
        File.WriteAllText(path, key.ToHex());
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }
}
