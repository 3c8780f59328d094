using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using Coach.Native.OnnxRuntime;
using Coach.Transport.Cloud;
using Coach.Transport.Security;

namespace Coach.Cloud.Commands;

/// <summary><c>coach-cloud serve --listen ADDR:PORT --plans DIR [--keys DIR|FILE | --insecure-no-auth] [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]] [--max-batch N] [--max-wait-ms MS] [--drain-s S] [--metrics-listen ADDR:PORT]</c>.
/// SIGTERM and SIGINT stop it gracefully (docs/protocol.md §1.7): no new connections, Goodbye (ShuttingDown)
/// to every edge, their requests answered for at most --drain-s, then exit 0. With --metrics-listen it serves
/// /metrics (Prometheus) and /health (503 from the start of the drain) on that port (docs/fleet.md).</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var listen = new Option<string>("--listen") { Description = "address:port to listen on (port 0 picks a free one)", DefaultValueFactory = _ => "127.0.0.1:7400" };
        var plans = new Option<DirectoryInfo>("--plans") { Description = "folder of plan directories (each with plan.json and tail.onnx), or one plan directory", Required = true };
        var maxBatch = new Option<int>("--max-batch") { Description = "largest batch of requests that share a tail", DefaultValueFactory = _ => 8 };
        var maxWait = new Option<double>("--max-wait-ms") { Description = "how long a request waits for batch company, ms", DefaultValueFactory = _ => 2.0 };
        var threads = new Option<int>("--threads") { Description = "ONNX Runtime intra-op threads per tail (0 = ORT default)", DefaultValueFactory = _ => 0 };
        var logInterval = new Option<double>("--log-interval-s") { Description = "period of the metrics log line, seconds (0 = off)", DefaultValueFactory = _ => 5.0 };
        var preload = new Option<bool>("--preload") { Description = "load every tail at start instead of at its first handshake" };
        var keys = new Option<string?>("--keys") { Description = "pre-shared keys: a directory of <client-id>.key files (or one key file for every edge); edges must then authenticate" };
        var insecure = new Option<bool>("--insecure-no-auth") { Description = "serve without authentication (the default when neither --keys nor --tls-client-ca is given; logged as a warning)" };
        var idle = new Option<double>("--idle-timeout-s") { Description = "close connections idle this long, seconds (0 = never)", DefaultValueFactory = _ => 300.0 };
        var handshake = new Option<double>("--handshake-timeout-s") { Description = "drop connections that have not completed the handshake by then, seconds", DefaultValueFactory = _ => 10.0 };
        var maxConnections = new Option<int>("--max-connections") { Description = "most connections served at once", DefaultValueFactory = _ => 1024 };
        var tlsCert = new Option<FileInfo?>("--tls-cert") { Description = "serve TLS with this certificate (PEM; further certificates in the file are sent as its chain)" };
        var tlsKey = new Option<FileInfo?>("--tls-key") { Description = "the private key of --tls-cert (PEM, unencrypted; chmod 600)" };
        var tlsClientCa = new Option<FileInfo?>("--tls-client-ca") { Description = "mutual TLS: require edge certificates from this CA bundle (PEM); an edge with one needs no key, its client id must be the certificate's subject CN" };
        var delay = new Option<double>("--response-delay-ms") { Description = "fault injection: delay every batch of answers, ms", DefaultValueFactory = _ => 0.0 };
        var drain = new Option<double>("--drain-s") { Description = "on SIGTERM/SIGINT: answer the requests edges still send for at most this long, seconds, then exit", DefaultValueFactory = _ => 10.0 };
        var realign = new Option<bool>("--realign") { Description = "fragment re-alignment: requests of a plan cut earlier run a bridge to a later plan's cut of the same model and join that tail's batches, when that spends less compute within --realign-budget-ms (docs/fleet.md §4)" };
        var realignBudget = new Option<double>("--realign-budget-ms") { Description = "cloud-side latency budget of each request that re-alignment keeps, ms", DefaultValueFactory = _ => 50.0 };
        var realignInterval = new Option<double>("--realign-interval-s") { Description = "how often the re-alignment is chosen again from the last period's request rates, seconds", DefaultValueFactory = _ => 1.0 };
        var shed = new Option<int>("--shed-queue-depth") { Description = "shed a request (Error 310 Overloaded; the edge answers it itself) when this many requests of its plan already wait for the tail (0 = never)", DefaultValueFactory = _ => 0 };
        var metricsListen = new Option<string?>("--metrics-listen") { Description = "serve /metrics (Prometheus text) and /health (200 serving, 503 draining) over HTTP on this address:port, e.g. 127.0.0.1:9464" };
        var command = new Command("serve", "accept edge connections and answer their requests with the plans' tails")
        {
            listen, plans, maxBatch, maxWait, threads, logInterval, preload, keys, insecure, tlsCert, tlsKey, tlsClientCa, idle, handshake, maxConnections, delay, drain, metricsListen, realign, realignBudget, realignInterval, shed,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            string address = result.GetValue(listen)!;
            if (!IPEndPoint.TryParse(address, out IPEndPoint? endpoint))
            {
                Console.Error.WriteLine($"coach-cloud: --listen {address} is not an address:port such as 127.0.0.1:7400");
                return 2;
            }

            double drainSeconds = result.GetValue(drain);
            if (!(drainSeconds >= 0))
            {
                Console.Error.WriteLine($"coach-cloud: --drain-s {drainSeconds} must be 0 or more seconds");
                return 2;
            }

            IPEndPoint? metricsEndpoint = null;
            if (result.GetValue(metricsListen) is { } metricsAddress && (!IPEndPoint.TryParse(metricsAddress, out metricsEndpoint) || metricsEndpoint.Port == 0))
            {
                Console.Error.WriteLine($"coach-cloud: --metrics-listen {metricsAddress} is not an address:port with a fixed port, such as 127.0.0.1:9464");
                return 2;
            }

            Action<string> log = static line => Console.Error.WriteLine($"{DateTime.UtcNow.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} {line}");
            EdgeKeyStore? keyStore = null;
            if (result.GetValue(keys) is { } keyPath)
            {
                if (result.GetValue(insecure))
                {
                    Console.Error.WriteLine("coach-cloud: --keys and --insecure-no-auth contradict each other; give one");
                    return 2;
                }

                try
                {
                    keyStore = EdgeKeyStore.Load(keyPath, log);
                }
                catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException)
                {
                    Console.Error.WriteLine($"coach-cloud: {e.Message}");
                    return 1;
                }
            }

            CloudTlsSettings? tls = null;
            if (result.GetValue(tlsCert) is { } certificateFile)
            {
                if (result.GetValue(tlsKey) is not { } keyFile)
                {
                    Console.Error.WriteLine("coach-cloud: --tls-cert needs --tls-key (the certificate's private key file)");
                    return 2;
                }

                if (result.GetValue(tlsClientCa) is not null && result.GetValue(insecure))
                {
                    Console.Error.WriteLine("coach-cloud: --tls-client-ca (client certificates) and --insecure-no-auth contradict each other; give one");
                    return 2;
                }

                try
                {
                    tls = CloudTlsSettings.Load(certificateFile.FullName, keyFile.FullName, result.GetValue(tlsClientCa)?.FullName, log);
                }
                catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
                {
                    Console.Error.WriteLine($"coach-cloud: {e.Message}");
                    return 1;
                }
            }
            else if (result.GetValue(tlsKey) is not null || result.GetValue(tlsClientCa) is not null)
            {
                Console.Error.WriteLine("coach-cloud: --tls-key and --tls-client-ca need --tls-cert (the server's certificate)");
                return 2;
            }

            var options = new CloudServerOptions
            {
                Keys = keyStore,
                Tls = tls,
                IdleTimeout = TimeSpan.FromSeconds(result.GetValue(idle)),
                HandshakeTimeout = TimeSpan.FromSeconds(result.GetValue(handshake)),
                MaxConnections = result.GetValue(maxConnections),
                ResponseDelay = TimeSpan.FromMilliseconds(result.GetValue(delay)),
                Listen = endpoint,
                MaxBatch = result.GetValue(maxBatch),
                MaxWait = TimeSpan.FromMilliseconds(result.GetValue(maxWait)),
                Realign = result.GetValue(realign),
                ShedQueueDepth = result.GetValue(shed),
                RealignBudget = TimeSpan.FromMilliseconds(result.GetValue(realignBudget)),
                RealignInterval = TimeSpan.FromSeconds(result.GetValue(realignInterval)),
                LogInterval = TimeSpan.FromSeconds(result.GetValue(logInterval)),
                TailSettings = new SessionSettings { IntraOpThreads = result.GetValue(threads), Providers = [ExecutionProvider.Cuda, ExecutionProvider.Cpu] },
                Log = log,
            };

            CloudServer server;
            CloudMonitoringEndpoint? monitoring = null;
            try
            {
                server = CloudServer.FromPlansDirectory(result.GetValue(plans)!.FullName, options);
                if (result.GetValue(preload))
                {
                    server.PreloadTails();
                }

                server.Start();
                if (metricsEndpoint is not null)
                {
                    monitoring = CloudMonitoringEndpoint.Start(server, metricsEndpoint);
                    log($"cloud: metrics on {monitoring.Address}{CloudMonitoringEndpoint.MetricsPath}, health on {monitoring.Address}{CloudMonitoringEndpoint.HealthPath}");
                }
            }
            catch (Exception e) when (e is InvalidDataException or DirectoryNotFoundException or InvalidOperationException or ArgumentException or OrtException)
            {
                Console.Error.WriteLine($"coach-cloud: {e.Message}");
                return 1;
            }

            // Orchestrators (systemd, Kubernetes, HAProxy rolling restarts) stop a service with SIGTERM, a
            // terminal with SIGINT: both start the graceful drain instead of ending the process.
            var stop = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            void OnSignal(PosixSignalContext context)
            {
                // The first signal drains; a second one while draining ends the process at once (the default action).
                context.Cancel = stop.TrySetResult(context.Signal.ToString());
            }

            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
            using (monitoring)
            await using (server.ConfigureAwait(false))
            {
                // Scripts read the bound address from this line (it has the real port when --listen asked for 0).
                Console.Out.WriteLine($"coach-cloud: listening on {server.LocalEndPoint}");
                Console.Out.Flush();
                string why;
                try
                {
                    why = await stop.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    why = "cancelled";
                }

                options.Log($"cloud: {why}: stopping gracefully");
                int left = await server.ShutdownAsync(TimeSpan.FromSeconds(drainSeconds)).ConfigureAwait(false);
                options.Log($"cloud: stopped ({server.Metrics.RequestsTotal} requests answered, {server.Metrics.ErrorsTotal} errors{(left > 0 ? $", {left} connection(s) cut at the end of the drain" : string.Empty)})");
            }

            return 0;
        });
        return command;
    }
}
