using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;

namespace Coach.Transport.Connections;

/// <summary>
/// A duplex TCP connection exposed as two pipes: <see cref="Input"/> (what the peer sent) and
/// <see cref="Output"/> (what to send). A receive loop moves socket bytes into the input pipe and a
/// send loop drains the output pipe into the socket, through the optional <see cref="LinkShaper"/>.
/// With TLS (<see cref="AuthenticateAsServerAsync"/> / <see cref="AuthenticateAsClientAsync"/> before
/// <see cref="Start"/>) the loops move the plaintext of an <see cref="System.Net.Security.SslStream"/> over the socket instead.
/// </summary>
public sealed partial class SocketConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly ConnectionOptions _options;
    private readonly CancellationTokenSource _aborted = new();
    private Task _receiveLoop = Task.CompletedTask;
    private Task _sendLoop = Task.CompletedTask;
    private long _bytesReceived;
    private long _bytesSent;
    private int _started;

    /// <summary>Wraps an accepted or connected socket; call <see cref="Start"/> to run the loops.</summary>
    public SocketConnection(Socket socket, ConnectionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(socket);
        _socket = socket;
        _options = options ?? new ConnectionOptions();
        _socket.NoDelay = true;
        _input = new Pipe(_options.CreateInputPipeOptions());
        _output = new Pipe(_options.CreateOutputPipeOptions());
        RemoteEndPoint = socket.RemoteEndPoint;
        Shaper = _options.Shaper;
    }

    /// <summary>Bytes the peer sent, as they arrive.</summary>
    public PipeReader Input => _input.Reader;

    /// <summary>Bytes to send; flush to hand them to the send loop.</summary>
    public PipeWriter Output => _output.Writer;

    public EndPoint? RemoteEndPoint { get; }

    /// <summary>Token bucket the send loop passes every chunk through; may be replaced or re-rated live.</summary>
    public LinkShaper? Shaper { get; set; }

    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    public long BytesSent => Interlocked.Read(ref _bytesSent);

    /// <summary>Completes when both loops have ended.</summary>
    public Task Completion => Task.WhenAll(_receiveLoop, _sendLoop);

    /// <summary>Connects to <paramref name="endpoint"/> and starts the loops.</summary>
    public static async Task<SocketConnection> ConnectAsync(EndPoint endpoint, ConnectionOptions? options = null, CancellationToken cancellationToken = default)
    {
        Socket socket = CreateSocketFor(endpoint);
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var connection = new SocketConnection(socket, options);
        connection.Start();
        return connection;
    }

    /// <summary>
    /// A socket that can reach <paramref name="endpoint"/>: a host name (<see cref="DnsEndPoint"/>
    /// without a family) gets a dual-mode socket, which connects to whichever address the name resolves to.
    /// </summary>
    private static Socket CreateSocketFor(EndPoint endpoint) => endpoint.AddressFamily == AddressFamily.Unspecified
        ? new Socket(SocketType.Stream, ProtocolType.Tcp)
        : new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);

    /// <summary>Starts the receive and send loops (once).</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            return;
        }

        _receiveLoop = Task.Run(ReceiveLoopAsync);
        _sendLoop = Task.Run(SendLoopAsync);
    }

    /// <summary>
    /// Closes the connection now: stops both loops and the socket. Pending reads of <see cref="Input"/>
    /// complete; what was not sent is dropped.
    /// </summary>
    public void Abort()
    {
        if (_aborted.IsCancellationRequested)
        {
            return;
        }

        try
        {
            _aborted.Cancel();
        }
        catch (ObjectDisposedException)
        {
            return;
        }

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        _socket.Dispose();
        _input.Writer.CancelPendingFlush();
        _output.Reader.CancelPendingRead();
    }

    /// <summary>
    /// Graceful close: completes the output (what was written is still sent), waits for the send loop
    /// up to <paramref name="timeout"/>, then aborts.
    /// </summary>
    public async Task CloseAsync(TimeSpan timeout)
    {
        try
        {
            await _output.Writer.CompleteAsync().ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
        }

        try
        {
            await _sendLoop.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }

        Abort();
    }

    public async ValueTask DisposeAsync()
    {
        Abort();
        try
        {
            await Completion.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Loop faults were already delivered to the pipes' readers.
        }

        if (_tlsStream is not null)
        {
            await _tlsStream.DisposeAsync().ConfigureAwait(false);
        }

        _aborted.Dispose();
    }
}
