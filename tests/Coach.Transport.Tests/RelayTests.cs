using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using Coach.Engine.Data;
using Coach.Engine.Graph;
using Coach.Engine.Planning.MultiStage;
using Coach.Native.OnnxRuntime;
using Coach.Transport.Cloud;
using Coach.Transport.Protocol;
using Coach.Transport.Relay;
using Coach.Transport.Security;

namespace Coach.Transport.Tests;

/// <summary>
/// A three-stage pipeline on loopback (docs/edgepipe.md §7): the edge runs stage 1 and sends to a relay (stage 2), the
/// relay to a real CloudServer serving hop 3; every hop authenticates with a pre-shared key. The relay is killed (every
/// connection aborted, nothing answered) and started again while frames are in flight.
/// </summary>
public sealed class RelayTests(ITestOutputHelper output) : IDisposable
{
    private static readonly SessionSettings Cpu = new() { Providers = [ExecutionProvider.Cpu], IntraOpThreads = 1 };
    private readonly string _dir = Directory.CreateTempSubdirectory("coach-relay-").FullName;
    private readonly ConcurrentQueue<string> _log = new();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task EveryFrameIsAnsweredOnceAndAlikeWhenTheRelayIsKilledAndStartedAgain()
    {
        const int frames = 40;
        var doc = PlanThreeStages();
        var key = PreSharedKey.Generate();
        await using var cloud = new CloudServer(new CloudServerOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Keys = EdgeKeyStore.Shared(key),
            LogInterval = TimeSpan.Zero,
            Log = _log.Enqueue,
        }, [PlanDirectory.Load(Path.Combine(_dir, "plan", PipelinePlanWriter.HopDirectory(3)))]);
        cloud.Start();
        var relayOptions = new RelayOptions
        {
            PipelineDirectory = Path.Combine(_dir, "plan"),
            Stage = 2,
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Next = cloud.LocalEndPoint,
            Keys = EdgeKeyStore.Shared(key),
            NextKey = key,
            Log = _log.Enqueue,
        };
        var relay = await RelayServer.StartAsync(relayOptions, TimeSpan.FromSeconds(10));
        relayOptions = relayOptions with { Listen = relay.LocalEndPoint };

