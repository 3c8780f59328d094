using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Coach.Transport.Cloud;
using Coach.Transport.Edge;
using Coach.Transport.Protocol;
using Coach.Transport.Security;

namespace Coach.Transport.Tests;

/// <summary>A raw protocol peer over a socket, for speaking out of turn and replaying recorded frames.</summary>
internal sealed class RawPeer : IDisposable
{
    private readonly Socket _socket;
    private readonly List<byte> _received = [];
    private readonly byte[] _buffer = new byte[8192];

    private RawPeer(Socket socket) => _socket = socket;

    public static async Task<RawPeer> ConnectAsync(IPEndPoint endpoint)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint);
        return new RawPeer(socket);
    }

    public static byte[] Bytes(Action<IBufferWriter<byte>> write)
    {
        var writer = new ArrayBufferWriter<byte>();
        write(writer);
        return writer.WrittenSpan.ToArray();
    }

    public async Task SendAsync(byte[] bytes) => await _socket.SendAsync(bytes, SocketFlags.None);

    /// <summary>The next whole frame (type and payload), or null when the peer closed first.</summary>
    public async Task<(FrameType Type, byte[] Payload)?> ReadFrameAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            var sequence = new ReadOnlySequence<byte>(_received.ToArray());
            if (FrameReader.TryReadFrame(ref sequence, WireLimits.Default, out Frame frame))
            {
                var result = (frame.Type, frame.Payload.ToArray());
                _received.RemoveRange(0, _received.Count - (int)sequence.Length);
                return result;
            }

            int n;
            try
            {
                n = await _socket.ReceiveAsync(_buffer, SocketFlags.None, cts.Token);
            }
            catch (SocketException)
            {
                return null;
            }

            if (n == 0)
            {
                return null;
            }

            _received.AddRange(_buffer.AsSpan(0, n).ToArray());
        }
    }

    /// <summary>Waits until the peer closes the connection (reads and drops anything else).</summary>
    public async Task<bool> ClosedWithinAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                int n = await _socket.ReceiveAsync(_buffer, SocketFlags.None, cts.Token);
                if (n == 0)
                {
                    return true;
                }
            }
        }
        catch (SocketException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public void Dispose() => _socket.Dispose();
}

