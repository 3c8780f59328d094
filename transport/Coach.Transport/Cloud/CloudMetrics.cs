using System.Diagnostics.Metrics;

namespace Coach.Transport.Cloud;

/// <summary>
/// Metrics of the cloud process on the "Coach.Cloud" <see cref="Meter"/> (for dotnet-counters or an
/// OpenTelemetry exporter), plus running totals for the periodic log line.
/// </summary>
public sealed class CloudMetrics : IDisposable
{
    public const string MeterName = "Coach.Cloud";

    private readonly Meter _meter;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _errors;
    private readonly Counter<long> _bytesReceived;
    private readonly UpDownCounter<int> _connections;
    private readonly Histogram<int> _batchSize;
    private readonly Histogram<double> _tailComputeMs;
    private readonly Histogram<double> _queueWaitMs;
    private long _requestsTotal;
    private long _errorsTotal;
    private long _batchesTotal;
    private long _batchedRequestsTotal;
    private long _tailComputeMicrosTotal;
    private long _queueWaitMicrosTotal;
    private long _connectionsOpen;
    private long _connectionsTotal;
    private long _connectionsDropped;
    private long _queueDepth;
    private long _peakQueueDepth;

    public CloudMetrics()
    {
        _meter = new Meter(MeterName, "1.0");
        _requests = _meter.CreateCounter<long>("coach.cloud.requests", "{request}", "requests answered with a Result");
        _errors = _meter.CreateCounter<long>("coach.cloud.errors", "{request}", "requests answered with an Error");
        _bytesReceived = _meter.CreateCounter<long>("coach.cloud.request_bytes", "By", "bytes of Request frames received");
        _connections = _meter.CreateUpDownCounter<int>("coach.cloud.connections", "{connection}", "open edge connections");
        _batchSize = _meter.CreateHistogram<int>("coach.cloud.batch_size", "{request}", "requests per tail run");
        _tailComputeMs = _meter.CreateHistogram<double>("coach.cloud.tail_compute", "ms", "time of one batched tail run");
        _queueWaitMs = _meter.CreateHistogram<double>("coach.cloud.queue_wait", "ms", "time a request waited for its batch");
        _meter.CreateObservableGauge("coach.cloud.queue_depth", () => Interlocked.Read(ref _queueDepth), "{request}", "requests waiting for a tail");
    }

    public long RequestsTotal => Interlocked.Read(ref _requestsTotal);

    public long ErrorsTotal => Interlocked.Read(ref _errorsTotal);

    public long BatchesTotal => Interlocked.Read(ref _batchesTotal);

    public long ConnectionsOpen => Interlocked.Read(ref _connectionsOpen);

    public long ConnectionsTotal => Interlocked.Read(ref _connectionsTotal);

    /// <summary>Connections closed because of a protocol violation.</summary>
    public long ConnectionsDropped => Interlocked.Read(ref _connectionsDropped);

    public long QueueDepth => Interlocked.Read(ref _queueDepth);

    internal void ConnectionOpened()
    {
        Interlocked.Increment(ref _connectionsOpen);
        Interlocked.Increment(ref _connectionsTotal);
        _connections.Add(1);
    }

    internal void ConnectionClosed(bool violation)
    {
        Interlocked.Decrement(ref _connectionsOpen);
        if (violation)
        {
            Interlocked.Increment(ref _connectionsDropped);
        }

        _connections.Add(-1);
    }

    internal void RequestQueued(int bytes)
    {
        long depth = Interlocked.Increment(ref _queueDepth);
        long peak;
        while (depth > (peak = Interlocked.Read(ref _peakQueueDepth)) && Interlocked.CompareExchange(ref _peakQueueDepth, depth, peak) != peak)
        {
        }

        _bytesReceived.Add(bytes);
    }

    internal void RequestDequeued(long queueWaitMicros)
    {
        Interlocked.Decrement(ref _queueDepth);
        Interlocked.Add(ref _queueWaitMicrosTotal, queueWaitMicros);
        _queueWaitMs.Record(queueWaitMicros / 1000.0);
    }

    internal void BatchRun(int size, long computeMicros)
    {
        Interlocked.Increment(ref _batchesTotal);
        Interlocked.Add(ref _batchedRequestsTotal, size);
        Interlocked.Add(ref _tailComputeMicrosTotal, computeMicros);
        _batchSize.Record(size);
        _tailComputeMs.Record(computeMicros / 1000.0);
    }

    internal void Answered()
    {
        Interlocked.Increment(ref _requestsTotal);
        _requests.Add(1);
    }

    internal void Failed()
    {
        Interlocked.Increment(ref _errorsTotal);
        _errors.Add(1);
    }

    /// <summary>Totals now, for a log line; the peak queue depth restarts.</summary>
    public CloudMetricsSnapshot Snapshot() => new(
        RequestsTotal,
        ErrorsTotal,
        BatchesTotal,
        Interlocked.Read(ref _batchedRequestsTotal),
        Interlocked.Read(ref _tailComputeMicrosTotal),
        Interlocked.Read(ref _queueWaitMicrosTotal),
        ConnectionsOpen,
        ConnectionsTotal,
        ConnectionsDropped,
        QueueDepth,
        Interlocked.Exchange(ref _peakQueueDepth, QueueDepth));

    public void Dispose() => _meter.Dispose();
}

/// <summary>Running totals of <see cref="CloudMetrics"/> at one instant.</summary>
public readonly record struct CloudMetricsSnapshot(
    long Requests,
    long Errors,
    long Batches,
    long BatchedRequests,
    long TailComputeMicros,
    long QueueWaitMicros,
    long ConnectionsOpen,
    long ConnectionsTotal,
    long ConnectionsDropped,
    long QueueDepth,
    long PeakQueueDepth)
{
    /// <summary>One log line of what happened between <paramref name="previous"/> and this snapshot.</summary>
    public string Describe(in CloudMetricsSnapshot previous, TimeSpan interval)
    {
        long requests = Requests - previous.Requests;
        long batches = Batches - previous.Batches;
        long batched = BatchedRequests - previous.BatchedRequests;
        double seconds = Math.Max(1e-9, interval.TotalSeconds);
        double meanBatch = batches == 0 ? 0 : batched / (double)batches;
        double computeMs = batches == 0 ? 0 : (TailComputeMicros - previous.TailComputeMicros) / 1000.0 / batches;
        double waitMs = batched == 0 ? 0 : (QueueWaitMicros - previous.QueueWaitMicros) / 1000.0 / batched;
        return FormattableString.Invariant(
            $"cloud: {requests / seconds:0.0} req/s, batch {meanBatch:0.00} avg, tail {computeMs:0.00} ms/batch, queue wait {waitMs:0.00} ms, queue depth {QueueDepth} (peak {PeakQueueDepth}), connections {ConnectionsOpen} open / {ConnectionsTotal} total / {ConnectionsDropped} dropped, answered {Requests}, errors {Errors}");
    }
}
