using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Coach.Transport.Cloud;
using Coach.Transport.Edge;
using Coach.Transport.Faults;
using Coach.Transport.Protocol;
using Coach.Transport.Security;

namespace Coach.Transport.Tests;

/// <summary>
/// An edge started while its cloud is down: it must run anyway (full-model fallback), connect in
/// the background once the cloud listens, and still answer every request id exactly once; a cloud
/// that refuses the handshake for good ends the run with the reason instead.
/// </summary>
public sealed class EdgeStartupTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"coach-startup-{Guid.NewGuid():N}");
    private readonly ConcurrentQueue<string> _log = new();
    private readonly PreSharedKey _key = PreSharedKey.Generate();
    private readonly PlanDirectory _plan;

    public EdgeStartupTests() => _plan = ChaosPlan.Write(Path.Combine(_root, "chaos"));

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private CloudServer StartCloud(int port)
    {
        var server = CloudServer.FromPlansDirectory(_root, new CloudServerOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, port),
            LogInterval = TimeSpan.Zero,
            Keys = EdgeKeyStore.Of([new("edge-s", _key)]),
            Log = _log.Enqueue,
        });
        server.Start();
        return server;
    }

    /// <summary>A loopback port with nothing listening on it (connections to it are refused).</summary>
    private static int UnusedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private EdgeRunOptions Options(int port, Action<string>? onLog = null) => new()
    {
        Cloud = new IPEndPoint(IPAddress.Loopback, port),
        ClientId = "edge-s",
        Key = _key,
        ReconnectInitialDelay = TimeSpan.FromMilliseconds(100),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(800),
        HandshakeTimeout = TimeSpan.FromSeconds(5),
        Log = line =>
        {
            _log.Enqueue(line);
            onLog?.Invoke(line);
        },
    };

    [Fact]
    public async Task AnEdgeStartedBeforeItsCloudAnswersOnTheEdgeThenFromTheCloudEveryFrameExactlyOnce()
    {
        int port = UnusedPort();
        const int Frames = 2000;
        const int HoldAt = 800;
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var source = new ChaosPlan.Source(Frames, index =>
        {
            if (index < HoldAt)
            {
                Thread.Sleep(2); // ≥ 1.6 s of frames before the cloud can be there
            }
            else if (index == HoldAt)
            {
                // Frames after this one are produced only once the edge is connected: they go to the cloud.
                connected.Task.Wait(TimeSpan.FromSeconds(60));
            }
        });
        CloudServer? cloud = null;
        Task startLater = Task.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(3));
            cloud = StartCloud(port);
        });
        EdgeRunOptions options = Options(port, line =>
        {
            if (line.Contains("reconnected", StringComparison.Ordinal))
            {
                connected.TrySetResult();
            }
        });
        try
        {
            var (summary, pipeline) = await EdgeRun.RunAsync(_plan, source, new FixedBitsScheduler(), options);
            await startLater;
            Assert.True(connected.Task.IsCompleted, "the edge never connected to the cloud that came up: " + string.Join(" | ", _log));
            Assert.Equal(Frames, summary.FramesSent);
            Assert.Equal(Frames, summary.FramesAnswered);
            Assert.Equal(0, summary.FramesFailed);
            Assert.Equal(0, summary.Duplicates);
            Assert.Equal(1.0, summary.Accuracy);
            Assert.True(summary.Reconnects >= 1);
            Assert.Contains(_log, line => line.Contains("cannot reach the cloud", StringComparison.Ordinal));
            int fallback = 0, fromCloud = 0;
            foreach (FrameRecord record in pipeline.Records)
            {
                Assert.True(record.Decision is FrameDecision.Cloud or FrameDecision.Fallback, $"frame {record.FrameId} ended {record.Decision}");
                Assert.Equal(0, record.Duplicates);
                Assert.Equal((record.FrameId * 7) % 10, record.PredictedLabel);
                fallback += record.Decision == FrameDecision.Fallback ? 1 : 0;
                fromCloud += record.Decision == FrameDecision.Cloud ? 1 : 0;
            }

            Assert.Equal(summary.FallbackAnswers, fallback);
            Assert.Equal(FrameDecision.Fallback, pipeline.Records[0].Decision);
            Assert.Equal(FrameDecision.Cloud, pipeline.Records[Frames - 1].Decision);
            Assert.True(fromCloud >= Frames - HoldAt - 8, $"only {fromCloud} frames were answered by the cloud after it came up");
            Assert.True(cloud!.Metrics.RequestsTotal >= fromCloud);
        }
        finally
        {
            await startLater;
            if (cloud is not null)
            {
                await cloud.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task AWrongKeyAtStartEndsTheRunWithTheReasonInsteadOfRetrying()
    {
        await using CloudServer cloud = StartCloud(0);
        EdgeRunOptions options = Options(cloud.LocalEndPoint.Port) with { Key = PreSharedKey.Generate() };
        var error = await Assert.ThrowsAsync<HandshakeRejectedException>(
            () => EdgeRun.RunAsync(_plan, new ChaosPlan.Source(10), new FixedBitsScheduler(), options));
        Assert.Equal(ReasonCode.AuthenticationFailed, error.Reason);
        Assert.True(HandshakeRejectedException.IsRefusedForGood(error));
        Assert.DoesNotContain(_log, line => line.Contains("cannot reach the cloud", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WithReconnectOffAnUnreachableCloudAtStartIsAnError()
    {
        EdgeRunOptions options = Options(UnusedPort()) with { Reconnect = false };
        await Assert.ThrowsAsync<SocketException>(
            () => EdgeRun.RunAsync(_plan, new ChaosPlan.Source(10), new FixedBitsScheduler(), options));
    }

    [Theory]
    [InlineData(ReasonCode.AuthenticationFailed, true)]
    [InlineData(ReasonCode.UnknownPlan, true)]
    [InlineData(ReasonCode.UnsupportedVersion, true)]
    [InlineData(ReasonCode.ServerBusy, false)]
    [InlineData(ReasonCode.HandshakeTimeout, false)]
    public void OnlyRefusalsThatCannotPassAreFinal(ReasonCode reason, bool final) =>
        Assert.Equal(final, HandshakeRejectedException.IsRefusedForGood(new HandshakeRejectedException(reason, "test")));
}
