using System.Buffers;
using System.IO.Pipelines;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Coach.Transport.Cloud;
using Coach.Transport.Edge;
using Coach.Transport.Protocol;

namespace Coach.Transport.Tests;

/// <summary>Collects what a cloud answers one client (a test double of the edge pipeline's sink).</summary>
internal sealed class RecordingSink(int expected) : IEdgeResultSink
{
    public ConcurrentDictionary<ulong, int> Labels { get; } = new();

    public ConcurrentDictionary<ulong, int> AnswerCounts { get; } = new();

    public ConcurrentQueue<ErrorMessage> Errors { get; } = new();

    public TaskCompletionSource AllAnswered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource<Exception?> Closed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private int _answered;

    /// <summary>Room under the cloud's in-flight limit (set after the handshake).</summary>
    public SemaphoreSlim Window { get; } = new(0);

    public void OnResult(in ResultMessage result, ReadOnlySpan<float> logits)
    {
        Window.Release();
        Labels[result.RequestId] = result.Label;
        AnswerCounts.AddOrUpdate(result.RequestId, 1, (_, n) => n + 1);
        if (Interlocked.Increment(ref _answered) == expected)
        {
            AllAnswered.TrySetResult();
        }
    }

    public void OnError(ErrorMessage error)
    {
        Window.Release();
        Errors.Enqueue(error);
    }

    public void OnClosed(Exception? error) => Closed.TrySetResult(error);
}

