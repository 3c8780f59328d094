using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Coach.Engine.Data;
using Coach.Engine.Graph;
using Coach.Engine.Planning.MultiStage;
using Coach.Native.OnnxRuntime;
using Coach.Transport;
using Coach.Transport.Cloud;
using Coach.Transport.Protocol;
using Coach.Transport.Relay;
using Coach.Transport.Security;

namespace Coach.Experiments;

/// <summary>One pipeline run: its plan's prediction and what the frames measured.</summary>
/// <param name="EdgeComputeMs">Per edge stage: its model's mean time here times the emulated slowdown (what the board takes), against <paramref name="PlannedComputeMs"/>.</param>
public sealed record PipeRunFigure(string Name, int Stages, string LayersPerStage, int Frames, int Answered, int Lost, double MeasuredFps, double PredictedFps,
    double[] EdgeComputeMs, double[] PlannedComputeMs)
{
    public double MeasuredVsPredicted => PredictedFps > 0 ? MeasuredFps / PredictedFps : 0;
}

/// <summary>
/// <c>coach bench pipe</c> (docs/edgepipe.md §9): resnet-fm112 planned with <c>coach plan --devices</c> over 2, 3 and 4
/// stages, each run end to end — stage 1 in this process, coach-relay's <see cref="RelayServer"/> for the middle stages, a
/// <see cref="CloudServer"/> for the last, real sockets on loopback with pre-shared keys on every hop. The edge boards
/// are emulated <see cref="Slowdown"/>× slower than this machine (each stage's compute stretched to that multiple of its
/// measured time, as coach-edge --emulate-slowdown does) and every link is paced at its rate by an in-process token bucket
/// (<see cref="LinkShaper"/>). Not the kernel testbed: no CPU quotas or network namespaces.
/// </summary>
public static class PipeBenchmark
{
    public const double Slowdown = 8;
    private const string Model = "resnet-fm112";
    private const string EvenSuffix = "_even";

    /// <summary>The chains: edge devices with their uplinks, the cloud last.</summary>
    private static readonly (string Name, (string Device, string Rate)[] Edges)[] Chains =
    [
        ("two_stage", [("camera", "10mbit")]),
        ("three_stage", [("camera", "100mbit"), ("board-1", "10mbit")]),
        ("four_stage", [("camera", "100mbit"), ("board-1", "100mbit"), ("board-2", "10mbit")]),
    ];

