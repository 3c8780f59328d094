using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Coach.Transport.Tests.Conformance;

/// <summary>A raw TCP client of the cloud that speaks only what <see cref="SpecWire"/> encodes.</summary>
internal sealed class WireClient : IAsyncDisposable
{
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(15);
    private readonly Socket _socket;
    private readonly List<byte> _received = [];
    private readonly byte[] _buffer = new byte[64 * 1024];

    private WireClient(Socket socket) => _socket = socket;

    /// <summary>Whether the last <see cref="AuthenticateAsync"/> was answered with a Challenge.</summary>
    public bool SawChallenge { get; private set; }

    public static async Task<WireClient> ConnectAsync(IPEndPoint cloud)
    {
        var socket = new Socket(cloud.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(cloud);
        return new WireClient(socket);
    }

    /// <summary>Connects and completes the §1 handshake (§4.7 when <paramref name="key"/> is given); returns the HelloAck.</summary>
    public static async Task<WireClient> HandshakeAsync(IPEndPoint cloud, ConformancePlans plans, string? clientId = null, byte[]? key = null)
    {
        WireClient client = await ConnectAsync(cloud);
        SpecWire.Received ack = await client.AuthenticateAsync(plans, clientId ?? ConformancePlans.ClientId, key ?? plans.Key);
        Assert.True(ack.Type == SpecWire.HelloAck, $"expected HelloAck, got {ack}");
        return client;
    }

    /// <summary>Hello with a client nonce, Proof for the Challenge; the frame that answers the Proof (or the Hello).</summary>
    public async Task<SpecWire.Received> AuthenticateAsync(ConformancePlans plans, string clientId, byte[] key, byte[]? planHash = null, byte[]? modelSha256 = null, ushort version = 1, string planId = "chaos")
    {
        byte[] clientNonce = RandomNumberGenerator.GetBytes(32);
        planHash ??= plans.PlanHash;
        modelSha256 ??= plans.ModelSha256;
        await SendAsync(SpecWire.Frame(SpecWire.Hello, SpecWire.HelloPayload(clientId, modelSha256, planId, planHash, planId, SpecWire.AuthField(clientNonce), version)));
        SpecWire.Received first = await ReceiveAsync() ?? throw new IOException("closed instead of answering the Hello");
        SawChallenge = first.Type == SpecWire.Challenge;
        if (first.Type != SpecWire.Challenge)
        {
            return first;
        }

        Assert.Equal(33, first.Payload.Length);
        Assert.Equal(1, first.Payload[0]);
        byte[] serverNonce = first.Payload[1..];
        await SendAsync(SpecWire.Frame(SpecWire.Proof, SpecWire.AuthProof(key, "client", clientId, modelSha256, planHash, clientNonce, serverNonce)));
        return await ReceiveAsync() ?? throw new IOException("closed instead of answering the Proof");
    }

    public async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            int n = await _socket.SendAsync(bytes, SocketFlags.None);
            bytes = bytes[n..];
        }
    }

    /// <summary>Closes the sending side (the stream ends here, §1.7).</summary>
    public void ShutdownSend() => _socket.Shutdown(SocketShutdown.Send);

    /// <summary>The next frame; null when the cloud closed the connection (or reset it).</summary>
    public async Task<SpecWire.Received?> ReceiveAsync(TimeSpan? wait = null)
    {
        using var timeout = new CancellationTokenSource(wait ?? DefaultWait);
        while (true)
        {
            if (SpecWire.TryRead(_received) is { } frame)
            {
                return frame;
            }

            int n;
            try
            {
                n = await _socket.ReceiveAsync(_buffer, SocketFlags.None, timeout.Token);
            }
            catch (SocketException)
            {
                return null;
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"no frame and no close within {(wait ?? DefaultWait).TotalSeconds} s");
            }

            if (n == 0)
            {
                Assert.True(_received.Count == 0, $"the cloud closed inside a frame ({_received.Count} bytes)");
                return null;
            }

            _received.AddRange(_buffer.AsSpan(0, n).ToArray());
        }
    }

    /// <summary>Every frame until the cloud closes.</summary>
    public async Task<List<SpecWire.Received>> ReceiveUntilClosedAsync(TimeSpan? wait = null)
    {
        var frames = new List<SpecWire.Received>();
        while (await ReceiveAsync(wait) is { } frame)
        {
            frames.Add(frame);
        }

        return frames;
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
