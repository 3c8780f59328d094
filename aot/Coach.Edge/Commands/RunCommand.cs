using System.CommandLine;
using System.Net;
using System.Runtime.InteropServices;
using Coach.Native.OnnxRuntime;
using Coach.Transport;
using Coach.Transport.Edge;
using Coach.Transport.Protocol;

namespace Coach.Edge.Commands;

/// <summary>
/// <c>coach-edge run --plan DIR --cloud ADDR:PORT --source stream:medium [--frames N] [--shape 20mbit] [--csv FILE] [--json]
/// [--key FILE --client-id ID] [--tls [--tls-ca FILE] [--tls-server-name NAME] [--tls-cert FILE --tls-key FILE]]</c>:
/// the pipelined edge (head → online scheduler → pack and send) on one plan; the logic lives in
/// <see cref="EdgeRun"/> in Coach.Transport.
/// </summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var plan = new Option<DirectoryInfo?>("--plan") { Description = "plan directory (plan.json + head.onnx and/or tail.onnx); default: the config's planDirectory" };
        var config = new Option<FileInfo?>("--config") { Description = "edge configuration (e.g. /etc/coach/edge.json): cloud, plan directory, key file, execution providers, TensorRT; command-line options override it" };
        var cloud = new Option<string?>("--cloud") { Description = "the coach-cloud address, e.g. 127.0.0.1:7400 (not needed for an edge-only plan)" };
        var source = new Option<string>("--source") { Description = "frame source: stream:low|medium|high over the bundled test split, images:DIR (JPEG/PNG, class subfolders), video:FILE (ffmpeg; labels from FILE.labels), tensors:FILE (.npy/IDX) or camera:/dev/videoN[@WxH] (V4L2); preprocessed by the plan's input contract", DefaultValueFactory = _ => "stream:medium" };
        var frames = new Option<int>("--frames") { Description = "number of frames (for images:/video:/tensors:, at most this many of the decoded frames, each once; for camera:, frames captured)", DefaultValueFactory = _ => 1000 };
        var runLength = new Option<int>("--run-length") { Description = "frames per run of one class/sample in the stream", DefaultValueFactory = _ => 10 };
        var seed = new Option<int>("--seed") { Description = "stream seed", DefaultValueFactory = _ => 1 };
        var shape = new Option<string?>("--shape") { Description = "in-process link shaper on the send path, e.g. 20mbit (tc syntax)" };
        var csv = new Option<FileInfo?>("--csv") { Description = "write the per-frame CSV here" };
        var json = new Option<bool>("--json") { Description = "print the summary as one JSON object on the last line" };
        var slots = new Option<int>("--slots") { Description = "frames in the pipeline at once", DefaultValueFactory = _ => 4 };
        var emulateSlowdown = new Option<double>("--emulate-slowdown") { Description = "stretch every edge compute step to this multiple of its time, emulating a slower device (for latency runs; 1 = off)", DefaultValueFactory = _ => 1.0 };
        var maxInFlight = new Option<int>("--max-in-flight") { Description = "most requests outstanding at the cloud (also capped by the cloud); more than fills the link only queues frames", DefaultValueFactory = _ => new EdgeRunOptions().MaxInFlight };
        var duration = new Option<double?>("--duration-s") { Description = "stop taking new frames after this many seconds (frames taken are still answered; --frames is then an upper bound)" };
        var fps = new Option<double?>("--fps") { Description = "frames arrive at this rate, like a camera's, and latency counts from each arrival (default: as fast as the pipeline takes them)" };
        var threads = new Option<int>("--threads") { Description = "ONNX Runtime intra-op threads of the head (0 = ORT default)", DefaultValueFactory = _ => 0 };
        var noProgress = new Option<bool>("--no-progress") { Description = "no progress bar on stderr" };
        var keyFile = new Option<FileInfo?>("--key") { Description = "this edge's pre-shared key file (32+ random bytes, hex or base64; chmod 600); the key itself is never given on the command line" };
        var clientId = new Option<string?>("--client-id") { Description = "the id this edge authenticates as (the cloud's <client-id>.key)" };
        var noReconnect = new Option<bool>("--no-reconnect") { Description = "do not reconnect after the connection is lost" };
        var noFallback = new Option<bool>("--no-fallback") { Description = "no full-model fallback on the edge while the cloud is away (such frames fail)" };
        var fullModel = new Option<FileInfo?>("--full-model") { Description = "the full model for the fallback (default: plan.json's model.path)" };
        var responseTimeout = new Option<double>("--response-timeout-s") { Description = "declare the connection dead after this long without traffic while requests are outstanding (0 = never)", DefaultValueFactory = _ => 15.0 };
        var tlsOn = new Option<bool>("--tls") { Description = "speak TLS to the cloud (implied by --tls-ca and --tls-cert); without --tls-ca the system's trust store checks the cloud's certificate" };
        var tlsCa = new Option<FileInfo?>("--tls-ca") { Description = "CA bundle (PEM) the cloud's certificate must chain to" };
        var tlsServerName = new Option<string?>("--tls-server-name") { Description = "name the cloud's certificate must carry (default: the host of --cloud)" };
        var tlsCert = new Option<FileInfo?>("--tls-cert") { Description = "mutual TLS: this edge's certificate (PEM); its subject CN is the client id (default --client-id)" };
        var tlsKey = new Option<FileInfo?>("--tls-key") { Description = "mutual TLS: the private key of --tls-cert (PEM, unencrypted; chmod 600)" };
        var scheduler = new Option<string?>("--scheduler") { Description = "online (early exit + adaptive bits from DIR/scheduler.json) or fixed (plan bits); default: online when the plan has scheduler.json" };
        scheduler.AcceptOnlyFromAmong("online", "fixed");
        var sysfsRoot = new Option<DirectoryInfo?>("--sysfs-root") { Description = "read the Jetson's power rails, thermal zones and GPU load under this root (default: the config's telemetry.sysfsRoot, else /); a recorded tree replays them" };
        var queueFallback = new Option<double>("--cloud-queue-fallback-ms") { Description = "answer on the edge with the full model while the cloud reports more than this queueing per request (smoothed; one frame in 8 still probes the cloud); 0 = never", DefaultValueFactory = _ => 0 };
        var queueResume = new Option<double>("--cloud-queue-resume-ms") { Description = "return to the cloud plan when its reported queueing falls below this (default: half of --cloud-queue-fallback-ms)", DefaultValueFactory = _ => 0 };
        var noTelemetry = new Option<bool>("--no-telemetry") { Description = "no energy and temperature figures (they are taken only where the sensors exist)" };
        var command = new Command("run", "run a stream of frames through the plan's head, the online scheduler and the cloud")
        {
            plan, cloud, source, frames, runLength, seed, shape, csv, json, slots, fps, duration, emulateSlowdown, maxInFlight, threads, noProgress, scheduler, config,
            keyFile, clientId, noReconnect, noFallback, fullModel, responseTimeout, tlsOn, tlsCa, tlsServerName, tlsCert, tlsKey,
            sysfsRoot, noTelemetry, queueFallback, queueResume,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            try
            {
                var configuration = result.GetValue(config) is { } configFile ? Coach.Engine.Deployment.EdgeConfiguration.Load(configFile.FullName) : null;
                var planPath = result.GetValue(plan)?.FullName ?? configuration?.PlanDirectory
                    ?? throw new ArgumentException("give --plan DIR or --config FILE with a planDirectory");
                PlanDirectory planDirectory = PlanDirectory.Load(planPath);
                EndPoint? cloudEndPoint = null;
                if ((result.GetValue(cloud) ?? NullIfEmpty(configuration?.Cloud)) is { } address)
                {
                    cloudEndPoint = IPEndPoint.TryParse(address, out IPEndPoint? ip) ? ip
                        : address.Split(':') is [var host, var port] && int.TryParse(port, out int p) ? new DnsEndPoint(host, p)
                        : throw new FormatException($"--cloud {address} is not ADDR:PORT");
                }

                LinkShaper? shaper = result.GetValue(shape) is { } rate ? new LinkShaper(LinkShaper.ParseRate(rate)) : null;
                IFrameSource frameSource = FrameSources.Open(result.GetValue(source)!, planDirectory, result.GetValue(frames), result.GetValue(runLength), result.GetValue(seed), out var sourceNotes);
                using var ownedSource = frameSource as IDisposable; // a camera: stop streaming and unmap its buffers at the end
                foreach (var note in sourceNotes)
                {
                    Console.Error.WriteLine($"coach-edge: {note}");
                }
                // SIGTERM/SIGINT: take no new frame, finish the frames taken, say Goodbye, print the summary;
                // a second signal ends the process at once.
                using var stopTaking = new CancellationTokenSource();
                void OnSignal(PosixSignalContext context)
                {
                    if (!stopTaking.IsCancellationRequested)
                    {
                        context.Cancel = true;
                        Console.Error.WriteLine($"coach-edge: {context.Signal}: taking no new frame; finishing the frames taken (again to quit at once)");
                        stopTaking.Cancel();
                    }
                }

                using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
                using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
                var tls = CreateTls(result.GetValue(tlsOn), result.GetValue(tlsCa)?.FullName, result.GetValue(tlsServerName), result.GetValue(tlsCert)?.FullName, result.GetValue(tlsKey)?.FullName, configuration?.Tls);
                var options = new EdgeRunOptions
                {
                    Key = (result.GetValue(keyFile)?.FullName ?? configuration?.KeyFile) is { } key ? Coach.Transport.Security.PreSharedKey.Load(key, static warning => Console.Error.WriteLine($"coach-edge: {warning}")) : null,
                    // With a client certificate the cloud expects its subject CN as the client id.
                    ClientId = result.GetValue(clientId)
                        ?? tls?.ClientCertificate?.GetNameInfo(System.Security.Cryptography.X509Certificates.X509NameType.SimpleName, forIssuer: false)
                        ?? $"coach-edge@{Environment.MachineName}",
                    Reconnect = !result.GetValue(noReconnect),
                    Fallback = !result.GetValue(noFallback),
                    FullModelPath = result.GetValue(fullModel)?.FullName,
                    ResponseTimeout = TimeSpan.FromSeconds(result.GetValue(responseTimeout)),
                    Tls = tls,
                    Cloud = cloudEndPoint,
                    Shaper = shaper,
                    Slots = result.GetValue(slots),
                    FramesPerSecond = result.GetValue(fps) is double pace and > 0 ? pace : null,
                    Duration = result.GetValue(duration) is double seconds ? (seconds > 0 ? TimeSpan.FromSeconds(seconds) : throw new ArgumentException($"--duration-s must be a positive number of seconds, got {seconds}")) : null,
                    EmulatedSlowdown = Math.Max(1, result.GetValue(emulateSlowdown)),
                    MaxInFlight = Math.Max(1, result.GetValue(maxInFlight)),
                    CloudQueueFallback = TimeSpan.FromMilliseconds(Math.Max(0, result.GetValue(queueFallback))),
                    CloudQueueResume = TimeSpan.FromMilliseconds(Math.Max(0, result.GetValue(queueResume))),
                    HeadSettings = configuration is null
                        ? new SessionSettings { IntraOpThreads = result.GetValue(threads) }
                        : WithThreads(configuration.ToSessionSettings(), result.GetValue(threads)),
                    ShowProgress = !result.GetValue(noProgress),
                    StopTaking = stopTaking.Token,
                };
                Console.Error.WriteLine($"coach-edge: {planDirectory}, source {frameSource.Description}{(shaper is null ? string.Empty : $", link shaped in-process to {shaper}")}");
                var telemetrySettings = configuration?.Telemetry ?? new Coach.Engine.Deployment.TelemetryConfiguration();
                using var telemetry = result.GetValue(noTelemetry) || !telemetrySettings.Enabled ? null
                    : EdgeTelemetry.Start(result.GetValue(sysfsRoot)?.FullName ?? telemetrySettings.SysfsRoot, telemetrySettings.Interval,
                        line => Console.Error.WriteLine($"coach-edge: {line}"));
                using var signals = await OpenSignalsAsync(configuration?.Gpio, cancellationToken).ConfigureAwait(false);
                signals?.SetStatus(true);
                var (summary, pipeline) = await EdgeRun.RunAsync(planDirectory, frameSource, CreateScheduler(result.GetValue(scheduler), planDirectory), options, cancellationToken).ConfigureAwait(false);
                signals?.SetStatus(false);
                if (telemetry is not null)
                {
                    summary = telemetry.Complete(summary);
                }
                if (result.GetValue(csv) is { } csvFile)
                {
                    using var writer = new StreamWriter(csvFile.FullName);
                    pipeline.WriteCsv(writer);
                }

                Console.Out.WriteLine(summary.Format());
                if (result.GetValue(json))
                {
                    Console.Out.WriteLine(summary.ToJson());
                }

                return summary.FramesAnswered == summary.FramesSent ? 0 : 4;
            }
            catch (Exception e) when (e is InvalidDataException or FormatException or ArgumentException or IOException
                or System.Net.Sockets.SocketException or HandshakeRejectedException or Coach.Transport.Protocol.ProtocolViolationException or OrtException
                or Coach.Engine.Deployment.EdgeConfigurationException or System.Security.Cryptography.CryptographicException
                or DllNotFoundException)
            {
                Console.Error.WriteLine($"coach-edge run: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    /// <summary>The configuration's GPIO lines, after the start trigger's edge when one is configured; null without GPIO.</summary>
    private static async Task<Coach.Native.Gpio.EdgeSignals?> OpenSignalsAsync(Coach.Engine.Deployment.GpioConfiguration? gpio, CancellationToken cancellationToken)
    {
        if (gpio is not { IsUsed: true })
        {
            return null;
        }
        var signals = Coach.Native.Gpio.EdgeSignals.Open(gpio.Chip, gpio.StatusLine, gpio.TriggerLine, gpio.TriggerEdge == "rising");
        if (gpio.TriggerLine is int line)
        {
            Console.Error.WriteLine($"coach-edge: waiting for a {gpio.TriggerEdge} edge on GPIO chip {gpio.Chip} line {line} to start");
            if (!await signals.WaitForTriggerAsync(TimeSpan.FromSeconds(gpio.TriggerTimeoutS), cancellationToken).ConfigureAwait(false))
            {
                signals.Dispose();
                throw new IOException($"no {gpio.TriggerEdge} edge on GPIO chip {gpio.Chip} line {line} within gpio.triggerTimeoutS = {gpio.TriggerTimeoutS} s; nothing was sent");
            }
        }
        return signals;
    }

    /// <summary>The online scheduler over the plan's scheduler.json (written by `coach calibrate-online`), or fixed plan bits.</summary>
    private static IFrameScheduler CreateScheduler(string? choice, PlanDirectory plan)
    {
        Coach.Engine.Online.SchedulerState? state = plan.IsEdgeOnly || plan.IsCloudOnly ? null : Coach.Engine.Online.SchedulerState.TryLoad(plan.DirectoryPath);
        if ((choice ?? (state is null ? "fixed" : "online")) == "fixed")
        {
            return new FixedBitsScheduler();
        }

        if (plan.IsCloudOnly || plan.IsEdgeOnly)
        {
            // A COACH plan may pick the compressed input cut (or no cut): no head features for the semantic cache, no UAQ bits to adapt.
            Console.Error.WriteLine($"coach-edge: --scheduler online has nothing to adapt on {plan}: "
                + (plan.JpegQuality > 0 ? $"the frame goes as JPEG quality {plan.JpegQuality}, no UAQ bits and no head features for early exit" : plan.IsCloudOnly ? "the frame goes as it is, no UAQ bits and no head features" : "nothing crosses the link")
                + "; running with the plan's fixed settings");
            return new FixedBitsScheduler();
        }

        var online = new OnlineFrameScheduler(plan, state ?? throw new InvalidDataException(
            $"--scheduler online needs {Coach.Engine.Online.SchedulerState.FileName} in {plan.DirectoryPath}; write it with `coach calibrate-online --plan {plan.DirectoryPath}`"));
        if (online.AdaptiveBitsOnly)
        {
            Console.Error.WriteLine($"coach-edge: online scheduler with adaptive bits only (eq. 11; no semantic cache, no early exit): {online.ModeReason}");
        }

        return online;
    }

    /// <summary>
    /// TLS settings from the command line, each option overriding the configuration's field; null
    /// when neither asks for TLS. Only file paths are taken: certificates and keys are read from files.
    /// </summary>
    private static Coach.Transport.Security.EdgeTlsSettings? CreateTls(bool enabled, string? ca, string? serverName, string? certificate, string? key, Coach.Engine.Deployment.TlsConfiguration? configured)
    {
        bool fromCommandLine = enabled || ca is not null || serverName is not null || certificate is not null || key is not null;
        if (!fromCommandLine && configured is not { Enabled: true })
        {
            return null;
        }

        var settings = Coach.Transport.Security.EdgeTlsSettings.Load(
            ca ?? configured?.CaFile,
            serverName ?? configured?.ServerName,
            certificate ?? (key is null ? configured?.CertificateFile : null),
            key ?? (certificate is null ? configured?.KeyFile : null),
            static warning => Console.Error.WriteLine($"coach-edge: {warning}"));
        Console.Error.WriteLine($"coach-edge: {settings.Describe}");
        return settings;
    }

    private static string? NullIfEmpty(string? text) => string.IsNullOrWhiteSpace(text) ? null : text;

    /// <summary>The configuration's providers and TensorRT settings, with --threads overriding its thread count when given.</summary>
    private static SessionSettings WithThreads(SessionSettings fromConfig, int threads) =>
        threads == 0 ? fromConfig : fromConfig with { IntraOpThreads = threads };
}
