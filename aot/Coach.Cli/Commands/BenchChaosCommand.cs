using System.Buffers;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Coach.Cli.Experiments;
using Coach.Transport;
using Coach.Transport.Edge;
using Coach.Transport.Faults;
using Coach.Transport.Protocol;
using Coach.Transport.Security;

namespace Coach.Cli.Commands;

/// <summary>
/// <c>coach bench chaos [--quick] [--json] [--duration-s S]</c>: a real cloud — the published
/// <c>coach-cloud serve</c> as a child process (SIGKILLed mid-stream and restarted), or an
/// in-process <see cref="Transport.Cloud.CloudServer"/> when the binary is not there — and the edge
/// (<see cref="EdgeRun"/>, the code of coach-edge run) behind a <see cref="FaultProxy"/>, through the
/// fault schedule: cloud killed and restarted, link cut, bandwidth collapsing to 1 Mbit/s, a slow
/// cloud, and the protocol fuzzer against the live server and in memory. The RSS of the cloud and
/// of the edge process are sampled all along (soak: <c>--duration-s 600 --rss-csv FILE</c>).
/// </summary>
internal static class BenchChaosCommand
{
    public static Command Create()
    {
        var quick = new Option<bool>("--quick") { Description = "short schedule (3 s link cut, 50,000 in-memory fuzz cases); a few minutes at most" };
        var json = new Option<bool>("--json") { Description = "print one JSON object on the last line" };
        var rate = new Option<int>("--fps") { Description = "frames per second offered by the edge's source", DefaultValueFactory = _ => 300 };
        var duration = new Option<double>("--duration-s") { Description = "repeat the fault cycle until this many seconds have passed (soak); 0 = one cycle", DefaultValueFactory = _ => 0 };
        var fuzzCases = new Option<long>("--fuzz-cases") { Description = "in-memory fuzz cases (default 50,000 with --quick, else 1,000,000)", DefaultValueFactory = _ => 0 };
        var inProcess = new Option<bool>("--in-process") { Description = "run the cloud inside this process even when the published coach-cloud is there" };
        var bin = new Option<string?>("--bin") { Description = "folder of the published coach-cloud (default: next to this program, then dist/RID)" };
        var killEveryCycle = new Option<bool>("--kill-every-cycle") { Description = "kill and restart the cloud in every cycle of a soak (default: in the first only, so one cloud process lives through the rest and its memory can be compared)" };
        var rssInterval = new Option<double>("--rss-interval-s") { Description = "period of the RSS samples of the cloud and the edge, seconds (default 1 with --quick, else 10)", DefaultValueFactory = _ => 0 };
        var rssCsv = new Option<FileInfo?>("--rss-csv") { Description = "write the RSS samples here (CSV)" };
        var liveFuzz = new Option<int>("--live-fuzz-cases") { Description = "mutated frames sent to the live cloud per cycle (default 1,500 with --quick, else 10,000)", DefaultValueFactory = _ => 0 };
        var command = new Command("chaos", "fault schedule against a live cloud and edge: kill/restart, link cut, 1 Mbit/s, slow cloud, fuzzing; every frame must be answered exactly once")
        {
            quick, json, rate, duration, fuzzCases, inProcess, bin, killEveryCycle, rssInterval, rssCsv, liveFuzz,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            bool isQuick = parse.GetValue(quick);
            long fuzz = parse.GetValue(fuzzCases) is > 0 and var f ? f : isQuick ? 50_000 : 1_000_000;
            double interval = parse.GetValue(rssInterval) is > 0 and var r ? r : isQuick ? 1 : 10;
            var settings = new ChaosSettings(isQuick, Math.Max(10, parse.GetValue(rate)), parse.GetValue(duration), fuzz)
            {
                InProcess = parse.GetValue(inProcess),
                BinaryDirectory = parse.GetValue(bin),
                KillEveryCycle = parse.GetValue(killEveryCycle),
                RssInterval = TimeSpan.FromSeconds(interval),
                RssCsv = parse.GetValue(rssCsv)?.FullName,
                LiveFuzzCasesOverride = parse.GetValue(liveFuzz),
            };
            ChaosReport report = await RunAsync(settings, cancellationToken).ConfigureAwait(false);
            Console.Error.WriteLine(report.Describe());
            if (parse.GetValue(json))
            {
                Console.Out.WriteLine(report.ToJson());
            }

            return report.Passed ? 0 : 4;
        });
        return command;
    }

    private sealed record ChaosSettings(bool Quick, int FramesPerSecond, double DurationSeconds, long FuzzCases)
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

    /// <summary>One RSS sample: seconds since the edge started, the phase, the cloud's and the edge process's memory.</summary>
    private readonly record struct RssSample(double Seconds, string Phase, int? CloudPid, ProcessMemory? Cloud, ProcessMemory Edge);

    private sealed class ChaosReport
    {
        public int FramesSent;
        public int FramesAnswered;
        public int FramesDuplicated;
        public int FallbackAnswers;
        public int Reconnects;
        public int CloudAnswers;
        public long FuzzInMemory;
        public long FuzzLive;
        public long FuzzFailures;
        public int ServerCrashes;
        public int ServerRestarts;
        public int CloudKills;
        public int Cycles;
        public double WallSeconds;
        public double EdgeSeconds;
        public double Accuracy;
        public int FuzzRounds;
        public int HealthyFuzzRounds;
        public bool Quick;
        public string CloudProcess = "in-process";
        public string CloudProcessNote = string.Empty;
        public string? RssCsv;
        public List<RssSample> Samples { get; } = [];
        public List<string> Events { get; } = [];

        public int FramesLost => FramesSent - FramesAnswered;

        public bool HealthyDuringFuzz => FuzzRounds > 0 && HealthyFuzzRounds == FuzzRounds;

        public bool Passed => FramesLost == 0 && FramesDuplicated == 0 && ServerCrashes == 0 && FuzzFailures == 0 && HealthyDuringFuzz && Accuracy == 1.0;

        // The edge process: first sample (taken once the edge runs) and last (when its last frame is answered).
        public double EdgeStartMb => Samples.Count > 0 ? Samples[0].Edge.RssMb : 0;

        public double EdgeEndMb => Samples.Count > 0 ? Samples[^1].Edge.RssMb : 0;

        public double EdgePeakMb => Samples.Count > 0 ? Samples.Max(s => s.Edge.PeakRssMb) : 0;

        // The cloud: the process alive at the end, from its first sample to its last.
        private IEnumerable<RssSample> LastCloud => Samples.Where(s => s.Cloud is not null && s.CloudPid == Samples.LastOrDefault(l => l.Cloud is not null).CloudPid);

        public double CloudStartMb => LastCloud.Select(s => s.Cloud!.Value.RssMb).FirstOrDefault();

        public double CloudEndMb => LastCloud.Select(s => s.Cloud!.Value.RssMb).LastOrDefault();

        public double CloudWindowSeconds => LastCloud.Any() ? LastCloud.Last().Seconds - LastCloud.First().Seconds : 0;

        public double CloudPeakMb => Samples.Where(s => s.Cloud is not null).Select(s => s.Cloud!.Value.PeakRssMb).DefaultIfEmpty(0).Max();

        public string Describe() => string.Join('\n', Events.Append(string.Create(CultureInfo.InvariantCulture,
            $"chaos: {FramesAnswered}/{FramesSent} frames answered ({CloudAnswers} by the cloud, {FallbackAnswers} on the edge), {FramesLost} lost, {FramesDuplicated} duplicated, {Reconnects} reconnects, accuracy {Accuracy:P2}; fuzz {FuzzInMemory} in memory + {FuzzLive} live, {FuzzFailures} failures; cloud {CloudProcess}, killed {CloudKills}×, {ServerCrashes} crashes; RSS edge {EdgeStartMb:0.0} → {EdgeEndMb:0.0} MB (peak {EdgePeakMb:0.0}), cloud {CloudStartMb:0.0} → {CloudEndMb:0.0} MB over {CloudWindowSeconds:0} s (peak {CloudPeakMb:0.0}); {WallSeconds:0.0} s: {(Passed ? "PASSED" : "FAILED")}")));

        public string ToJson()
        {
            using var stream = new MemoryStream();
            using (var w = new Utf8JsonWriter(stream))
            {
                w.WriteStartObject();
                w.WriteString("mode", Quick ? "quick" : "long");
                w.WriteString("cloud_process", CloudProcess);
                w.WriteString("cloud_process_note", CloudProcessNote);
                w.WriteString("edge_process", "in-process (EdgeRun, the code of coach-edge run)");
                w.WriteNumber("frames_sent", FramesSent);
                w.WriteNumber("frames_answered", FramesAnswered);
                w.WriteNumber("frames_lost", FramesLost);
                w.WriteNumber("frames_duplicated", FramesDuplicated);
                w.WriteNumber("fallback_answers", FallbackAnswers);
                w.WriteNumber("cloud_answers", CloudAnswers);
                w.WriteNumber("reconnects", Reconnects);
                w.WriteNumber("accuracy", Accuracy);
                w.WriteNumber("fuzz_cases", FuzzInMemory + FuzzLive);
                w.WriteNumber("fuzz_cases_in_memory", FuzzInMemory);
                w.WriteNumber("fuzz_cases_live", FuzzLive);
                w.WriteNumber("fuzz_failures", FuzzFailures);
                w.WriteBoolean("healthy_client_served_during_fuzz", HealthyDuringFuzz);
                w.WriteNumber("server_crashes", ServerCrashes);
                w.WriteNumber("cloud_kills", CloudKills);
                w.WriteNumber("server_restarts", ServerRestarts);
                w.WriteNumber("cycles", Cycles);
                w.WriteNumber("peak_rss_mb", Math.Round(Math.Max(EdgePeakMb, CloudPeakMb), 1));
                w.WriteNumber("edge_rss_start_mb", Math.Round(EdgeStartMb, 1));
                w.WriteNumber("edge_rss_end_mb", Math.Round(EdgeEndMb, 1));
                w.WriteNumber("edge_peak_rss_mb", Math.Round(EdgePeakMb, 1));
                if (CloudProcess == "child")
                {
                    w.WriteNumber("cloud_rss_start_mb", Math.Round(CloudStartMb, 1));
                    w.WriteNumber("cloud_rss_end_mb", Math.Round(CloudEndMb, 1));
                    w.WriteNumber("cloud_rss_window_s", Math.Round(CloudWindowSeconds, 1));
                    w.WriteNumber("cloud_peak_rss_mb", Math.Round(CloudPeakMb, 1));
                }
                else
                {
                    // In-process the cloud's memory is part of the edge process's figures.
                    foreach (string field in (string[])["cloud_rss_start_mb", "cloud_rss_end_mb", "cloud_rss_window_s", "cloud_peak_rss_mb"])
                    {
                        w.WriteNull(field);
                    }
                }

                w.WriteNumber("rss_start_mb", Math.Round(EdgeStartMb, 1));
                w.WriteNumber("rss_end_mb", Math.Round(EdgeEndMb, 1));
                w.WriteNumber("rss_samples", Samples.Count);
                if (RssCsv is not null)
                {
                    w.WriteString("rss_csv", RssCsv);
                }

                w.WriteNumber("edge_s", Math.Round(EdgeSeconds, 2));
                w.WriteNumber("wall_s", Math.Round(WallSeconds, 2));
                w.WriteBoolean("passed", Passed);
                w.WriteEndObject();
            }

            return Encoding.UTF8.GetString(stream.ToArray());
        }

        public void WriteCsv(string path)
        {
            var csv = new StringBuilder("t_s,phase,cloud_pid,cloud_rss_mb,cloud_peak_rss_mb,edge_rss_mb,edge_peak_rss_mb\n");
            foreach (RssSample s in Samples)
            {
                csv.Append(CultureInfo.InvariantCulture,
                    $"{s.Seconds:0.0},{s.Phase},{s.CloudPid?.ToString(CultureInfo.InvariantCulture) ?? ""},{s.Cloud?.RssMb:0.0},{s.Cloud?.PeakRssMb:0.0},{s.Edge.RssMb:0.0},{s.Edge.PeakRssMb:0.0}\n");
            }

            File.WriteAllText(path, csv.ToString());
        }
    }

    private static async Task<ChaosReport> RunAsync(ChaosSettings settings, CancellationToken cancellationToken)
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
        double cycleSeconds = (settings.Phase.TotalSeconds * 6) + settings.Cut.TotalSeconds + 4;
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
                    (long cases, long failures) = await LiveFuzzAsync(cloud.LocalEndPoint, plan, fuzzKey, settings.LiveFuzzCases, report.Cycles, Event, schedule.Token).ConfigureAwait(false);
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
                var (summary, _) = await edge.ConfigureAwait(false);
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

    /// <summary>
    /// Mutated frames to the live server, each on its own connection: half are mutated handshakes,
    /// half mutated Requests after a valid authenticated handshake. A failure is a connection the
    /// server neither answers nor closes within 10 s (a hang); the first few are described.
    /// </summary>
    private static async Task<(long Cases, long Failures)> LiveFuzzAsync(IPEndPoint cloud, PlanDirectory plan, PreSharedKey key, int cases, int seed, Action<string> describe, CancellationToken cancellationToken)
    {
        IReadOnlyList<byte[]> seeds = ProtocolFuzzer.SeedFrames();
        long done = 0, failures = 0;
        int next = -1;
        async Task Worker(int worker)
        {
            var random = new Random((seed * 7919) + worker);
            while (Interlocked.Increment(ref next) < cases && !cancellationToken.IsCancellationRequested)
            {
                string? failure = await OneCaseAsync(cloud, plan, key, seeds, random, cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref done);
                if (failure is not null && Interlocked.Increment(ref failures) <= 5)
                {
                    describe($"live fuzz failure: {failure}");
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 8).Select(Worker)).ConfigureAwait(false);
        return (done, failures);
    }

    /// <summary>One live case; null when the server answered and closed, else where it stuck.</summary>
    private static async Task<string?> OneCaseAsync(IPEndPoint cloud, PlanDirectory plan, PreSharedKey key, IReadOnlyList<byte[]> seeds, Random random, CancellationToken cancellationToken)
    {
        using var socket = new Socket(cloud.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        var received = new List<byte>();
        byte[] buffer = new byte[4096];
        string stage = "connecting";
        byte[] mutated = [];
        long start = Stopwatch.GetTimestamp();
        try
        {
            await socket.ConnectAsync(cloud, timeout.Token).ConfigureAwait(false);
            if (random.Next(2) == 0)
            {
                mutated = ProtocolFuzzer.Mutate(seeds[random.Next(seeds.Count)], random);
                stage = "waiting for the answer to a mutated first frame";
                await socket.SendAsync(mutated, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                socket.Shutdown(SocketShutdown.Send);
            }
            else
            {
                byte[] clientNonce = System.Security.Cryptography.RandomNumberGenerator.GetBytes(HandshakeAuthentication.NonceLength);
                var hello = new HelloMessage { ClientId = "chaos-fuzzer", PlanId = plan.Id, PlanHash = plan.PlanHash, Authentication = HandshakeAuthentication.ClientField(clientNonce) };
                var writer = new ArrayBufferWriter<byte>();
                hello.Write(writer);
                stage = "waiting for the Challenge";
                await socket.SendAsync(writer.WrittenMemory, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                var challenge = await ReadFrameAsync(socket, received, buffer, timeout.Token).ConfigureAwait(false);
                if (challenge is not { Type: FrameType.Challenge } c)
                {
                    return $"a valid Hello was answered with {challenge?.Type.ToString() ?? "a close"}, not a Challenge";
                }

                writer.Clear();
                HandshakeAuthentication.WriteProof(writer, HandshakeAuthentication.ClientProof(key, hello, clientNonce, c.Payload.AsSpan(1).ToArray()));
                stage = "waiting for the HelloAck";
                await socket.SendAsync(writer.WrittenMemory, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                if (await ReadFrameAsync(socket, received, buffer, timeout.Token).ConfigureAwait(false) is not { Type: FrameType.HelloAck })
                {
                    return "a valid Proof was not answered with a HelloAck";
                }

                byte[] request = seeds.First(s => s[5] == (byte)FrameType.Request);
                mutated = ProtocolFuzzer.Mutate(request, random);
                stage = "waiting for the answer to a mutated Request";
                await socket.SendAsync(mutated, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                socket.Shutdown(SocketShutdown.Send);
            }

            // The server must answer (Result/Error/Reject) and close, never hang.
            int total = received.Count;
            int n;
            while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token).ConfigureAwait(false)) > 0)
            {
                total += n;
                stage = $"waiting for the close after {total} bytes of answers";
            }

            return null;
        }
        catch (SocketException)
        {
            return null; // reset by the server: a closed connection is a correct answer to garbage
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            string frame = mutated.Length == 0 ? string.Empty : $"; the frame ({mutated.Length} B) began {Convert.ToHexString(mutated.AsSpan(0, Math.Min(48, mutated.Length)))}";
            return string.Create(CultureInfo.InvariantCulture, $"{Stopwatch.GetElapsedTime(start).TotalSeconds:0.0} s {stage}{frame}");
        }
    }

    private static async Task<(FrameType Type, byte[] Payload)?> ReadFrameAsync(Socket socket, List<byte> received, byte[] buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            var sequence = new ReadOnlySequence<byte>(received.ToArray());
            if (FrameReader.TryReadFrame(ref sequence, WireLimits.Default, out Frame frame))
            {
                var result = (frame.Type, frame.Payload.ToArray());
                received.RemoveRange(0, received.Count - (int)sequence.Length);
                return result;
            }

            int n = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return null;
            }

            received.AddRange(buffer.AsSpan(0, n).ToArray());
        }
    }
}
