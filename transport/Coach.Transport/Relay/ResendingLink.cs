using System.Buffers;
using System.Net;
using Coach.Transport.Connections;
using Coach.Transport.Edge;
using Coach.Transport.Protocol;
using Coach.Transport.Security;

namespace Coach.Transport.Relay;

/// <summary>Receives the answers a <see cref="ResendingLink"/> takes from its next hop: each request's once.</summary>
public interface IHopAnswerSink
{
    /// <summary>The request's Result; <paramref name="logits"/> is valid only during the call.</summary>
    void OnAnswer(in ResultMessage result, ReadOnlySpan<float> logits);

    /// <summary>The next hop answered the request with an Error.</summary>
    void OnFailed(ErrorMessage error);
}

/// <summary>
/// One hop of a pipeline (docs/edgepipe.md §7): a connection to the next device that keeps every Request frame it sent
/// until that request is answered. When the connection is lost (the next device restarted, the link broke) it connects
/// again with capped backoff and sends every unanswered frame once more on the new connection; an answer for a request
/// already answered (its first copy's, late) is dropped. So each request is answered to the caller exactly once, and a
/// restarting relay or cloud loses no frame. The next hop authenticates every connection as coach-cloud does (the
/// pre-shared key's challenge–response, docs/protocol.md §4.7).
/// </summary>
public sealed class ResendingLink : IAsyncDisposable
{
    private readonly EndPoint _next;
    private readonly HelloMessage _hello;
    private readonly PreSharedKey? _key;
    private readonly IHopAnswerSink _sink;
    private readonly Action<string> _log;
    private readonly SortedDictionary<ulong, byte[]> _pending = [];
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _window;
    private readonly SemaphoreSlim _writing = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly LinkShaper? _shaper;
    private EdgeClient? _client;
    private int _epoch;
    private bool _connecting;
    private Task _reconnect = Task.CompletedTask;
    private long _resent;
    private long _late;
    private long _connections;

    /// <param name="next">The next device's address.</param>
    /// <param name="hello">The Hello for it (the plan id of its hop).</param>
    /// <param name="key">Pre-shared key the next device checks; null when it runs without authentication.</param>
    /// <param name="window">Most requests unanswered at once (kept within the next hop's in-flight limit).</param>
    /// <param name="shaper">Paces the frames to a link rate (a bench's emulated link); null = as fast as the socket takes them.</param>
    public ResendingLink(EndPoint next, HelloMessage hello, PreSharedKey? key, IHopAnswerSink sink, Action<string>? log = null, int window = 32, LinkShaper? shaper = null)
    {
        _shaper = shaper;
        ArgumentNullException.ThrowIfNull(next);
        ArgumentNullException.ThrowIfNull(hello);
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        _next = next;
        _hello = hello;
        _key = key;
        _sink = sink;
        _log = log ?? (_ => { });
        _window = new SemaphoreSlim(window, window);
    }

    /// <summary>Frames sent again on a new connection.</summary>
    public long Resent => Interlocked.Read(ref _resent);

    /// <summary>Answers dropped because the request was answered already.</summary>
    public long LateAnswers => Interlocked.Read(ref _late);

    /// <summary>Connections made (the first included).</summary>
    public long Connections => Interlocked.Read(ref _connections);

    /// <summary>Requests sent and not answered yet.</summary>
    public int Unanswered
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>Connects to the next hop (retrying until <paramref name="timeout"/>); a refusal for good (a wrong key, an unknown plan) throws at once.</summary>
    public async Task ConnectAsync(TimeSpan timeout)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        deadline.CancelAfter(timeout);
        lock (_gate)
        {
            _connecting = true;
        }
        await ConnectLoopAsync(deadline.Token).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends one Request frame (header included; its request id is <paramref name="requestId"/>, unique on this link) and
    /// keeps it until answered. Waits while the window is full.
    /// </summary>
    public async ValueTask SendAsync(ulong requestId, byte[] frame, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(frame);
        await _window.WaitAsync(cancellationToken).ConfigureAwait(false);
        EdgeClient? client;
        int epoch;
        lock (_gate)
        {
            if (!_pending.TryAdd(requestId, frame))
            {
                _window.Release();
                throw new ArgumentException($"request {requestId} is already waiting for its answer on this link", nameof(requestId));
            }
            client = _connecting ? null : _client;
            epoch = _epoch;
        }
        // Without a connection the frame waits in _pending: the next connection sends it.
        if (client is not null)
        {
            await WriteAsync(client, epoch, frame).ConfigureAwait(false);
        }
    }