    public static async Task<string> RunAsync(bool quick, string workDirectory, TextWriter log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(log);
        int frames = quick ? 150 : 600;
        string profile = Path.Combine(ModelCatalog.RepositoryRoot, "models", "profiles", $"{Model}.cpu.json");
        Directory.CreateDirectory(workDirectory);
        var figures = new List<PipeRunFigure>();
        foreach (var (name, edges) in Chains)
        {
            string chain = Path.Combine(workDirectory, $"{name}.devices.json");
            var devices = string.Join(", ", edges.Select(e => $$"""{ "name": "{{e.Device}}", "profile": "{{profile}}", "slowdown": {{Slowdown.ToString(CultureInfo.InvariantCulture)}}, "link": { "rate": "{{e.Rate}}" } }"""));
            File.WriteAllText(chain, $$"""{ "schema": "coach.devices/1", "devices": [ {{devices}} ], "cloud": { "name": "cloud", "profile": "{{profile}}" } }""");
            // The planner's split, and for three stages or more the even layer split over the same devices and links.
            foreach (bool even in edges.Length > 1 ? new[] { false, true } : [false])
            {
                string run = even ? name + EvenSuffix : name;
                string planDir = Path.Combine(workDirectory, run);
                var plan = PipelinePlanningSession.Run(new PipelinePlanningOptions { Model = Model, DevicesFile = chain, BitsSource = "fixed:6", OutputDirectory = planDir, EvenSplit = even }).Document;
                log.WriteLine($"bench pipe: {run}: {string.Join(" / ", plan.Stages.Select(s => s.Layers))} layers, predicted {plan.ThroughputFps:F1} frames/s (bottleneck {plan.BottleneckMs:F3} ms), planner {plan.PlannerMs:F0} ms");
                var figure = await RunPipelineAsync(run, planDir, plan, frames, log, cancellationToken).ConfigureAwait(false);
                log.WriteLine($"bench pipe: {run}: measured {figure.MeasuredFps:F1} frames/s ({figure.MeasuredVsPredicted:F3} of predicted), {figure.Answered}/{figure.Frames} answered, {figure.Lost} lost; "
                    + $"edge stages {string.Join(" / ", figure.EdgeComputeMs.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))} ms emulated against {string.Join(" / ", figure.PlannedComputeMs.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))} ms planned");
                figures.Add(figure);
            }
        }

        var two = figures[0];
        var planned = figures.Skip(1).Where(f => !f.Name.EndsWith(EvenSuffix, StringComparison.Ordinal)).ToArray();
        var best = planned.MaxBy(f => f.MeasuredFps)!;
        // The even split of the same chain as the best pipeline, measured in this run.
        var evenOfBest = figures.Single(f => f.Name == best.Name + EvenSuffix);
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream))
        {
            json.WriteStartObject();
            json.WriteString("bench", "pipe");
            json.WriteString("model", Model);
            json.WriteNumber("edge_slowdown", Slowdown);
            json.WriteString("testbed", "loopback in one process: emulated device slowdown, in-process link pacing per hop");
            json.WriteNumber("frames_per_run", frames);
            foreach (var f in figures)
            {
                json.WriteStartObject(f.Name);
                json.WriteNumber("stages", f.Stages);
                json.WriteString("layers_per_stage", f.LayersPerStage);
                json.WriteNumber("predicted_fps", Math.Round(f.PredictedFps, 2));
                json.WriteNumber("measured_fps", Math.Round(f.MeasuredFps, 2));
                json.WriteNumber("measured_vs_predicted", Math.Round(f.MeasuredVsPredicted, 3));
                json.WriteNumber("answered", f.Answered);
                json.WriteNumber("lost", f.Lost);
                json.WriteString("edge_stage_ms_emulated", string.Join("/", f.EdgeComputeMs.Select(x => x.ToString("F2", CultureInfo.InvariantCulture))));
                json.WriteString("edge_stage_ms_planned", string.Join("/", f.PlannedComputeMs.Select(x => x.ToString("F2", CultureInfo.InvariantCulture))));
                json.WriteEndObject();
            }
            json.WriteString("best_pipe", best.Name);
            json.WriteNumber("pipe_vs_best_two_stage_throughput", Math.Round(best.MeasuredFps / two.MeasuredFps, 3));
            json.WriteNumber("pipe_vs_even_split_throughput", Math.Round(best.MeasuredFps / evenOfBest.MeasuredFps, 3));
            json.WriteString("even_split", evenOfBest.Name);
            json.WriteNumber("frames_lost", figures.Sum(f => f.Lost));
            // The planner's runs only: the even split's prediction is not the planner's claim.
            json.WriteNumber("measured_vs_predicted", Math.Round(figures.Where(f => !f.Name.EndsWith(EvenSuffix, StringComparison.Ordinal)).Min(f => f.MeasuredVsPredicted), 3));
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static async Task<PipeRunFigure> RunPipelineAsync(string name, string planDir, PipelinePlanDocument plan, int frames, TextWriter log, CancellationToken cancellationToken)
    {
        var key = PreSharedKey.Generate();
        var lines = new ConcurrentQueue<string>();
        Action<string> quiet = lines.Enqueue;
        int k = plan.K;
        var cloud = new CloudServer(new CloudServerOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Keys = EdgeKeyStore.Shared(key),
            LogInterval = TimeSpan.Zero,
            Log = quiet,
            TailSettings = new SessionSettings { Providers = [ExecutionProvider.Cpu], IntraOpThreads = 1 },
        }, [PlanDirectory.Load(Path.Combine(planDir, PipelinePlanWriter.HopDirectory(k)))]);
        var relays = new List<RelayServer>();
        ResendingLink? edge = null;
        try
        {
            cloud.Start();
            cloud.PreloadTails();
            EndPoint next = cloud.LocalEndPoint;
            for (int j = k - 1; j >= 2; j--)
            {
                var relay = await RelayServer.StartAsync(new RelayOptions
                {
                    PipelineDirectory = planDir,
                    Stage = j,
                    Listen = new IPEndPoint(IPAddress.Loopback, 0),
                    Next = next,
                    Keys = EdgeKeyStore.Shared(key),
                    NextKey = key,
                    Slowdown = Slowdown,
                    NextLinkBitsPerSecond = plan.Stages[j - 1].Link!.RateBps,
                    Log = quiet,
                    Window = 8,
                }, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
                relays.Add(relay);
                next = relay.LocalEndPoint;
            }

            var first = plan.Stages[0];
            var link = first.Link!;
            var answers = new AnswerClock(frames);
            var hello = new HelloMessage { ClientId = "camera", ModelSha256 = Convert.FromHexString(plan.Model.Sha256), PlanId = PipelinePlanWriter.HopPlanId(plan.Id, 2) };
            edge = new ResendingLink(next, hello, key, answers, quiet, window: 8, shaper: new LinkShaper(link.RateBps));
            await edge.ConnectAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);

            using var session = InferenceSession.Open(Path.Combine(planDir, first.Model!.File), new SessionSettings { Providers = [ExecutionProvider.Cpu], IntraOpThreads = 1 });
            var inputs = Enumerable.Range(0, 8).Select(s => SyntheticInputs.Create(session.Inputs, seed: 500 + s)).ToArray();
            var outbox = Channel.CreateBounded<(ulong, byte[])>(new BoundedChannelOptions(2) { SingleReader = true, SingleWriter = true });
            var sender = Task.Run(async () =>
            {
                await foreach (var (id, frame) in outbox.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                {
                    await edge.SendAsync(id, frame, cancellationToken).ConfigureAwait(false);
                }
            }, cancellationToken);
            long edgeTicks = 0;
            for (int i = 0; i < frames; i++)
            {
                long start = Stopwatch.GetTimestamp();
                var outputs = session.Run(inputs[i % inputs.Length], first.Model.Outputs);
                edgeTicks += Stopwatch.GetTimestamp() - start;
                Stretch(start);
                await outbox.Writer.WriteAsync(((ulong)(i + 1), Pack(link, first.Model.Outputs, outputs, (ulong)(i + 1))), cancellationToken).ConfigureAwait(false);
            }
            outbox.Writer.Complete();
            await sender.ConfigureAwait(false);
            await answers.WaitAsync(TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
            int answered = answers.Answered;
            // The steady rate: from the answer of frame 10 % through the last answer (the pipeline filling is left out).
            double fps = answers.SteadyRate(Math.Max(1, frames / 10));
            // relays[] runs from stage k−1 down to stage 2.
            double[] emulated = [edgeTicks * 1e3 / Stopwatch.Frequency / frames * Slowdown, .. Enumerable.Reverse(relays).Select(r => r.MeanStageComputeMilliseconds * Slowdown)];
            double[] planned = [.. plan.Stages.Take(k - 1).Select(s => s.TMs)];
            return new PipeRunFigure(name, k, string.Join("/", plan.Stages.Select(s => s.Layers)), frames, answered, frames - answered, fps, plan.ThroughputFps, emulated, planned);
        }
        finally
        {
            if (edge is not null)
            {
                await edge.DisposeAsync().ConfigureAwait(false);
            }
            foreach (var relay in relays)
            {
                await relay.DisposeAsync().ConfigureAwait(false);
            }
            await cloud.DisposeAsync().ConfigureAwait(false);
            foreach (var line in lines.Where(l => l.Contains("reconnect", StringComparison.Ordinal) || l.Contains("failed", StringComparison.Ordinal)))
            {
                log.WriteLine($"bench pipe: {name}: {line}");
            }
        }
    }

    /// <summary>The emulated board: the stage's compute stretched to <see cref="Slowdown"/> times its measured time.</summary>
    private static void Stretch(long start)
    {
        long elapsed = Stopwatch.GetTimestamp() - start;
        long until = start + (long)(elapsed * Slowdown);
        while (until - Stopwatch.GetTimestamp() > Stopwatch.Frequency / 500)
        {
            Thread.Sleep(1);
        }
        while (Stopwatch.GetTimestamp() < until)
        {
            Thread.SpinWait(32);
        }
    }

    /// <summary>The first link's Request for one frame: its cut tensors in wire order at the plan's bits.</summary>
    private static byte[] Pack(PipelineLinkDocument link, string[] outputNames, DenseTensor[] outputs, ulong id)
    {
        var values = link.CutTensors.Select(c => outputs[Array.IndexOf(outputNames, c.Name)]).ToArray();
        int capacity = link.CutTensors.Select((c, i) => RequestFrameWriter.TensorCapacity(c.Shape.Length, values[i].AsSpan<float>().Length, c.Bits)).Sum();
        var buffer = new ArrayBufferWriter<byte>();
        var writer = RequestFrameWriter.Begin(buffer, new RequestHeader(id, MonotonicClock.NowMicros, MonotonicClock.NowMicros, values.Length), capacity);
        for (int i = 0; i < values.Length; i++)
        {
            int[] shape = [.. link.CutTensors[i].Shape.Select(d => (int)d)];
            if (link.CutTensors[i].Bits == WireTensor.RawFloatBits)
            {
                writer.AddRaw(i, values[i].AsSpan<float>(), shape);
            }
            else
            {
                writer.AddQuantized(i, values[i].AsSpan<float>(), shape, link.CutTensors[i].Bits);
            }
        }
        writer.Complete();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>When each answer came, once per request.</summary>
    private sealed class AnswerClock(int expected) : IHopAnswerSink
    {
        private readonly ConcurrentDictionary<ulong, long> _at = new();

        public int Answered => _at.Count;

        public void OnAnswer(in ResultMessage result, ReadOnlySpan<float> logits) => _at.TryAdd(result.RequestId, Stopwatch.GetTimestamp());

        public void OnFailed(ErrorMessage error)
        {
        }

        public async Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
            while (_at.Count < expected && Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Delay(5, cancellationToken).ConfigureAwait(false);
            }
        }

        public double SteadyRate(int skip)
        {
            var times = _at.Values.Order().ToArray();
            if (times.Length <= skip + 1)
            {
                return 0;
            }
            double seconds = (times[^1] - times[skip]) / (double)Stopwatch.Frequency;
            return seconds > 0 ? (times.Length - 1 - skip) / seconds : 0;
        }
    }
}
