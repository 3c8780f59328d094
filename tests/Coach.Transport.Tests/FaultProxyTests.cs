using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Coach.Transport.Faults;

namespace Coach.Transport.Tests;

/// <summary>The fault relay's slow-cloud delay line: answers arrive late, complete and in order; a cut drops what is held.</summary>
public sealed class FaultProxyTests
{
    /// <summary>An upstream that echoes every byte back (stands in for a cloud answering at once).</summary>
    private static (Socket Listener, Task Loop) StartEcho()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(8);
        Task loop = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    Socket peer = await listener.AcceptAsync();
                    _ = Task.Run(async () =>
                    {
                        using (peer)
                        {
                            byte[] buffer = new byte[4096];
                            int n;
                            while ((n = await peer.ReceiveAsync(buffer, SocketFlags.None)) > 0)
                            {
                                await peer.SendAsync(buffer.AsMemory(0, n), SocketFlags.None);
                            }
                        }
                    });
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }
        });
        return (listener, loop);
    }

    private static async Task<byte[]> ReceiveExactlyAsync(Socket socket, int count)
    {
        byte[] data = new byte[count];
        int done = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (done < count)
        {
            int n = await socket.ReceiveAsync(data.AsMemory(done), SocketFlags.None, timeout.Token);
            Assert.True(n > 0, "the relay closed the connection");
            done += n;
        }

        return data;
    }

    [Fact]
    public async Task AResponseDelayHoldsAnswersThatLongAndKeepsTheirOrder()
    {
        (Socket listener, Task loop) = StartEcho();
        await using var proxy = new FaultProxy((IPEndPoint)listener.LocalEndPoint!);
        proxy.Start();
        proxy.ResponseDelay = TimeSpan.FromMilliseconds(250);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await client.ConnectAsync(proxy.LocalEndPoint);
        byte[] sent = Enumerable.Range(0, 3000).Select(i => (byte)(i * 31)).ToArray();
        var clock = Stopwatch.StartNew();
        for (int part = 0; part < 3; part++)
        {
            await client.SendAsync(sent.AsMemory(part * 1000, 1000), SocketFlags.None);
            await Task.Delay(20);
        }

        byte[] received = await ReceiveExactlyAsync(client, sent.Length);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(240), $"answers came back after {clock.Elapsed.TotalMilliseconds:0} ms, before the 250 ms delay");
        Assert.Equal(sent, received);
        // The relay counts a chunk once its send returns, which may be just after the client has it.
        for (int i = 0; i < 200 && proxy.BytesToClients < sent.Length; i++)
        {
            await Task.Delay(10);
        }

        Assert.Equal(sent.Length, proxy.BytesToClients);

        proxy.ResponseDelay = TimeSpan.Zero;
        clock.Restart();
        await client.SendAsync(sent.AsMemory(0, 10), SocketFlags.None);
        Assert.Equal(sent[..10], await ReceiveExactlyAsync(client, 10));
        Assert.True(clock.Elapsed < TimeSpan.FromMilliseconds(240), $"with no delay the echo took {clock.Elapsed.TotalMilliseconds:0} ms");
        listener.Dispose();
        await loop;
    }

    [Fact]
    public async Task ACutDropsAnswersStillHeldOnTheDelayLine()
    {
        (Socket listener, Task loop) = StartEcho();
        await using var proxy = new FaultProxy((IPEndPoint)listener.LocalEndPoint!);
        proxy.Start();
        proxy.ResponseDelay = TimeSpan.FromMilliseconds(400);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await client.ConnectAsync(proxy.LocalEndPoint);
        await client.SendAsync(new byte[100], SocketFlags.None);
        await Task.Delay(100); // echoed, now held on the line
        proxy.Cut();
        await Task.Delay(600);
        Assert.Equal(0, client.Available);
        Assert.Equal(0, proxy.BytesToClients);
        listener.Dispose();
        await loop;
    }
}
