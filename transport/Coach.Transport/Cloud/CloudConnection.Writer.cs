using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Channels;
using Coach.Transport.Protocol;

namespace Coach.Transport.Cloud;

internal sealed partial class CloudConnection
{
    private async Task WriterLoopAsync()
    {
        PipeWriter output = _transport.Output;
        ChannelReader<Outgoing> reader = _outgoing.Reader;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                TimeSpan delay = _server.ResponseDelay;
                if (delay > TimeSpan.Zero)
                {
                    await Task.Delay(delay).ConfigureAwait(false); // fault injection: a slow cloud
                }

                while (reader.TryRead(out Outgoing item))
                {
                    Write(output, item);
                }

                FlushResult flush = await output.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or OperationCanceledException)
        {
            // The transport closed under us; nothing more can be told to this edge.
        }
        finally
        {
            while (reader.TryRead(out Outgoing left))
            {
                Settle(left);
            }
        }
    }

    private void Write(PipeWriter output, in Outgoing item)
    {
        try
        {
            switch (item.Type)
            {
                case FrameType.Result:
                    ResultMessage.Write(output, item.Result, item.Logits is null ? [] : item.Logits.AsSpan(0, item.Result.LogitCount));
                    break;
                case FrameType.Error:
                    item.Error!.Write(output);
                    break;
                case FrameType.Reject or FrameType.Goodbye:
                    new RejectMessage(item.Error!.Reason, item.Error.Message).Write(output, item.Type);
                    break;
                case FrameType.HelloAck:
                    item.Ack!.Write(output);
                    break;
                case FrameType.Pong:
                    Interlocked.Decrement(ref _pendingPongs);
                    item.Ping.Write(output, FrameType.Pong);
                    break;
                case FrameType.Challenge:
                    HandshakeAuthentication.WriteChallenge(output, item.Nonce);
                    break;
            }
        }
        finally
        {
            Settle(item);
        }
    }

    private void Settle(in Outgoing item)
    {
        if (item.Logits is not null)
        {
            ArrayPool<float>.Shared.Return(item.Logits);
        }

        if (item.Type == FrameType.Result || (item.Type == FrameType.Error && item.Error!.RequestId != 0))
        {
            if (!item.DuplicateCopy)
            {
                lock (_requestsInFlight)
                {
                    _requestsInFlight.Remove(item.Type == FrameType.Result ? item.Result.RequestId : item.Error!.RequestId);
                }
            }

            Interlocked.Decrement(ref _inFlight);
        }
    }

    private readonly record struct Outgoing(FrameType Type, ResultMessage Result, float[]? Logits, ErrorMessage? Error, HelloAckMessage? Ack = null, PingMessage Ping = default, byte[]? Nonce = null, bool DuplicateCopy = false);
}
