using System.Diagnostics.Metrics;
using Coach.Transport.Protocol;

namespace Coach.Transport.Cloud;

/// <summary>
/// Metrics of the cloud process on the "Coach.Cloud" <see cref="Meter"/> (for dotnet-counters, or
/// Prometheus through <see cref="CloudMonitoringEndpoint"/>; docs/fleet.md lists them), plus running
/// totals for the periodic log line. The server holds one instance; each tail records through
/// <see cref="ForPlan"/>, a view on the same instruments and totals that tags what it records with the
/// plan id, so an operator sees batch size, queueing delay and compute time per plan.
/// </summary>
public sealed class CloudMetrics : IDisposable
{
    public const string MeterName = "Coach.Cloud";

    /// <summary>The tag that names a plan (plan.json's id) on the per-plan series.</summary>
    public const string PlanTag = "plan";

    /// <summary>The tag that names a reason code (docs/protocol.md §6) on the error series.</summary>
    public const string ReasonTag = "reason";

    private readonly Instruments _instruments;
    private readonly Totals _totals;
    private readonly KeyValuePair<string, object?> _plan;
    private readonly bool _ownsMeter;

    public CloudMetrics()
    {
        _totals = new Totals();
        _instruments = new Instruments(new Meter(MeterName, "1.0"), _totals);
        _plan = new KeyValuePair<string, object?>(PlanTag, string.Empty);
        _ownsMeter = true;
    }

    private CloudMetrics(CloudMetrics server, string planId)
    {
        _instruments = server._instruments;
        _totals = server._totals;
        _plan = new KeyValuePair<string, object?>(PlanTag, planId);
    }

    public long RequestsTotal => Interlocked.Read(ref _totals.Answered);

    public long ErrorsTotal => Interlocked.Read(ref _totals.Errors);

    public long BatchesTotal => Interlocked.Read(ref _totals.Batches);

    public long ConnectionsOpen => Interlocked.Read(ref _totals.ConnectionsOpen);

    public long ConnectionsTotal => Interlocked.Read(ref _totals.ConnectionsTotal);

    /// <summary>Connections closed because of a protocol violation.</summary>
    public long ConnectionsDropped => Interlocked.Read(ref _totals.ConnectionsDropped);

    /// <summary>Handshakes refused for missing or wrong authentication (a pre-shared key or a client certificate).</summary>
    public long AuthenticationFailures => Interlocked.Read(ref _totals.AuthenticationFailures);

    public long QueueDepth => Interlocked.Read(ref _totals.QueueDepth);

    /// <summary>The same instruments and totals, with every per-plan series tagged with <paramref name="planId"/>.</summary>
    public CloudMetrics ForPlan(string planId) => new(this, planId);

    internal void ConnectionOpened()
    {
        Interlocked.Increment(ref _totals.ConnectionsOpen);
        Interlocked.Increment(ref _totals.ConnectionsTotal);
        _instruments.Connections.Add(1);
    }

    internal void ConnectionClosed(bool violation)
    {
        Interlocked.Decrement(ref _totals.ConnectionsOpen);
        if (violation)
        {
            Interlocked.Increment(ref _totals.ConnectionsDropped);
            _instruments.ConnectionsDropped.Add(1);
        }

        _instruments.Connections.Add(-1);
    }

    internal void AuthenticationFailed()
    {
        Interlocked.Increment(ref _totals.AuthenticationFailures);
        _instruments.AuthenticationFailures.Add(1);
    }

    /// <summary>A Request frame arrived for the tail of <paramref name="planId"/> (answered or not).</summary>
    internal void RequestReceived(string planId) => _instruments.Requests.Add(1, new KeyValuePair<string, object?>(PlanTag, planId));

    /// <summary>An Error or Reject frame is on its way to an edge: the error series counts it under its reason code.</summary>
    internal void ErrorSent(ReasonCode reason) => _instruments.ErrorFrames.Add(1, new KeyValuePair<string, object?>(ReasonTag, reason.ToString()));

    internal void RequestQueued(int bytes)
    {
        long depth = Interlocked.Increment(ref _totals.QueueDepth);
        long peak;
        while (depth > (peak = Interlocked.Read(ref _totals.PeakQueueDepth)) && Interlocked.CompareExchange(ref _totals.PeakQueueDepth, depth, peak) != peak)
        {
        }

        _instruments.BytesReceived.Add(bytes, _plan);
    }

    internal void RequestDequeued(long queueWaitMicros)
    {
        Interlocked.Decrement(ref _totals.QueueDepth);
        Interlocked.Add(ref _totals.QueueWaitMicros, queueWaitMicros);
        _instruments.QueueWaitMs.Record(queueWaitMicros / 1000.0, _plan);
    }