public sealed class CloudServerIntegrationTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"coach-transport-{Guid.NewGuid():N}");
    private readonly ConcurrentQueue<string> _log = new();
    private CloudServer _server = null!;
    private PlanDirectory _plan = null!;

    public ValueTask InitializeAsync()
    {
        TinyModels.WritePlan(_root, "tiny", head: null, tail: TinyModels.Tail(), bits: 8);
        _server = CloudServer.FromPlansDirectory(_root, new CloudServerOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            MaxBatch = 8,
            MaxWait = TimeSpan.FromMilliseconds(2),
            LogInterval = TimeSpan.Zero,
            Log = _log.Enqueue,
        });
        _plan = _server.Plans[0];
        _server.Start();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    private HelloMessage Hello(string client) => new() { ClientId = client, PlanId = _plan.Id, PlanHash = _plan.PlanHash };

    private static int LabelOf(int client, int request) => ((request * 7) + client) % 10;

    private static int BitsOf(int request) => request % 8 == 7 ? WireTensor.RawFloatBits : 2 + (request % 7);

    private static void WriteRequest(IBufferWriter<byte> output, ulong id, int label, int bits)
    {
        float[] values = TinyModels.CutTensorFor(label);
        var writer = RequestFrameWriter.Begin(output, new RequestHeader(id, 0, 0, 1), RequestFrameWriter.TensorCapacity(4, 16, bits));
        if (bits == WireTensor.RawFloatBits)
        {
            writer.AddRaw(0, values, [1, 4, 2, 2]);
        }
        else
        {
            writer.AddQuantized(0, values, [1, 4, 2, 2], bits);
        }

        writer.Complete();
    }

    [Fact]
    public async Task EightConcurrentEdgesGetEveryRequestAnsweredOnceWithTheRightLabelWhileACorruptClientIsDropped()
    {
        const int clients = 8;
        const int requests = 300;
        var sinks = new RecordingSink[clients];
        var halfway = new CountdownEvent(clients);
        var tasks = Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            sinks[c] = new RecordingSink(requests);
            await using EdgeClient client = await EdgeClient.ConnectAsync(_server.LocalEndPoint, Hello($"edge-{c}"));
            client.StartReceiving(sinks[c]);
            sinks[c].Window.Release(client.Ack.MaxInFlight);
            for (int r = 0; r < requests; r++)
            {
                if (!sinks[c].Window.Wait(0))
                {
                    await client.Output.FlushAsync();
                    await sinks[c].Window.WaitAsync();
                }

                WriteRequest(client.Output, (ulong)r + 1, LabelOf(c, r), BitsOf(r));
                if (r % 16 == 15)
                {
                    await client.Output.FlushAsync();
                    await Task.Yield();
                }

                if (r == requests / 2)
                {
                    halfway.Signal();
                }
            }

            await client.Output.FlushAsync();
            await sinks[c].AllAnswered.Task.WaitAsync(TimeSpan.FromSeconds(60));
        })).ToArray();

        // A ninth client, mid-run, sends one good request then a frame with a flipped payload byte.
        halfway.Wait(TimeSpan.FromSeconds(30));
        var corruptSink = new RecordingSink(1);
        await using (EdgeClient corrupt = await EdgeClient.ConnectAsync(_server.LocalEndPoint, Hello("corrupt")))
        {
            corrupt.StartReceiving(corruptSink);
            WriteRequest(corrupt.Output, 1, 3, 8);
            await corrupt.Output.FlushAsync();
            await corruptSink.AllAnswered.Task.WaitAsync(TimeSpan.FromSeconds(30));

            var bad = new ArrayBufferWriter<byte>();
            WriteRequest(bad, 2, 4, 8);
            byte[] bytes = bad.WrittenSpan.ToArray();
            bytes[^1] ^= 0x55;
            await corrupt.Output.WriteAsync(bytes);
            await corrupt.Output.FlushAsync();
            await corruptSink.Closed.Task.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Contains(corruptSink.Errors, e => e.Reason == ReasonCode.PayloadChecksumMismatch && e.RequestId == 0);
            Assert.Equal(3, corruptSink.Labels[1]);
        }

        await Task.WhenAll(tasks);
        for (int c = 0; c < clients; c++)
        {
            Assert.Empty(sinks[c].Errors);
            Assert.Equal(requests, sinks[c].AnswerCounts.Count);
            for (int r = 0; r < requests; r++)
            {
                Assert.Equal(1, sinks[c].AnswerCounts[(ulong)r + 1]);
                Assert.Equal(LabelOf(c, r), sinks[c].Labels[(ulong)r + 1]);
            }
        }

        Assert.Contains(_log, line => line.Contains("client corrupt") && line.Contains("closed: PayloadChecksumMismatch"));
        Assert.Equal(clients * requests + 1, _server.Metrics.RequestsTotal);
        Assert.True(_server.Metrics.BatchesTotal < _server.Metrics.RequestsTotal, "requests that share a tail were batched");
    }

    [Fact]
    public async Task AnOversizeLengthClosesOnlyThatConnectionWithALoggedReason()
    {
        var sink = new RecordingSink(1);
        await using EdgeClient client = await EdgeClient.ConnectAsync(_server.LocalEndPoint, Hello("oversize"));
        client.StartReceiving(sink);
        byte[] header = new byte[FrameHeader.Size];
        new FrameHeader(FrameType.Request, FrameFlags.None, int.MaxValue - 100, 0).Write(header);
        await client.Output.WriteAsync(header);
        await client.Output.FlushAsync();
        await sink.Closed.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains(sink.Errors, e => e.Reason == ReasonCode.FrameTooLarge);
        await WaitForLogAsync("client oversize", "FrameTooLarge");

        // The server still serves a new edge.
        var other = new RecordingSink(1);
        await using EdgeClient next = await EdgeClient.ConnectAsync(_server.LocalEndPoint, Hello("next"));
        next.StartReceiving(other);
        WriteRequest(next.Output, 1, 6, 4);
        await next.Output.FlushAsync();
        await other.AllAnswered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(6, other.Labels[1]);
    }

    [Fact]
    public async Task ATruncatedPayloadFollowedByCloseIsLogged()
    {
        await using EdgeClient client = await EdgeClient.ConnectAsync(_server.LocalEndPoint, Hello("truncated"));
        var frame = new ArrayBufferWriter<byte>();
        WriteRequest(frame, 1, 1, 8);
        await client.Output.WriteAsync(frame.WrittenMemory[..(frame.WrittenCount / 2)]);
        await client.Output.FlushAsync();
        await client.Output.CompleteAsync();
        await WaitForLogAsync("client truncated", "ConnectionClosedMidFrame");
    }

    [Fact]
    public async Task AClientThatSpeaksBeforeTheHandshakeIsRejected()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(_server.LocalEndPoint);
        var frame = new ArrayBufferWriter<byte>();
        WriteRequest(frame, 1, 1, 8);
        await socket.SendAsync(frame.WrittenMemory);
        byte[] answer = new byte[4096];
        int total = 0, n;
        while ((n = await socket.ReceiveAsync(answer.AsMemory(total))) > 0)
        {
            total += n;
        }

        var sequence = new ReadOnlySequence<byte>(answer, 0, total);
        Assert.True(FrameReader.TryReadFrame(ref sequence, WireLimits.Default, out Frame reply));
        Assert.Equal(FrameType.Reject, reply.Type);
        Assert.Equal(ReasonCode.HandshakeRequired, RejectMessage.Read(reply, WireLimits.Default, new byte[4096]).Reason);
    }

    [Fact]
    public async Task AnUnknownPlanIsRejectedWithItsReason()
    {
        var hello = new HelloMessage { ClientId = "lost", PlanId = "nope", PlanHash = new byte[32].Select((_, i) => (byte)(i + 1)).ToArray() };
        var e = await Assert.ThrowsAsync<HandshakeRejectedException>(() => EdgeClient.ConnectAsync(_server.LocalEndPoint, hello));
        Assert.Equal(ReasonCode.UnknownPlan, e.Reason);
    }

    [Fact]
    public async Task ARequestThatDoesNotFitTheTailIsAnsweredWithAnErrorAndTheConnectionStays()
    {
        var sink = new RecordingSink(1);
        await using EdgeClient client = await EdgeClient.ConnectAsync(_server.LocalEndPoint, Hello("misfit"));
        client.StartReceiving(sink);
        var writer = RequestFrameWriter.Begin(client.Output, new RequestHeader(1, 0, 0, 1), RequestFrameWriter.TensorCapacity(2, 8, 8));
        writer.AddQuantized(0, new float[8], [1, 8], 8);
        writer.Complete();
        WriteRequest(client.Output, 2, 7, 8);
        await client.Output.FlushAsync();
        await sink.AllAnswered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains(sink.Errors, e => e.RequestId == 1 && e.Reason == ReasonCode.ShapeMismatch);
        Assert.Equal(7, sink.Labels[2]);
    }

    private async Task WaitForLogAsync(string who, string reason)
    {
        for (int i = 0; i < 300 && !_log.Any(l => l.Contains(who) && l.Contains(reason)); i++)
        {
            await Task.Delay(20);
        }

        Assert.Contains(_log, l => l.Contains(who) && l.Contains(reason));
    }
}
