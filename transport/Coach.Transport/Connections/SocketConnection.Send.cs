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
                if (_tlsStream is { } tls)
                {
                    await tls.ShutdownAsync().ConfigureAwait(false); // close_notify before the TCP FIN
                }

                _socket.Shutdown(SocketShutdown.Send);
            }
        }
        catch (Exception e) when (IsOrdinaryEnd(e))
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
                // Paced chunk by chunk so the receiver sees the shaped rate within a frame too. Over TLS the
                // plaintext is shaped: TLS adds ~30 bytes per ≤ 16 KiB record, under 0.2 %.
                if (chunk.Length > shaper.ChunkBytes)
                {
                    chunk = chunk[..shaper.ChunkBytes];
                }

                await shaper.AcquireAsync(chunk.Length, _aborted.Token).ConfigureAwait(false);
            }

            int sent;
            if (_tlsStream is { } tls)
            {
                await tls.WriteAsync(chunk, _aborted.Token).ConfigureAwait(false);
                sent = chunk.Length;
            }
            else
            {
                sent = await _socket.SendAsync(chunk, SocketFlags.None, _aborted.Token).ConfigureAwait(false);
            }

            Interlocked.Add(ref _bytesSent, sent);
            segment = segment[sent..];
        }
    }
}
