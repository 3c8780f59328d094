using Coach.Transport.Protocol;

namespace Coach.Transport.Edge;

internal sealed partial class EdgeCloudLink
{
    /// <summary>Smallest arrival spread taken as a bandwidth sample: shorter ones are one socket read, not a rate.</summary>
    private const long MinimumSampleMicros = 200;

    private void OnResult(int epoch, in ResultMessage result)
    {
        long now = MonotonicClock.NowMicros;
        long index = (long)result.RequestId - 1;
        if ((ulong)index >= (ulong)_ledger.Capacity)
        {
            return; // not a request of this run
        }

        int frame = (int)index;
        if (!_ledger.WasSentOn(frame, epoch))
        {
            _ledger.CountStale(); // from a connection this frame no longer waits on
            return;
        }

        if (_ledger.IsFinished(frame))
        {
            _ledger.CountLateOrDuplicate(frame);
            return;
        }

        ref FrameRecord record = ref _ledger[frame];
        record.CloudComputeMicros = result.CloudComputeMicros;
        record.CloudQueueMicros = result.QueueMicros;
        record.CloudBatchSize = result.BatchSize;
        long spread = result.LastByteMicros - result.FirstByteMicros;
        record.ArrivalSpreadMicros = (int)Math.Clamp(spread, 0, int.MaxValue);
        if (!CompleteSent(frame, FrameDecision.Cloud, result.Label, now))
        {
            _ledger.CountLateOrDuplicate(frame);
            return;
        }

        Interlocked.Increment(ref _requestsAnswered);
        _feedback.CloudLabel(frame, result.Label);
        _feedback.CloudQueue(result.QueueMicros / 1e6);
        if (spread >= MinimumSampleMicros)
        {
            _feedback.Transfer(record.WireBytes, spread / 1e6);
        }
    }

    private void OnError(int epoch, ErrorMessage error)
    {
        long index = (long)error.RequestId - 1;
        if (error.RequestId == 0 && error.Reason == ReasonCode.ShuttingDown)
        {
            BeginHandover(epoch, error.Message);
            return;
        }

        if (error.RequestId == 0 || (ulong)index >= (ulong)_ledger.Capacity)
        {
            _options.Log($"edge: the cloud reports {error.Reason}: {error.Message}");
            return;
        }

        int frame = (int)index;
        if (error.Reason == ReasonCode.DuplicateRequestId || !_ledger.WasSentOn(frame, epoch))
        {
            return; // the original request is still answered once
        }

        _options.Log($"edge: frame {frame} failed at the cloud: {error.Reason}: {error.Message}");
        if (_fallback is not null && !_ledger.IsFinished(frame))
        {
            // The cloud could not answer it: the full model on the edge does.
            AnswerLocally(frame);
            return;
        }

        if (!CompleteSent(frame, FrameDecision.Failed, -1, MonotonicClock.NowMicros))
        {
            _ledger.CountLateOrDuplicate(frame);
        }
    }

    private void OnClosed(int epoch, Exception? error)
    {
        if (_ledger.AllAnswered)
        {
            return;
        }

        LinkDown(epoch, error is null ? "the cloud closed the connection" : $"the connection failed: {error.Message}");
    }

    /// <summary>Feeds one connection's answers to the link, tagged with that connection's epoch.</summary>
    private sealed class ConnectionSink(EdgeCloudLink link, int epoch) : IEdgeResultSink
    {
        public void OnResult(in ResultMessage result, ReadOnlySpan<float> logits) => link.OnResult(epoch, result);

        public void OnError(ErrorMessage error) => link.OnError(epoch, error);

        public void OnClosed(Exception? error) => link.OnClosed(epoch, error);
    }
}
