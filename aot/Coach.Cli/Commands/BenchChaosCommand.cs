using System.Buffers;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Coach.Transport;
using Coach.Transport.Cloud;
using Coach.Transport.Edge;
using Coach.Transport.Faults;
using Coach.Transport.Protocol;
using Coach.Transport.Security;

namespace Coach.Cli.Commands;

/// <summary>
/// <c>coach bench chaos [--quick] [--json]</c>: a real cloud (in-process <see cref="CloudServer"/>
/// on loopback, authenticated) and an edge pipeline behind a <see cref="FaultProxy"/>, through the
/// fault schedule: cloud killed mid-stream and restarted, link cut, bandwidth collapsing to
/// 1 Mbit/s, a slow cloud, and the protocol fuzzer in memory and against the live server.
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
        var command = new Command("chaos", "fault schedule against a live cloud and edge: kill/restart, link cut, 1 Mbit/s, slow cloud, fuzzing; every frame must be answered exactly once")
        {
            quick, json, rate, duration, fuzzCases,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            bool isQuick = parse.GetValue(quick);
            long fuzz = parse.GetValue(fuzzCases) is > 0 and var f ? f : isQuick ? 50_000 : 1_000_000;
            var settings = new ChaosSettings(isQuick, Math.Max(10, parse.GetValue(rate)), parse.GetValue(duration), fuzz);
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

        public int LiveFuzzCases => Quick ? 1500 : 10_000;
    }

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
        public double PeakRssMb;
        public double StartRssMb;
        public double EndRssMb;
        public double WallSeconds;
        public double Accuracy;
        public bool HealthyDuringFuzz;
        public bool Quick;
        public List<string> Events { get; } = [];

        public int FramesLost => FramesSent - FramesAnswered;

        public bool Passed => FramesLost == 0 && FramesDuplicated == 0 && ServerCrashes == 0 && FuzzFailures == 0 && HealthyDuringFuzz && Accuracy == 1.0;

        public string Describe() => string.Join('\n', Events.Append(string.Create(CultureInfo.InvariantCulture,
            $"chaos: {FramesAnswered}/{FramesSent} frames answered ({CloudAnswers} by the cloud, {FallbackAnswers} on the edge), {FramesLost} lost, {FramesDuplicated} duplicated, {Reconnects} reconnects, accuracy {Accuracy:P2}; fuzz {FuzzInMemory} in memory + {FuzzLive} live, {FuzzFailures} failures; {ServerCrashes} server crashes; RSS {StartRssMb:0} → {EndRssMb:0} MB (peak {PeakRssMb:0}); {WallSeconds:0.0} s: {(Passed ? "PASSED" : "FAILED")}")));

        public string ToJson()
        {
            using var stream = new MemoryStream();
            using (var w = new Utf8JsonWriter(stream))
            {
                w.WriteStartObject();
                w.WriteString("mode", Quick ? "quick" : "long");
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
                w.WriteNumber("server_restarts", ServerRestarts);
                w.WriteNumber("peak_rss_mb", Math.Round(PeakRssMb, 1));
                w.WriteNumber("rss_start_mb", Math.Round(StartRssMb, 1));
                w.WriteNumber("rss_end_mb", Math.Round(EndRssMb, 1));
                w.WriteNumber("wall_s", Math.Round(WallSeconds, 2));
                w.WriteBoolean("passed", Passed);
                w.WriteEndObject();
            }

            return System.Text.Encoding.UTF8.GetString(stream.ToArray());
        }
    }

    private static async Task<ChaosReport> RunAsync(ChaosSettings settings, CancellationToken cancellationToken)
    {
        var report = new ChaosReport { Quick = settings.Quick, StartRssMb = RssMb() };
        var clock = Stopwatch.StartNew();
        void Event(string text) { lock (report.Events) { report.Events.Add($"[{clock.Elapsed.TotalSeconds,6:0.0} s] {text}"); } }

        // 1. The parser fuzzer in memory.
        FuzzReport memory = ProtocolFuzzer.RunInMemory(settings.FuzzCases, seed: 8);
        report.FuzzInMemory = memory.Cases;
        report.FuzzFailures += memory.Failures.Count;
        foreach (string failure in memory.Failures)
        {
            Event($"fuzz failure: {failure}");
        }

        Event($"in-memory fuzz: {memory.Cases} cases, {memory.Rejected} refused, {memory.Accepted} parsed, max {memory.MaxAllocatedBytes} B allocated per case");

        string root = Path.Combine(Path.GetTempPath(), $"coach-chaos-{Environment.ProcessId}");
        PlanDirectory plan = ChaosPlan.Write(Path.Combine(root, "chaos"));
        PreSharedKey edgeKey = PreSharedKey.Generate();
        PreSharedKey fuzzKey = PreSharedKey.Generate();
        var keys = EdgeKeyStore.Of([new("chaos-edge", edgeKey), new("chaos-fuzzer", fuzzKey)]);
        var crashes = 0;
        CloudServer StartCloud()
        {
            var server = CloudServer.FromPlansDirectory(root, new CloudServerOptions
            {
                Listen = new IPEndPoint(IPAddress.Loopback, 0),
                Keys = keys,
                LogInterval = TimeSpan.Zero,
                HandshakeTimeout = TimeSpan.FromSeconds(3),
                Log = static _ => { },
            });
            server.Start();
            _ = server.Completion.ContinueWith(t => { if (t.IsFaulted) { Interlocked.Increment(ref crashes); } }, TaskScheduler.Default);
            return server;
        }

        CloudServer cloud = StartCloud();
        var cloudAnswersBefore = 0L;
        await using var proxy = new FaultProxy(cloud.LocalEndPoint);
        proxy.Start();
        var shaper = new LinkShaper(1e9);
        int cycles = 0;
        double cycleSeconds = (settings.Phase.TotalSeconds * 6) + settings.Cut.TotalSeconds + 4;
        double totalSeconds = Math.Max(cycleSeconds, settings.DurationSeconds);
        int frames = (int)(totalSeconds * settings.FramesPerSecond);
        long startTicks = Stopwatch.GetTimestamp();
        var source = new ChaosPlan.Source(frames, index =>
        {
            // Paced source: frame i is released at i / fps seconds.
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
            Log = line => { if (!line.Contains("failed at the cloud", StringComparison.Ordinal)) { Event(line); } },
        };

        Task<(EdgeRunSummary Summary, EdgePipeline Pipeline)> edge = EdgeRun.RunAsync(plan, source, new FixedBitsScheduler(), options, cancellationToken);
        using var schedule = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        async Task Wait(TimeSpan t) => await Task.WhenAny(edge, Task.Delay(t, schedule.Token)).ConfigureAwait(false);
        try
        {
            while (!edge.IsCompleted && clock.Elapsed.TotalSeconds + cycleSeconds - 4 <= totalSeconds + 1)
            {
                cycles++;
                await Wait(settings.Phase).ConfigureAwait(false);
                Event("fault: cloud killed (every connection aborted, no Goodbye)");
                cloudAnswersBefore += cloud.Metrics.RequestsTotal;
                report.ServerCrashes += (int)cloud.InternalErrors;
                await cloud.AbortAsync().ConfigureAwait(false);
                await Wait(settings.Phase).ConfigureAwait(false);
                cloud = StartCloud();
                proxy.Upstream = cloud.LocalEndPoint;
                report.ServerRestarts++;
                Event($"fault: cloud restarted on {cloud.LocalEndPoint}");
                await Wait(settings.Phase).ConfigureAwait(false);

                Event($"fault: link cut for {settings.Cut.TotalSeconds:0} s{(settings.Quick ? " (shortened from 10 s by --quick)" : string.Empty)}");
                proxy.Cut();
                await Wait(settings.Cut).ConfigureAwait(false);
                proxy.Restore();
                Event("fault: link restored");
                await Wait(settings.Phase).ConfigureAwait(false);

                Event("fault: bandwidth collapses to 1 Mbit/s");
                shaper.BitsPerSecond = 1e6;
                await Wait(settings.Phase).ConfigureAwait(false);
                shaper.BitsPerSecond = 1e9;
                Event("fault: cloud answers 150 ms late");
                cloud.ResponseDelay = TimeSpan.FromMilliseconds(150);
                await Wait(settings.Phase).ConfigureAwait(false);
                cloud.ResponseDelay = TimeSpan.Zero;

                Event($"fault: {settings.LiveFuzzCases} mutated frames over real sockets to the live cloud");
                long answeredBefore = cloud.Metrics.RequestsTotal;
                (long cases, long failures) = await LiveFuzzAsync(cloud, plan, fuzzKey, settings.LiveFuzzCases, cycles, schedule.Token).ConfigureAwait(false);
                report.FuzzLive += cases;
                report.FuzzFailures += failures;
                report.HealthyDuringFuzz = cloud.Metrics.RequestsTotal > answeredBefore;
                Event($"live fuzz: {cases} cases; the healthy edge got {cloud.Metrics.RequestsTotal - answeredBefore} cloud answers meanwhile");
            }
        }
        finally
        {
            var (summary, _) = await edge.ConfigureAwait(false);
            report.FramesSent = summary.FramesSent;
            report.FramesAnswered = summary.FramesAnswered;
            report.FramesDuplicated = summary.Duplicates;
            report.FallbackAnswers = summary.FallbackAnswers;
            report.Reconnects = summary.Reconnects;
            report.CloudAnswers = summary.RequestsAnswered;
            report.Accuracy = summary.Accuracy;
            report.ServerCrashes += (int)cloud.InternalErrors + crashes;
            await cloud.DisposeAsync().ConfigureAwait(false);
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        }

        GC.Collect();
        report.EndRssMb = RssMb();
        report.PeakRssMb = Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0;
        report.WallSeconds = clock.Elapsed.TotalSeconds;
        return report;
    }

    /// <summary>
    /// Mutated frames to the live server, each on its own connection: half are mutated handshakes,
    /// half mutated Requests after a valid authenticated handshake. A failure is a connection the
    /// server neither answers nor closes within 10 s (a hang).
    /// </summary>
    private static async Task<(long Cases, long Failures)> LiveFuzzAsync(CloudServer cloud, PlanDirectory plan, PreSharedKey key, int cases, int seed, CancellationToken cancellationToken)
    {
        IReadOnlyList<byte[]> seeds = ProtocolFuzzer.SeedFrames();
        long done = 0, failures = 0;
        int next = -1;
        async Task Worker(int worker)
        {
            var random = new Random((seed * 7919) + worker);
            while (Interlocked.Increment(ref next) < cases && !cancellationToken.IsCancellationRequested)
            {
                bool ok = await OneCaseAsync(cloud.LocalEndPoint, plan, key, seeds, random, cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref done);
                if (!ok)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 8).Select(Worker)).ConfigureAwait(false);
        return (done, failures);
    }

    private static async Task<bool> OneCaseAsync(IPEndPoint cloud, PlanDirectory plan, PreSharedKey key, IReadOnlyList<byte[]> seeds, Random random, CancellationToken cancellationToken)
    {
        using var socket = new Socket(cloud.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        var received = new List<byte>();
        byte[] buffer = new byte[4096];
        try
        {
            await socket.ConnectAsync(cloud, timeout.Token).ConfigureAwait(false);
            if (random.Next(2) == 0)
            {
                await socket.SendAsync(ProtocolFuzzer.Mutate(seeds[random.Next(seeds.Count)], random), SocketFlags.None, timeout.Token).ConfigureAwait(false);
                socket.Shutdown(SocketShutdown.Send);
            }
            else
            {
                byte[] clientNonce = System.Security.Cryptography.RandomNumberGenerator.GetBytes(HandshakeAuthentication.NonceLength);
                var hello = new HelloMessage { ClientId = "chaos-fuzzer", PlanId = plan.Id, PlanHash = plan.PlanHash, Authentication = HandshakeAuthentication.ClientField(clientNonce) };
                var writer = new ArrayBufferWriter<byte>();
                hello.Write(writer);
                await socket.SendAsync(writer.WrittenMemory, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                var challenge = await ReadFrameAsync(socket, received, buffer, timeout.Token).ConfigureAwait(false);
                if (challenge is not { Type: FrameType.Challenge } c)
                {
                    return false;
                }

                writer.Clear();
                HandshakeAuthentication.WriteProof(writer, HandshakeAuthentication.ClientProof(key, hello, clientNonce, c.Payload.AsSpan(1).ToArray()));
                await socket.SendAsync(writer.WrittenMemory, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                if (await ReadFrameAsync(socket, received, buffer, timeout.Token).ConfigureAwait(false) is not { Type: FrameType.HelloAck })
                {
                    return false;
                }

                byte[] request = seeds.First(s => s[5] == (byte)FrameType.Request);
                await socket.SendAsync(ProtocolFuzzer.Mutate(request, random), SocketFlags.None, timeout.Token).ConfigureAwait(false);
                socket.Shutdown(SocketShutdown.Send);
            }

            // The server must answer (Result/Error/Reject) and close, never hang.
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token).ConfigureAwait(false) > 0)
            {
            }

            return true;
        }
        catch (SocketException)
        {
            return true; // reset by the server: a closed connection is a correct answer to garbage
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
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

    private static double RssMb()
    {
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return process.WorkingSet64 / 1048576.0;
    }
}