public sealed class SecurityTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"coach-security-{Guid.NewGuid():N}");
    private readonly ConcurrentQueue<string> _log = new();
    private readonly PreSharedKey _key = PreSharedKey.Generate();
    private CloudServer _server = null!;
    private PlanDirectory _plan = null!;

    public ValueTask InitializeAsync()
    {
        TinyModels.WritePlan(_root, "tiny", head: null, tail: TinyModels.Tail(), bits: 8);
        _server = CloudServer.FromPlansDirectory(_root, new CloudServerOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            LogInterval = TimeSpan.Zero,
            Log = _log.Enqueue,
            HandshakeTimeout = TimeSpan.FromSeconds(2),
            Keys = EdgeKeyStore.Of([new("edge-a", _key)]),
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

    [Fact]
    public async Task TheRightKeyIsAcceptedAndBothSidesProveIt()
    {
        await using EdgeClient client = await EdgeClient.ConnectAsync(_server.LocalEndPoint, Hello("edge-a"), key: _key);
        Assert.Equal(HandshakeAuthentication.ProofLength, client.Ack.Authentication.Length);
        var sink = new RecordingSink(1);
        client.StartReceiving(sink);
        WriteRequest(client.Output, 1, label: 7);
        await client.Output.FlushAsync();
        await sink.AllAnswered.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(7, sink.Labels[1]);
        Assert.Equal(0, _server.AuthenticationFailures);
    }

    [Fact]
    public async Task AWrongKeyIsRejectedAndLoggedWithThePeerAddress()
    {
        var e = await Assert.ThrowsAsync<HandshakeRejectedException>(() => EdgeClient.ConnectAsync(_server.LocalEndPoint, Hello("edge-a"), key: PreSharedKey.Generate()));
        Assert.Equal(ReasonCode.AuthenticationFailed, e.Reason);
        var unknown = await Assert.ThrowsAsync<HandshakeRejectedException>(() => EdgeClient.ConnectAsync(_server.LocalEndPoint, Hello("edge-stranger"), key: _key));
        Assert.Equal(ReasonCode.AuthenticationFailed, unknown.Reason);
        var none = await Assert.ThrowsAsync<HandshakeRejectedException>(() => EdgeClient.ConnectAsync(_server.LocalEndPoint, Hello("edge-a")));
        Assert.Equal(ReasonCode.AuthenticationRequired, none.Reason);
        Assert.Equal(3, _server.AuthenticationFailures);
        Assert.Contains(_log, line => line.Contains("AuthenticationFailed", StringComparison.Ordinal) && line.Contains("127.0.0.1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AReplayedHandshakeIsRejected()
    {
        // A legitimate handshake, recorded on the wire by an eavesdropper.
        byte[] clientNonce = new byte[HandshakeAuthentication.NonceLength];
        Random.Shared.NextBytes(clientNonce);
        HelloMessage hello = Hello("edge-a") with { Authentication = HandshakeAuthentication.ClientField(clientNonce) };
        byte[] helloBytes = RawPeer.Bytes(hello.Write);
        byte[] recordedProof;
        byte[] firstNonce;
        using (RawPeer first = await RawPeer.ConnectAsync(_server.LocalEndPoint))
        {
            await first.SendAsync(helloBytes);
            var challenge = await first.ReadFrameAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(FrameType.Challenge, challenge!.Value.Type);
            firstNonce = challenge.Value.Payload[1..];
            recordedProof = RawPeer.Bytes(w => HandshakeAuthentication.WriteProof(w, HandshakeAuthentication.ClientProof(_key, hello, clientNonce, firstNonce)));
            await first.SendAsync(recordedProof);
            var ack = await first.ReadFrameAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(FrameType.HelloAck, ack!.Value.Type);
        }

        // The replay: same Hello, same proof, new connection — the server's nonce is fresh, so the proof is wrong.
        using RawPeer replay = await RawPeer.ConnectAsync(_server.LocalEndPoint);
        await replay.SendAsync(helloBytes);
        var secondChallenge = await replay.ReadFrameAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(FrameType.Challenge, secondChallenge!.Value.Type);
        Assert.False(secondChallenge.Value.Payload.AsSpan(1).SequenceEqual(firstNonce));
        await replay.SendAsync(recordedProof);
        var answer = await replay.ReadFrameAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(FrameType.Reject, answer!.Value.Type);
        Assert.Equal((ushort)ReasonCode.AuthenticationFailed, BitConverter.ToUInt16(answer.Value.Payload, 0));
        Assert.True(await replay.ClosedWithinAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task AClientSpeakingBeforeAuthenticatingIsRejectedAndClosed()
    {
        byte[] request = RawPeer.Bytes(w => WriteRequest(w, 1, label: 3));

        // A Request as the very first frame.
        using (RawPeer early = await RawPeer.ConnectAsync(_server.LocalEndPoint))
        {
            await early.SendAsync(request);
            var reject = await early.ReadFrameAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(FrameType.Reject, reject!.Value.Type);
            Assert.Equal((ushort)ReasonCode.HandshakeRequired, BitConverter.ToUInt16(reject.Value.Payload, 0));
            Assert.True(await early.ClosedWithinAsync(TimeSpan.FromSeconds(30)));
        }

        // A Request after the Hello, instead of the Proof the Challenge asked for.
        using RawPeer eager = await RawPeer.ConnectAsync(_server.LocalEndPoint);
        HelloMessage hello = Hello("edge-a") with { Authentication = HandshakeAuthentication.ClientField(new byte[HandshakeAuthentication.NonceLength]) };
        await eager.SendAsync(RawPeer.Bytes(hello.Write));
        Assert.Equal(FrameType.Challenge, (await eager.ReadFrameAsync(TimeSpan.FromSeconds(30)))!.Value.Type);
        await eager.SendAsync(request);
        var refused = await eager.ReadFrameAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(FrameType.Reject, refused!.Value.Type);
        Assert.Equal((ushort)ReasonCode.AuthenticationRequired, BitConverter.ToUInt16(refused.Value.Payload, 0));
        Assert.True(await eager.ClosedWithinAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, _server.Metrics.RequestsTotal);
    }

    [Fact]
    public async Task ASlowDripClientIsDroppedByTheHandshakeTimeout()
    {
        byte[] hello = RawPeer.Bytes(Hello("edge-a").Write);
        using RawPeer drip = await RawPeer.ConnectAsync(_server.LocalEndPoint);
        Task<bool> closed = drip.ClosedWithinAsync(TimeSpan.FromSeconds(60));
        int sent = 0;
        try
        {
            // One byte at a time, far slower than the 2 s handshake deadline allows for the whole Hello.
            while (!closed.IsCompleted && sent < hello.Length - 1)
            {
                await drip.SendAsync([hello[sent++]]);
                await Task.WhenAny(closed, Task.Delay(250));
            }
        }
        catch (SocketException)
        {
        }

        Assert.True(await closed, "the server kept a slow-drip handshake open");
        Assert.True(sent < hello.Length - 1, "the drip finished before the deadline; it must be slower");
        Assert.Contains(_log, line => line.Contains("HandshakeTimeout", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AnEdgeWithAKeyRefusesACloudThatCannotProveIt()
    {
        await using CloudServer open = CloudServer.FromPlansDirectory(_root, new CloudServerOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), LogInterval = TimeSpan.Zero, Log = _log.Enqueue });
        open.Start();
        var e = await Assert.ThrowsAsync<HandshakeRejectedException>(() => EdgeClient.ConnectAsync(open.LocalEndPoint, Hello("edge-a"), key: _key));
        Assert.Equal(ReasonCode.AuthenticationFailed, e.Reason);
        Assert.Contains(_log, line => line.Contains("authentication is OFF", StringComparison.Ordinal));
    }

    [Fact]
    public void KeyFilesAreReadAsHexOrBase64AndSharedFilesWarn()
    {
        Directory.CreateDirectory(_root);
        string hex = Path.Combine(_root, "edge-a.key");
        File.WriteAllText(hex, _key.ToHex() + "\n");
        File.SetUnixFileMode(hex, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var warnings = new List<string>();
        PreSharedKey loaded = PreSharedKey.Load(hex, warnings.Add);
        Assert.Equal(_key.ToHex(), loaded.ToHex());
        Assert.Single(warnings);
        Assert.Contains("chmod 600", warnings[0], StringComparison.Ordinal);

        File.SetUnixFileMode(hex, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        string b64 = Path.Combine(_root, "edge-b.key");
        File.WriteAllText(b64, Convert.ToBase64String(Convert.FromHexString(_key.ToHex())));
        File.SetUnixFileMode(b64, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        EdgeKeyStore store = EdgeKeyStore.Load(_root, warnings.Add);
        Assert.True(store.TryGet("edge-b", out PreSharedKey b));
        Assert.Equal(_key.ToHex(), b.ToHex());
        Assert.False(store.TryGet("edge-c", out _));
        Assert.Single(warnings);

        string shortKey = Path.Combine(_root, "short.txt");
        File.WriteAllText(shortKey, "00112233");
        var e = Assert.Throws<ArgumentException>(() => PreSharedKey.Load(shortKey));
        Assert.Contains("at least 32", e.Message, StringComparison.Ordinal);
    }

    internal static void WriteRequest(IBufferWriter<byte> output, ulong id, int label)
    {
        float[] values = TinyModels.CutTensorFor(label);
        var writer = RequestFrameWriter.Begin(output, new RequestHeader(id, 0, 0, 1), RequestFrameWriter.TensorCapacity(4, values.Length, 8));
        writer.AddQuantized(0, values, [1, 4, 2, 2], 8);
        writer.Complete();
    }
}
