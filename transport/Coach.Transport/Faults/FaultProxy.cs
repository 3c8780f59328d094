using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Coach.Transport.Faults;

/// <summary>
/// A TCP relay between edges and a cloud for fault injection on machines without kernel shaping:
/// <see cref="Cut"/> black-holes every open connection (bytes are read and dropped, nothing is
/// closed — what a pulled cable looks like) and refuses new ones until <see cref="Restore"/>; the
/// upstream may be re-pointed (a restarted cloud on another port); <see cref="ResponseDelay"/> holds
/// every byte from the upstream that long before passing it on (a slow cloud seen from the edge,
/// for a cloud in another process whose own delay cannot be changed while it runs).
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<int, (Socket A, Socket B)> _pairs = new();
    private Task _acceptLoop = Task.CompletedTask;
    private volatile IPEndPoint _upstream;
    private int _cutGeneration;
    private volatile bool _cut;
    private int _nextPair;
    private long _responseDelayTicks;
    private long _bytesToClients;

    public FaultProxy(IPEndPoint upstream, IPEndPoint? listen = null)
    {
        _upstream = upstream ?? throw new ArgumentNullException(nameof(upstream));
        listen ??= new IPEndPoint(IPAddress.Loopback, 0);
        _listener = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(listen);
        _listener.Listen(256);
        LocalEndPoint = (IPEndPoint)_listener.LocalEndPoint!;
    }

    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Where accepted connections are relayed to.</summary>
    public IPEndPoint Upstream
    {
        get => _upstream;
        set => _upstream = value ?? throw new ArgumentNullException(nameof(value));
    }

    public bool IsCut => _cut;

    /// <summary>How long bytes from the upstream are held before they go on to the client (zero = passed at once).</summary>
    public TimeSpan ResponseDelay
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _responseDelayTicks));
        set => Interlocked.Exchange(ref _responseDelayTicks, Math.Max(0, value.Ticks));
    }

    /// <summary>Bytes relayed from the upstream to clients so far (answers that reached an edge).</summary>
    public long BytesToClients => Interlocked.Read(ref _bytesToClients);

    public void Start() => _acceptLoop = AcceptLoopAsync();

    /// <summary>The link goes dark: open connections stay open but carry nothing, ever again; new ones are refused.</summary>
    public void Cut()
    {
        Interlocked.Increment(ref _cutGeneration);
        _cut = true;
    }

    /// <summary>The link is back for new connections.</summary>
    public void Restore() => _cut = false;

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        foreach ((Socket a, Socket b) in _pairs.Values)
        {
            a.Dispose();
            b.Dispose();
        }

        try
        {
            await _acceptLoop.ConfigureAwait(false);
        }
        catch (Exception)
        {
        }

        _stopping.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stopping.IsCancellationRequested)
                {
                    return;
                }

                continue;
            }

            if (_cut)
            {
                client.Dispose();
                continue;
            }

            _ = Task.Run(() => RelayAsync(client));
        }
    }

    private async Task RelayAsync(Socket client)
    {
        var upstream = new Socket(_upstream.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.NoDelay = true;
        try
        {
            await upstream.ConnectAsync(_upstream, _stopping.Token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            client.Dispose();
            upstream.Dispose();
            return;
        }

        int id = Interlocked.Increment(ref _nextPair);
        _pairs[id] = (client, upstream);
        int generation = Volatile.Read(ref _cutGeneration);
        try
        {
            await Task.WhenAny(PumpAsync(client, upstream, generation), DelayedPumpAsync(upstream, client, generation)).ConfigureAwait(false);
        }
        finally
        {
            _pairs.TryRemove(id, out _);
            client.Dispose();
            upstream.Dispose();
        }
    }

    /// <summary>
    /// Upstream → client through a delay line: each chunk is stamped when it arrives and sent once
    /// <see cref="ResponseDelay"/> (read at arrival) has passed, in order, so latency grows but the
    /// rate does not fall. A bounded queue of chunks pushes back on the upstream instead of growing.
    /// </summary>
    private async Task DelayedPumpAsync(Socket from, Socket to, int generation)
    {
        var line = System.Threading.Channels.Channel.CreateBounded<(long Due, byte[] Chunk, int Length)>(
            new System.Threading.Channels.BoundedChannelOptions(64) { SingleReader = true, SingleWriter = true });
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        async Task SendAsync()
        {
            try
            {
                await foreach ((long due, byte[] chunk, int length) in line.Reader.ReadAllAsync(ended.Token).ConfigureAwait(false))
                {
                    try
                    {
                        long wait = due - System.Diagnostics.Stopwatch.GetTimestamp();
                        if (wait > 0)
                        {
                            await Task.Delay(TimeSpan.FromSeconds(wait / (double)System.Diagnostics.Stopwatch.Frequency), ended.Token).ConfigureAwait(false);
                        }

                        if (Volatile.Read(ref _cutGeneration) == generation)
                        {
                            await to.SendAsync(chunk.AsMemory(0, length), SocketFlags.None, ended.Token).ConfigureAwait(false);
                            Interlocked.Add(ref _bytesToClients, length);
                        }
                    }
                    finally
                    {
                        System.Buffers.ArrayPool<byte>.Shared.Return(chunk);
                    }
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
            {
            }
            finally
            {
                // The client is gone: the receiving side must not wait on a full line that nobody reads.
                await ended.CancelAsync().ConfigureAwait(false);
            }
        }

        Task sender = SendAsync();
        try
        {
            while (true)
            {
                byte[] chunk = System.Buffers.ArrayPool<byte>.Shared.Rent(64 << 10);
                int received;
                try
                {
                    received = await from.ReceiveAsync(chunk, SocketFlags.None, ended.Token).ConfigureAwait(false);
                    if (received > 0 && Volatile.Read(ref _cutGeneration) == generation)
                    {
                        long due = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(ResponseDelay.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
                        await line.Writer.WriteAsync((due, chunk, received), ended.Token).ConfigureAwait(false);
                        continue;
                    }
                }
                catch
                {
                    System.Buffers.ArrayPool<byte>.Shared.Return(chunk);
                    throw;
                }

                System.Buffers.ArrayPool<byte>.Shared.Return(chunk);
                if (received == 0)
                {
                    return;
                }

                // Otherwise a black hole: this connection lived through a cut.
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            // Orderly end of the upstream: what is on the line is still delivered (after its delay).
            line.Writer.TryComplete();
            await sender.ConfigureAwait(false);
        }
    }

    private async Task PumpAsync(Socket from, Socket to, int generation)
    {
        byte[] buffer = new byte[64 << 10];
        try
        {
            while (true)
            {
                int received = await from.ReceiveAsync(buffer, SocketFlags.None, _stopping.Token).ConfigureAwait(false);
                if (received == 0)
                {
                    return;
                }

                if (Volatile.Read(ref _cutGeneration) != generation)
                {
                    continue; // black hole: this connection lived through a cut
                }

                await to.SendAsync(buffer.AsMemory(0, received), SocketFlags.None, _stopping.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
    }
}