    private async Task WriteAsync(EdgeClient client, int epoch, byte[] frame)
    {
        await _writing.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_shaper is not null)
            {
                await _shaper.AcquireAsync(frame.Length).ConfigureAwait(false);
            }
            client.Output.Write(frame);
            var flushed = await client.Output.FlushAsync().ConfigureAwait(false);
            if (flushed.IsCompleted)
            {
                LinkDown(epoch, "the next hop stopped reading");
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException or OperationCanceledException or System.Net.Sockets.SocketException)
        {
            LinkDown(epoch, $"sending failed: {e.Message}");
        }
        finally
        {
            _writing.Release();
        }
    }

    private void Answered(ulong requestId, Action deliver)
    {
        bool first;
        lock (_gate)
        {
            first = _pending.Remove(requestId);
        }
        if (!first)
        {
            Interlocked.Increment(ref _late);
            return;
        }
        _window.Release();
        deliver();
    }

    private void LinkDown(int epoch, string reason)
    {
        lock (_gate)
        {
            if (epoch != _epoch || _connecting || _stop.IsCancellationRequested)
            {
                return;
            }
            _connecting = true;
            _client = null;
        }
        _log($"relay link to {_next}: {reason}; reconnecting, {Unanswered} frame(s) will be sent again");
        _reconnect = Task.Run(() => ConnectLoopAsync(_stop.Token));
    }

    private async Task ConnectLoopAsync(CancellationToken cancellationToken)
    {
        var backoff = TimeSpan.FromMilliseconds(20);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            EdgeClient client;
            try
            {
                client = await EdgeClient.ConnectAsync(_next, _hello, key: _key, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException && !HandshakeRejectedException.IsRefusedForGood(e))
            {
                await Task.Delay(backoff, cancellationToken).ConfigureAwait(false);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
                continue;
            }

            KeyValuePair<ulong, byte[]>[] unanswered;
            int epoch;
            lock (_gate)
            {
                epoch = ++_epoch;
                _client = client;
                _connecting = false;
                unanswered = [.. _pending];
            }
            long made = Interlocked.Increment(ref _connections);
            client.StartReceiving(new EpochSink(this, epoch));
            if (made > 1 && unanswered.Length > 0)
            {
                Interlocked.Add(ref _resent, unanswered.Length);
                _log($"relay link to {_next}: connected again, sending {unanswered.Length} unanswered frame(s) once more");
            }
            foreach (var (_, frame) in unanswered)
            {
                await WriteAsync(client, epoch, frame).ConfigureAwait(false);
            }
            return;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _reconnect.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        EdgeClient? client;
        lock (_gate)
        {
            client = _client;
            _client = null;
        }
        if (client is not null)
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }
        _stop.Dispose();
    }

    /// <summary>The answers of one connection; its close starts the reconnection.</summary>
    private sealed class EpochSink(ResendingLink link, int epoch) : IEdgeResultSink
    {
        public void OnResult(in ResultMessage result, ReadOnlySpan<float> logits)
        {
            // The logits are valid only during this call: deliver synchronously.
            var copy = logits.ToArray();
            var r = result;
            link.Answered(result.RequestId, () => link._sink.OnAnswer(r, copy));
        }

        public void OnError(ErrorMessage error)
        {
            if (error.RequestId == 0)
            {
                link._log($"relay link to {link._next}: the next hop reports {error.Reason}: {error.Message}");
                return;
            }
            if (error.Reason == ReasonCode.DuplicateRequestId)
            {
                // A copy sent twice on one connection: the first copy is answered.
                return;
            }
            link.Answered(error.RequestId, () => link._sink.OnFailed(error));
        }

        public void OnClosed(Exception? error) => link.LinkDown(epoch, error is null ? "the next hop closed the connection" : $"the connection failed: {error.Message}");
    }
}
