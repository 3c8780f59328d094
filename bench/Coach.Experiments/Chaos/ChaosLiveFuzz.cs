using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Coach.Transport;
using Coach.Transport.Protocol;
using Coach.Transport.Security;

namespace Coach.Experiments;

/// <summary>The live fuzzer of <c>coach bench chaos</c>: mutated frames over real sockets to the running cloud.</summary>
internal static class ChaosLiveFuzz
{
    /// <summary>
    /// Mutated frames to the live server, each on its own connection: half are mutated handshakes,
    /// half mutated Requests after a valid authenticated handshake. A failure is a connection the
    /// server neither answers nor closes within 10 s (a hang); the first few are described.
    /// </summary>
    public static async Task<(long Cases, long Failures)> RunAsync(IPEndPoint cloud, PlanDirectory plan, PreSharedKey key, int cases, int seed, Action<string> describe, CancellationToken cancellationToken)
    {
        IReadOnlyList<byte[]> seeds = ProtocolFuzzer.SeedFrames();
        long done = 0, failures = 0;
        int next = -1;
        async Task Worker(int worker)
        {
            var random = new Random((seed * 7919) + worker);
            while (Interlocked.Increment(ref next) < cases && !cancellationToken.IsCancellationRequested)
            {
                string? failure = await OneCaseAsync(cloud, plan, key, seeds, random, cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref done);
                if (failure is not null && Interlocked.Increment(ref failures) <= 5)
                {
                    describe($"live fuzz failure: {failure}");
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 8).Select(Worker)).ConfigureAwait(false);
        return (done, failures);
    }

    /// <summary>One live case; null when the server answered and closed, else where it stuck.</summary>
    private static async Task<string?> OneCaseAsync(IPEndPoint cloud, PlanDirectory plan, PreSharedKey key, IReadOnlyList<byte[]> seeds, Random random, CancellationToken cancellationToken)
    {
        using var socket = new Socket(cloud.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        var received = new List<byte>();
        byte[] buffer = new byte[4096];
        string stage = "connecting";
        byte[] mutated = [];
        long start = Stopwatch.GetTimestamp();
        try
        {
            await socket.ConnectAsync(cloud, timeout.Token).ConfigureAwait(false);
            if (random.Next(2) == 0)
            {
                mutated = ProtocolFuzzer.Mutate(seeds[random.Next(seeds.Count)], random);
                stage = "waiting for the answer to a mutated first frame";
                await socket.SendAsync(mutated, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                socket.Shutdown(SocketShutdown.Send);
            }
            else
            {
                byte[] clientNonce = System.Security.Cryptography.RandomNumberGenerator.GetBytes(HandshakeAuthentication.NonceLength);
                var hello = new HelloMessage { ClientId = "chaos-fuzzer", PlanId = plan.Id, PlanHash = plan.PlanHash, Authentication = HandshakeAuthentication.ClientField(clientNonce) };
                var writer = new ArrayBufferWriter<byte>();
                hello.Write(writer);
                stage = "waiting for the Challenge";
                await socket.SendAsync(writer.WrittenMemory, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                var challenge = await ReadFrameAsync(socket, received, buffer, timeout.Token).ConfigureAwait(false);
                if (challenge is not { Type: FrameType.Challenge } c)
                {
                    return $"a valid Hello was answered with {challenge?.Type.ToString() ?? "a close"}, not a Challenge";
                }

                writer.Clear();
                HandshakeAuthentication.WriteProof(writer, HandshakeAuthentication.ClientProof(key, hello, clientNonce, c.Payload.AsSpan(1).ToArray()));
                stage = "waiting for the HelloAck";
                await socket.SendAsync(writer.WrittenMemory, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                if (await ReadFrameAsync(socket, received, buffer, timeout.Token).ConfigureAwait(false) is not { Type: FrameType.HelloAck })
                {
                    return "a valid Proof was not answered with a HelloAck";
                }

                byte[] request = seeds.First(s => s[5] == (byte)FrameType.Request);
                mutated = ProtocolFuzzer.Mutate(request, random);
                stage = "waiting for the answer to a mutated Request";
                await socket.SendAsync(mutated, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                socket.Shutdown(SocketShutdown.Send);
            }

            // The server must answer (Result/Error/Reject) and close, never hang.
            int total = received.Count;
            int n;
            while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token).ConfigureAwait(false)) > 0)
            {
                total += n;
                stage = $"waiting for the close after {total} bytes of answers";
            }

            return null;
        }
        catch (SocketException)
        {
            return null; // reset by the server: a closed connection is a correct answer to garbage
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            string frame = mutated.Length == 0 ? string.Empty : $"; the frame ({mutated.Length} B) began {Convert.ToHexString(mutated.AsSpan(0, Math.Min(48, mutated.Length)))}";
            return string.Create(CultureInfo.InvariantCulture, $"{Stopwatch.GetElapsedTime(start).TotalSeconds:0.0} s {stage}{frame}");
        }
    }

    private static async Task<(FrameType Type, byte[] Payload)?> ReadFrameAsync(Socket socket, List<byte> received, byte[] buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            var sequence = new ReadOnlySequence<byte>(received.ToArray());
            if (FrameReader.TryReadFrame(ref sequence, WireLimits.Default, out Frame frame))
            {
                var result = (frame.Type, frame.Payload.ToArray());
                received.RemoveRange(0, received.Count - (int)sequence.Length);
                return result;
            }

            int n = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return null;
            }

            received.AddRange(buffer.AsSpan(0, n).ToArray());
        }
    }
}