    internal void BatchRun(int size, long computeMicros)
    {
        Interlocked.Increment(ref _totals.Batches);
        Interlocked.Add(ref _totals.BatchedRequests, size);
        Interlocked.Add(ref _totals.TailComputeMicros, computeMicros);
        _instruments.BatchSize.Record(size, _plan);
        _instruments.TailComputeMs.Record(computeMicros / 1000.0, _plan);
    }

    internal void Answered()
    {
        Interlocked.Increment(ref _totals.Answered);
        _instruments.Answers.Add(1, _plan);
    }

    /// <summary>A request answered with an Error: counted in the totals; the error series counts the frame itself (<see cref="ErrorSent"/>).</summary>
    internal void Failed() => Interlocked.Increment(ref _totals.Errors);

    /// <summary>Totals now, for a log line; the peak queue depth restarts.</summary>
    public CloudMetricsSnapshot Snapshot() => new(
        RequestsTotal,
        ErrorsTotal,
        BatchesTotal,
        Interlocked.Read(ref _totals.BatchedRequests),
        Interlocked.Read(ref _totals.TailComputeMicros),
        Interlocked.Read(ref _totals.QueueWaitMicros),
        ConnectionsOpen,
        ConnectionsTotal,
        ConnectionsDropped,
        QueueDepth,
        Interlocked.Exchange(ref _totals.PeakQueueDepth, QueueDepth));

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _instruments.Meter.Dispose();
        }
    }

    /// <summary>Running totals shared by the server's metrics and every plan's view of them.</summary>
    private sealed class Totals
    {
        public long Answered;
        public long Errors;
        public long Batches;
        public long BatchedRequests;
        public long TailComputeMicros;
        public long QueueWaitMicros;
        public long ConnectionsOpen;
        public long ConnectionsTotal;
        public long ConnectionsDropped;
        public long AuthenticationFailures;
        public long QueueDepth;
        public long PeakQueueDepth;
    }

    private sealed class Instruments
    {
        // Batches are small integers; waits and tail runs are fractions of a millisecond to seconds. The
        // SDK's default buckets (0, 5, 10, 25 … 10000) would put every batch and most waits in one bucket.
        private static readonly int[] BatchBuckets = [1, 2, 4, 8, 16, 32, 64, 128];
        private static readonly double[] MillisecondBuckets = [0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000];

        public Instruments(Meter meter, Totals totals)
        {
            Meter = meter;
            Requests = meter.CreateCounter<long>("coach.cloud.requests", "{request}", "Request frames received, by plan");
            Answers = meter.CreateCounter<long>("coach.cloud.answers", "{request}", "requests answered with a Result, by plan");
            ErrorFrames = meter.CreateCounter<long>("coach.cloud.errors", "{frame}", "Error and Reject frames sent, by reason code (docs/protocol.md §6)");
            BytesReceived = meter.CreateCounter<long>("coach.cloud.request_bytes", "By", "bytes of Request frames queued at a tail, by plan");
            Connections = meter.CreateUpDownCounter<int>("coach.cloud.connections", "{connection}", "open edge connections");
            ConnectionsDropped = meter.CreateCounter<long>("coach.cloud.connections_dropped", "{connection}", "connections closed for a protocol violation");
            AuthenticationFailures = meter.CreateCounter<long>("coach.cloud.authentication_failures", "{handshake}", "handshakes refused for missing or wrong authentication");
            BatchSize = meter.CreateHistogram("coach.cloud.batch_size", "{request}", "requests per tail run, by plan", advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = BatchBuckets });
            TailComputeMs = meter.CreateHistogram("coach.cloud.tail_compute", "ms", "time of one batched tail run, by plan", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = MillisecondBuckets });
            QueueWaitMs = meter.CreateHistogram("coach.cloud.queue_wait", "ms", "time a request waited for its batch, by plan", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = MillisecondBuckets });
            meter.CreateObservableGauge("coach.cloud.queue_depth", () => Interlocked.Read(ref totals.QueueDepth), "{request}", "requests waiting for a tail");
        }

        public Meter Meter { get; }

        public Counter<long> Requests { get; }

        public Counter<long> Answers { get; }

        public Counter<long> ErrorFrames { get; }

        public Counter<long> BytesReceived { get; }

        public UpDownCounter<int> Connections { get; }

        public Counter<long> ConnectionsDropped { get; }

        public Counter<long> AuthenticationFailures { get; }

        public Histogram<int> BatchSize { get; }

        public Histogram<double> TailComputeMs { get; }

        public Histogram<double> QueueWaitMs { get; }
    }
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
