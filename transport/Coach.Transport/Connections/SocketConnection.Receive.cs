using System.IO.Pipelines;
using System.Net.Sockets;

namespace Coach.Transport.Connections;

public sealed partial class SocketConnection
{
    private async Task ReceiveLoopAsync()
    {
        PipeWriter writer = _input.Writer;
        Exception? error = null;
        try
        {
            while (!_aborted.IsCancellationRequested)
            {
                Memory<byte> memory = writer.GetMemory(_options.MinimumSegmentSize);
                int received = await ReceiveAsync(memory).ConfigureAwait(false);
                if (received == 0)
                {
                    break; // the peer closed its side (over TLS: close_notify or the TCP FIN)
                }

                writer.Advance(received);
                Interlocked.Add(ref _bytesReceived, received);
                FlushResult flush = await writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (IsOrdinaryEnd(e))
        {
        }
        catch (Exception e)
        {
            error = e; // e.g. a TLS alert (the cloud refusing this edge's certificate) reaches the reader
        }
        finally
        {
            await writer.CompleteAsync(error).ConfigureAwait(false);
        }
    }

    /// <summary>The next bytes from the peer: the TLS stream's plaintext, or the socket's bytes on a plain connection.</summary>
    private ValueTask<int> ReceiveAsync(Memory<byte> memory) => _tlsStream is { } tls
        ? tls.ReadAsync(memory, _aborted.Token)
        : _socket.ReceiveAsync(memory, SocketFlags.None, _aborted.Token);

    /// <summary>How a connection ends without it being anyone's error: cancelled, disposed, reset by the peer (over
    /// TLS the stream wraps the socket's error), or any I/O failure after this side aborted.</summary>
    private bool IsOrdinaryEnd(Exception e) => e switch
    {
        OperationCanceledException or ObjectDisposedException => true,
        SocketException socketError => IsConnectionReset(socketError),
        IOException { InnerException: SocketException socketError } when IsConnectionReset(socketError) => true,
        IOException => _aborted.IsCancellationRequested,
        _ => false,
    };

    private static bool IsConnectionReset(SocketException e) => e.SocketErrorCode is
        SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown
        or SocketError.OperationAborted or SocketError.Interrupted or SocketError.NotConnected;
}
