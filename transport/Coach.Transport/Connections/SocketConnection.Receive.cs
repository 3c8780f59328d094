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
                int received = await _socket.ReceiveAsync(memory, SocketFlags.None, _aborted.Token).ConfigureAwait(false);
                if (received == 0)
                {
                    break; // the peer closed its side
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
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        catch (SocketException e) when (IsConnectionReset(e))
        {
        }
        catch (Exception e)
        {
            error = e;
        }
        finally
        {
            await writer.CompleteAsync(error).ConfigureAwait(false);
        }
    }

    private static bool IsConnectionReset(SocketException e) => e.SocketErrorCode is
        SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown
        or SocketError.OperationAborted or SocketError.Interrupted or SocketError.NotConnected;
}
