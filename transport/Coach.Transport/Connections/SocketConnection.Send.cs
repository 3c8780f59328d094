using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;

namespace Coach.Transport.Connections;

public sealed partial class SocketConnection
{
    private async Task SendLoopAsync()
    {
        PipeReader reader = _output.Reader;
        Exception? error = null;
        try
        {
            while (true)
            {
                ReadResult result = await reader.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    break; // aborted
                }

                ReadOnlySequence<byte> buffer = result.Buffer;
                foreach (ReadOnlyMemory<byte> segment in buffer)
                {
                    await SendSegmentAsync(segment).ConfigureAwait(false);
                }

                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }

            if (!_aborted.IsCancellationRequested)
            {
                _socket.Shutdown(SocketShutdown.Send);
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
            await reader.CompleteAsync(error).ConfigureAwait(false);
        }
    }

    private async ValueTask SendSegmentAsync(ReadOnlyMemory<byte> segment)
    {
        while (!segment.IsEmpty)
        {
            ReadOnlyMemory<byte> chunk = segment;
            LinkShaper? shaper = Shaper;
            if (shaper is not null)
            {
                // Paced chunk by chunk so the receiver sees the shaped rate within a frame too.
                if (chunk.Length > shaper.ChunkBytes)
                {
                    chunk = chunk[..shaper.ChunkBytes];
                }

                await shaper.AcquireAsync(chunk.Length, _aborted.Token).ConfigureAwait(false);
            }

            int sent = await _socket.SendAsync(chunk, SocketFlags.None, _aborted.Token).ConfigureAwait(false);
            Interlocked.Add(ref _bytesSent, sent);
            segment = segment[sent..];
        }
    }
}
