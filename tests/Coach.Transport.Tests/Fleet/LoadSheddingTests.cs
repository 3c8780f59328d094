using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using Coach.Transport.Cloud;
using Coach.Transport.Edge;
using Coach.Transport.Protocol;

namespace Coach.Transport.Tests.Fleet;

/// <summary>
/// An overloaded cloud sheds with a clear reason rather than queueing without bound (docs/fleet.md §5): a request that finds
/// the limit of its plan's requests already waiting is answered at once with Error 310 Overloaded, every other request with
/// its Result, each exactly once.
/// </summary>
public sealed class LoadSheddingTests : IAsyncDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"coach-shed-{Guid.NewGuid():N}");
    private readonly ConcurrentQueue<string> _log = new();
    private CloudServer? _server;

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task ABurstPastTheQueueLimitIsShedWithOverloadedAndTheRestIsAnsweredEachOnce()
    {
        TinyModels.WritePlan(_root, "tiny", head: null, tail: TinyModels.Tail(), bits: 8);
        _server = CloudServer.FromPlansDirectory(_root, new CloudServerOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            MaxBatch = 1,
            MaxWait = TimeSpan.Zero,
            ShedQueueDepth = 2,
            LogInterval = TimeSpan.Zero,
            Log = _log.Enqueue,
        });
        PlanDirectory plan = _server.Plans[0];
        _server.Start();

        // 200 requests in one write: the connection parses them far faster than a tail runs one batch at a time.
        const int count = 200;
        var sink = new RecordingSink(count);
        await using EdgeClient client = await EdgeClient.ConnectAsync(_server.LocalEndPoint, new HelloMessage { ClientId = "burst", PlanId = plan.Id, PlanHash = plan.PlanHash });
        client.StartReceiving(sink);
        for (int i = 1; i <= count; i++)
        {
            var writer = RequestFrameWriter.Begin(client.Output, new RequestHeader((ulong)i, 0, 0, 1), RequestFrameWriter.TensorCapacity(4, 16, 8));
            writer.AddQuantized(0, TinyModels.CutTensorFor(i % 10), [1, 4, 2, 2], 8);
            writer.Complete();
        }

        await client.Output.FlushAsync();
        for (int i = 0; i < 1500 && sink.Labels.Count + sink.Errors.Count < count; i++)
        {
            await Task.Delay(20);
        }

        ErrorMessage[] errors = [.. sink.Errors];
        Assert.True(count == sink.Labels.Count + errors.Length, $"{sink.Labels.Count} results and {errors.Length} errors for {count} requests; closed: {sink.Closed.Task.IsCompleted}; cloud log:\n{string.Join('\n', _log)}");
        Assert.All(errors, e => Assert.Equal(ReasonCode.Overloaded, e.Reason));
        Assert.All(errors, e => Assert.Contains("overloaded", e.Message, StringComparison.Ordinal));
        Assert.NotEmpty(errors);
        Assert.NotEmpty(sink.Labels);
        Assert.All(sink.AnswerCounts.Values, n => Assert.Equal(1, n));
        Assert.Empty(errors.Select(e => e.RequestId).Intersect(sink.Labels.Keys));
        Assert.All(sink.Labels, kv => Assert.Equal((int)(kv.Key % 10), kv.Value));
    }
}
