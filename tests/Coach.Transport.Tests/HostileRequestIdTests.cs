using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Coach.Transport.Cloud;
using Coach.Transport.Faults;
using Coach.Transport.Protocol;

namespace Coach.Transport.Tests;

/// <summary>
/// Found by the live fuzzer of <c>coach bench chaos</c> (2 of 170,000 cases in the 10-minute soak):
/// a Request with request id 0 (docs/protocol.md §3: ≠ 0) that fails validation is answered with
/// an Error of id 0, which the cloud takes for a connection-level Error and never settles, so the
/// connection counts a request in flight forever: after the edge's FIN it is never closed (and
/// without FIN the idle timeout never fires). The request reader now refuses id 0 as malformed, which closes the
/// connection with a reason.
/// </summary>
public sealed class HostileRequestIdTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"coach-id0-{Guid.NewGuid():N}");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task AnInvalidRequestWithIdZeroIsAnsweredAndTheHalfClosedConnectionCloses()
    {
        PlanDirectory plan = ChaosPlan.Write(Path.Combine(_root, "chaos"));
        await using var cloud = CloudServer.FromPlansDirectory(_root, new CloudServerOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), LogInterval = TimeSpan.Zero, Log = static _ => { } });
        cloud.Start();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(cloud.LocalEndPoint);
        var pipe = new Pipe();
        new HelloMessage { ClientId = "edge-id0", PlanId = plan.Id, PlanHash = plan.PlanHash }.Write(pipe.Writer);
        await socket.SendAsync(await Drain(pipe), SocketFlags.None);
        byte[] buffer = new byte[4096];
        Assert.True(await socket.ReceiveAsync(buffer, SocketFlags.None) > 0); // HelloAck

        // Request id 0 with a tensor of the wrong shape: the tail refuses it with an Error.
        float[] values = new float[8];
        var writer = RequestFrameWriter.Begin(pipe.Writer, new RequestHeader(0, 0, 0, 1), RequestFrameWriter.TensorCapacity(4, values.Length, 8));
        writer.AddQuantized(0, values, [1, 2, 2, 2], 8);
        writer.Complete();
        await socket.SendAsync(await Drain(pipe), SocketFlags.None);
        socket.Shutdown(SocketShutdown.Send);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        int total = 0, read;
        while ((read = await socket.ReceiveAsync(buffer.AsMemory(total), SocketFlags.None, timeout.Token)) > 0)
        {
            total += read;
        }

        // The connection ended within the timeout (ReceiveAsync would have thrown otherwise) after the cloud said why.
        Assert.True(total > 0, "the cloud closed the connection without an Error frame");
        Assert.Throws<Coach.Transport.Protocol.ProtocolViolationException>(() => RequestReader.Read(new byte[28], WireLimits.Default, new WireTensor[4]));
    }

    private static async Task<byte[]> Drain(Pipe pipe)
    {
        await pipe.Writer.FlushAsync();
        ReadResult read = await pipe.Reader.ReadAsync();
        byte[] bytes = read.Buffer.ToArray();
        pipe.Reader.AdvanceTo(read.Buffer.End);
        return bytes;
    }
}
