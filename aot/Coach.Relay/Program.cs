using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using Coach.Transport.Edge;
using Coach.Transport.Relay;
using Coach.Transport.Security;

// coach-relay: one middle stage of a pipeline across devices (docs/edgepipe.md §7).
var pipeline = new Option<DirectoryInfo>("--pipeline") { Description = "the folder coach plan --devices --out wrote (pipeline.json, stage-N.onnx, hop-N/)", Required = true };
var stage = new Option<int>("--stage") { Description = "which stage this device runs (2 … k−1; stage 1 is the edge, stage k the cloud)", Required = true };
var listen = new Option<string>("--listen") { Description = "address:port the previous hop connects to", DefaultValueFactory = _ => "127.0.0.1:7401" };
var next = new Option<string>("--next") { Description = "address:port of the next hop (the next relay, or coach-cloud serving hop-k)", Required = true };
var keys = new Option<string?>("--keys") { Description = "pre-shared keys of the previous hop's devices: a directory of <client-id>.key files or one key file" };
var nextKey = new Option<string?>("--next-key") { Description = "the key file this relay proves itself with to the next hop (its client id is --id)" };
var insecure = new Option<bool>("--insecure-no-auth") { Description = "take the previous hop without authentication (logged as a warning)" };
var id = new Option<string>("--id") { Description = "this relay's client id toward the next hop and server id toward the previous", DefaultValueFactory = _ => $"coach-relay@{Environment.MachineName}" };
var threads = new Option<int>("--threads") { Description = "ONNX Runtime intra-op threads for the stage (0 = ORT default)", DefaultValueFactory = _ => 1 };
var root = new RootCommand("coach-relay — one middle stage of a model pipelined across devices: runs its stage on what the previous hop sends and forwards the next cut")
{
    pipeline, stage, listen, next, keys, nextKey, insecure, id, threads,
};
root.SetAction(async (parse, cancellationToken) =>
{
    Action<string> log = static line => Console.Error.WriteLine($"{DateTime.UtcNow.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} {line}");
    if (!IPEndPoint.TryParse(parse.GetValue(listen)!, out var listenAt))
    {
        Console.Error.WriteLine($"coach-relay: --listen {parse.GetValue(listen)} is not an address:port such as 127.0.0.1:7401");
        return 2;
    }
    if (!IPEndPoint.TryParse(parse.GetValue(next)!, out var nextAt) || nextAt.Port == 0)
    {
        Console.Error.WriteLine($"coach-relay: --next {parse.GetValue(next)} is not an address:port with a fixed port, such as 10.0.0.2:7400");
        return 2;
    }
    EdgeKeyStore? keyStore = null;
    PreSharedKey? proof = null;
    try
    {
        if (parse.GetValue(keys) is { } keyPath)
        {
            if (parse.GetValue(insecure))
            {
                Console.Error.WriteLine("coach-relay: --keys and --insecure-no-auth contradict each other; give one");
                return 2;
            }
            keyStore = EdgeKeyStore.Load(keyPath, log);
        }
        else if (!parse.GetValue(insecure))
        {
            Console.Error.WriteLine("coach-relay: give --keys (the previous hop's keys) or --insecure-no-auth");
            return 2;
        }
        if (parse.GetValue(nextKey) is { } nextKeyPath)
        {
            proof = PreSharedKey.Load(nextKeyPath, log);
        }
    }
    catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException)
    {
        Console.Error.WriteLine($"coach-relay: {e.Message}");
        return 2;
    }

    RelayServer relay;
    try
    {
        relay = await RelayServer.StartAsync(new RelayOptions
        {
            PipelineDirectory = parse.GetValue(pipeline)!.FullName,
            Stage = parse.GetValue(stage),
            Listen = listenAt,
            Next = nextAt,
            Keys = keyStore,
            NextKey = proof,
            ServerId = parse.GetValue(id)!,
            StageSettings = new Coach.Native.OnnxRuntime.SessionSettings { Providers = [Coach.Native.OnnxRuntime.ExecutionProvider.Cpu], IntraOpThreads = parse.GetValue(threads) },
            Log = log,
        }, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
    }
    catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or HandshakeRejectedException or OperationCanceledException
        or Coach.Native.OnnxRuntime.OrtException or System.Net.Sockets.SocketException)
    {
        Console.Error.WriteLine($"coach-relay: {(e is OperationCanceledException ? $"the next hop {nextAt} did not answer within 30 s" : e.Message)}");
        return 1;
    }
    Console.WriteLine($"coach-relay: stage {parse.GetValue(stage)} listening on {relay.LocalEndPoint}");
    var stop = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
    void OnSignal(PosixSignalContext context) => context.Cancel = stop.TrySetResult(context.Signal.ToString());
    using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
    log($"coach-relay: {await stop.Task.ConfigureAwait(false)}: draining");
    await relay.ShutdownAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
    return 0;
});
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }).ConfigureAwait(false);
