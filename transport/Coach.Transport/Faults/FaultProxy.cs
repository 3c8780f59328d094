using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Coach.Transport.Faults;

/// <summary>
/// A TCP relay between edges and a cloud for fault injection on machines without kernel shaping:
/// <see cref="Cut"/> black-holes every open connection (bytes are read and dropped, nothing is
/// closed — what a pulled cable looks like) and refuses new ones until <see cref="Restore"/>; the
/// upstream may be re-pointed (a restarted cloud on another port).
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
            await Task.WhenAny(PumpAsync(client, upstream, generation), PumpAsync(upstream, client, generation)).ConfigureAwait(false);
        }
        finally
        {
            _pairs.TryRemove(id, out _);
            client.Dispose();
            upstream.Dispose();
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