        var requests = EdgeRequests(doc, frames);
        var answers = new Answers();
        var hello = new HelloMessage { ClientId = "camera", ModelSha256 = Convert.FromHexString(doc.Model.Sha256), PlanId = PipelinePlanWriter.HopPlanId(doc.Id, 2) };
        await using var edge = new ResendingLink(relay.LocalEndPoint, hello, key, answers, _log.Enqueue, window: 8);
        await edge.ConnectAsync(TimeSpan.FromSeconds(10));
        try
        {
            // Pass 1, nothing killed: the reference answers.
            for (int i = 0; i < frames; i++)
            {
                await edge.SendAsync((ulong)(i + 1), requests[i](i + 1));
            }
            await answers.WaitForAsync(frames, TimeSpan.FromSeconds(60));

            // Pass 2, the same frames; the relay is killed with frames in flight and started again on its port.
            int unansweredAtKill = 0;
            for (int i = 0; i < frames; i++)
            {
                await edge.SendAsync((ulong)(frames + i + 1), requests[i](frames + i + 1));
                if (i == frames / 2)
                {
                    unansweredAtKill = edge.Unanswered;
                    await relay.AbortAsync();
                    relay = await StartAgainAsync(relayOptions);
                }
            }
            await answers.WaitForAsync(2 * frames, TimeSpan.FromSeconds(60));
            output.WriteLine($"{unansweredAtKill} frame(s) unanswered at the kill, {edge.Resent} sent again, {edge.LateAnswers} late answer(s) dropped, {edge.Connections} connection(s)");

            Assert.True(unansweredAtKill > 0, "the kill should find frames in flight");
            Assert.True(edge.Resent >= 1);
            Assert.Equal(2, edge.Connections);
            for (ulong id = 1; id <= 2 * frames; id++)
            {
                Assert.True(answers.Count(id) == 1, $"request {id} answered {answers.Count(id)} times");
            }
            Assert.Equal(0, answers.Failures);
            for (int i = 0; i < frames; i++)
            {
                Assert.Equal(answers.Label((ulong)(i + 1)), answers.Label((ulong)(frames + i + 1)));
            }
        }
        finally
        {
            await relay.DisposeAsync();
            foreach (var line in _log)
            {
                output.WriteLine(line);
            }
        }
    }

    /// <summary>A port just released may take a moment to bind again.</summary>
    private static async Task<RelayServer> StartAgainAsync(RelayOptions options)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return await RelayServer.StartAsync(options, TimeSpan.FromSeconds(10));
            }
            catch (System.Net.Sockets.SocketException) when (attempt < 50)
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>resnet-fm112 over a camera board, a relay board (both 8× the committed profile) and the cloud.</summary>
    private PipelinePlanDocument PlanThreeStages()
    {
        string profile = Path.Combine(ModelCatalog.RepositoryRoot, "models", "profiles", "resnet-fm112.cpu.json");
        string devices = Path.Combine(_dir, "devices.json");
        File.WriteAllText(devices, $$"""
            { "schema": "coach.devices/1",
              "devices": [ { "name": "camera", "profile": "{{profile}}", "slowdown": 8, "link": { "rate": "100mbit" } },
                           { "name": "relay", "profile": "{{profile}}", "slowdown": 8, "link": { "rate": "10mbit" } } ],
              "cloud": { "name": "cloud", "profile": "{{profile}}" } }
            """);
        var doc = PipelinePlanningSession.Run(new PipelinePlanningOptions { Model = "resnet-fm112", DevicesFile = devices, BitsSource = "fixed:6", OutputDirectory = Path.Combine(_dir, "plan") }).Document;
        Assert.Equal(3, doc.K);
        Assert.All(doc.Stages, s => Assert.True(s.Layers > 0, $"stage {s.Index} has no layers"));
        return doc;
    }

    /// <summary>Stage 1 run on synthetic frames; each frame's Request packed at the first link's bits, for any request id.</summary>
    private Func<int, byte[]>[] EdgeRequests(PipelinePlanDocument doc, int frames)
    {
        var first = doc.Stages[0];
        var link = first.Link!;
        using var session = InferenceSession.Open(Path.Combine(_dir, "plan", first.Model!.File), Cpu);
        var result = new Func<int, byte[]>[frames];
        for (int f = 0; f < frames; f++)
        {
            var outputs = session.Run(SyntheticInputs.Create(session.Inputs, seed: 100 + f), first.Model.Outputs);
            var values = link.CutTensors.Select(c => outputs[Array.IndexOf(first.Model.Outputs, c.Name)].AsSpan<float>().ToArray()).ToArray();
            result[f] = id =>
            {
                int capacity = link.CutTensors.Select((c, k) => RequestFrameWriter.TensorCapacity(c.Shape.Length, values[k].Length, c.Bits)).Sum();
                var buffer = new ArrayBufferWriter<byte>();
                var writer = RequestFrameWriter.Begin(buffer, new RequestHeader((ulong)id, 0, 0, link.CutTensors.Length), capacity);
                for (int k = 0; k < values.Length; k++)
                {
                    int[] shape = [.. link.CutTensors[k].Shape.Select(d => (int)d)];
                    if (link.CutTensors[k].Bits == WireTensor.RawFloatBits)
                    {
                        writer.AddRaw(k, values[k], shape);
                    }
                    else
                    {
                        writer.AddQuantized(k, values[k], shape, link.CutTensors[k].Bits);
                    }
                }
                writer.Complete();
                return buffer.WrittenSpan.ToArray();
            };
        }
        return result;
    }

    private sealed class Answers : IHopAnswerSink
    {
        private readonly ConcurrentDictionary<ulong, int> _counts = new();
        private readonly ConcurrentDictionary<ulong, int> _labels = new();
        private int _failures;

        public int Failures => Volatile.Read(ref _failures);

        public int Count(ulong id) => _counts.GetValueOrDefault(id);

        public int Label(ulong id) => _labels[id];

        public void OnAnswer(in ResultMessage result, ReadOnlySpan<float> logits)
        {
            _labels[result.RequestId] = result.Label;
            _counts.AddOrUpdate(result.RequestId, 1, (_, n) => n + 1);
        }

        public void OnFailed(ErrorMessage error)
        {
            Interlocked.Increment(ref _failures);
            _counts.AddOrUpdate(error.RequestId, 1, (_, n) => n + 1);
        }

        public async Task WaitForAsync(int answered, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (_counts.Count < answered)
            {
                Assert.True(DateTime.UtcNow < deadline, $"{_counts.Count} of {answered} requests answered within {timeout.TotalSeconds} s");
                await Task.Delay(10);
            }
        }
    }
}
