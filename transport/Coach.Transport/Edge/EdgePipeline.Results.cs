using Coach.Transport.Protocol;

namespace Coach.Transport.Edge;

public sealed partial class EdgePipeline
{
    /// <summary>Smallest arrival spread taken as a bandwidth sample: shorter ones are one socket read, not a rate.</summary>
    private const long MinimumSampleMicros = 200;

    void IEdgeResultSink.OnResult(in ResultMessage result, ReadOnlySpan<float> logits)
    {
        long now = MonotonicClock.NowMicros;
        long index = (long)result.RequestId - 1;
        if ((ulong)index >= (ulong)_records.Length)
        {
            return; // not a request of this run
        }

        ref FrameRecord record = ref _records[index];
        if (Volatile.Read(ref _finished[index]) != 0)
        {
            Interlocked.Increment(ref _duplicates);
            record.Duplicates++;
            return;
        }

        record.CloudComputeMicros = result.CloudComputeMicros;
        record.CloudQueueMicros = result.QueueMicros;
        record.CloudBatchSize = result.BatchSize;
        long spread = result.LastByteMicros - result.FirstByteMicros;
        record.ArrivalSpreadMicros = (int)Math.Clamp(spread, 0, int.MaxValue);
        Interlocked.Increment(ref _requestsAnswered);
        _inFlight.Release();
        _feedback.Enqueue(new Feedback(FeedbackKind.CloudLabel, (int)index, result.Label, 0, 0));
        if (spread >= MinimumSampleMicros)
        {
            _feedback.Enqueue(new Feedback(FeedbackKind.Transfer, (int)index, 0, record.WireBytes, spread / 1e6));
        }

        if (!Complete(ref record, FrameDecision.Cloud, result.Label, now))
        {
            Interlocked.Increment(ref _duplicates);
        }
    }

    void IEdgeResultSink.OnError(ErrorMessage error)
    {
        long index = (long)error.RequestId - 1;
        if (error.RequestId == 0 || (ulong)index >= (ulong)_records.Length)
        {
            _options.Log($"edge: the cloud reports {error.Reason}: {error.Message}");
            return;
        }

        ref FrameRecord record = ref _records[index];
        _options.Log($"edge: frame {index} failed at the cloud: {error.Reason}: {error.Message}");
        if (Complete(ref record, FrameDecision.Failed, -1, MonotonicClock.NowMicros))
        {
            _inFlight.Release();
        }
        else
        {
            Interlocked.Increment(ref _duplicates);
        }
    }

    void IEdgeResultSink.OnClosed(Exception? error)
    {
        if (Volatile.Read(ref _completed) >= _records.Length)
        {
            return;
        }

        ConnectionLost(error is null ? "the cloud closed the connection" : $"the connection failed: {error.Message}");
    }

    private void ConnectionLost(string reason)
    {
        if (_connectionLost)
        {
            return;
        }

        _connectionError = reason;
        _connectionLost = true;
        _options.Log($"edge: {reason}; frames still waiting for an answer end as failed");

        // Requests already sent will not be answered on this connection: each ends with an explicit failure.
        for (int i = 0; i < _records.Length; i++)
        {
            ref FrameRecord record = ref _records[i];
            if (record.WireBytes > 0 && Complete(ref record, FrameDecision.Failed, -1, MonotonicClock.NowMicros))
            {
                _inFlight.Release();
            }
        }
    }
}
