using System.Net;
using System.Threading.Channels;
using Coach.Engine.Coded;
using Coach.Transport.Edge;
using Coach.Transport.Protocol;

namespace Coach.Transport.Coded;

/// <summary>A worker's slice plan: the plan id and tail hash a master names in its Hello (one plan per layer and scheme).</summary>
public sealed record WorkerPlan(string Id, byte[] PlanHash);

/// <summary>How one coded layer went for one frame.</summary>
public readonly record struct CodedLayerOutcome(int AnswersUsed, int Reissued, int ComputedLocally, bool FellBack, double InverseNorm);

/// <summary>
/// The master's side of coded distributed convolution (docs/coded.md §4): one connection per worker and slice plan
/// over the ordinary protocol (a worker is a cloud server whose tails are slice models; a coded slice travels as a
/// raw float32 Request and its output comes back as the Result's logits). For a layer it sends every live worker its
/// coded slice, decodes from the first answers that decode, and drops the late ones. A worker whose connection closes
/// is dead: its pending slices go to another live worker, and when no set of answers can decode any more the master
/// computes what is missing itself, so every frame is answered.
/// </summary>
public sealed class CodedWorkerPool : IAsyncDisposable
{
    private readonly Worker[] _workers;
    private readonly Channel<(int Row, long Epoch)> _events = Channel.CreateUnbounded<(int, long)>(new UnboundedChannelOptions { SingleReader = true });
    private readonly object _gate = new();
    private long _epoch;
    private CodedConvolution? _current;

    private CodedWorkerPool(Worker[] workers)
    {
        _workers = workers;
        foreach (var w in workers)
        {
            w.Pool = this;
        }
    }

    public int Count => _workers.Length;

    /// <summary>Workers whose connections are all open.</summary>
    public int LiveCount => _workers.Count(w => w.Alive);

    public bool IsAlive(int worker) => _workers[worker].Alive;

    /// <summary>Connects to every worker once per plan.</summary>
    public static async Task<CodedWorkerPool> ConnectAsync(IReadOnlyList<EndPoint> workers, IReadOnlyList<WorkerPlan> plans, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workers);
        ArgumentNullException.ThrowIfNull(plans);
        var list = new Worker[workers.Count];
        for (int i = 0; i < workers.Count; i++)
        {
            list[i] = new Worker(i, plans.Count);
        }

        var pool = new CodedWorkerPool(list);
        for (int i = 0; i < workers.Count; i++)
        {
            for (int p = 0; p < plans.Count; p++)
            {
                var hello = new HelloMessage { ClientId = $"coded-master-{i}", PlanId = plans[p].Id, PlanHash = plans[p].PlanHash };
                var client = await EdgeClient.ConnectAsync(workers[i], hello, cancellationToken: cancellationToken).ConfigureAwait(false);
                list[i].Clients[p] = client;
                client.StartReceiving(new Sink(list[i], p));
            }
        }

        return pool;
    }

    /// <summary>
    /// Runs one coded layer: <paramref name="coded"/> has its input split (<see cref="CodedConvolution.Split"/>);
    /// <paramref name="plan"/> is the index of its slice plan. The decoded output goes to <paramref name="output"/>.
    /// A worker that has not answered within <paramref name="deadline"/> is passed over: the master computes the
    /// missing slices with <paramref name="local"/> (the slice model on the master).
    /// </summary>
    public async Task<CodedLayerOutcome> RunLayerAsync(CodedConvolution coded, int plan, float[] output, Func<int, float[]> local, TimeSpan deadline, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(coded);
        ArgumentNullException.ThrowIfNull(local);
        var code = coded.Code;
        long epoch = Interlocked.Increment(ref _epoch);
        var pending = new List<int>[_workers.Length];
        var buffer = new float[coded.SliceInputLength];
        int[] shape = [.. coded.SliceInputShape.Select(d => checked((int)d))];
        lock (_gate)
        {
            _current = coded;
        }

        var answered = new List<int>();
        var outstanding = new HashSet<int>();
        int reissued = 0, localRows = 0;
        var chosen = new int[code.K];
        // Row i of the code goes to worker i; a dead worker's row goes elsewhere only when the others cannot decode.
        for (int row = 0; row < Math.Min(code.N, _workers.Length); row++)
        {
            if (!_workers[row].Alive)
            {
                continue;
            }

            coded.Encode(row, buffer);
            if (await SendAsync(row, plan, row, epoch, buffer, shape).ConfigureAwait(false))
            {
                outstanding.Add(row);
            }
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(deadline);
        while (true)
        {
            if (coded.TrySelect(answered.ToArray(), chosen))
            {
                break;
            }

            // Can the answers still outstanding complete a decodable set? If not (dead workers, a replication missing a
            // slice), reissue the rows nobody computes to live workers, or compute them here.
            bool stuck = outstanding.Count == 0 || !coded.TrySelect([.. answered, .. outstanding], chosen);
            if (stuck || timeout.IsCancellationRequested)
            {
                foreach (int row in Enumerable.Range(0, code.N).Where(r => !answered.Contains(r)))
                {
                    if (coded.TrySelect(answered.ToArray(), chosen))
                    {
                        break;
                    }

                    if (!timeout.IsCancellationRequested && !outstanding.Contains(row) && NextLive(row) is var w and >= 0)
                    {
                        coded.Encode(row, buffer);
                        if (await SendAsync(w, plan, row, epoch, buffer, shape).ConfigureAwait(false))
                        {
                            outstanding.Add(row);
                            reissued++;
                            continue;
                        }
                    }

                    if (timeout.IsCancellationRequested || NextLive(row) < 0)
                    {
                        local(row).AsSpan().CopyTo(coded.Answer(row));
                        answered.Add(row);
                        outstanding.Remove(row);
                        localRows++;
                    }
                }

                if (coded.TrySelect(answered.ToArray(), chosen))
                {
                    break;
                }
            }

            try
            {
                var (row, e) = await _events.Reader.ReadAsync(timeout.Token).ConfigureAwait(false);
                if (e != epoch)
                {
                    continue; // a late answer of an earlier layer: dropped
                }

                if (row >= 0)
                {
                    if (outstanding.Remove(row))
                    {
                        answered.Add(row);
                    }
                }
                else if (row <= -2)
                {
                    outstanding.Remove(-row - 2); // the worker answered that row with an Error
                }
                else
                {
                    // A worker died: forget what it had outstanding.
                    foreach (int r in DeadRows(epoch))
                    {
                        outstanding.Remove(r);
                    }
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Deadline: the loop computes the missing rows locally.
            }
        }

        lock (_gate)
        {
            _current = null;
            Interlocked.Increment(ref _epoch); // answers still on their way are late from now on
        }

        double norm = coded.Decode(chosen, output);
        return new CodedLayerOutcome(code.K, reissued, localRows, localRows > 0, norm);
    }

    private IEnumerable<int> DeadRows(long epoch)
    {
        var rows = new List<int>();
        foreach (var w in _workers.Where(w => !w.Alive))
        {
            lock (w)
            {
                rows.AddRange(w.Pending.Values.Where(p => p.Epoch == epoch).Select(p => p.Row));
                w.Pending.Clear();
            }
        }

        return rows;
    }

    private int NextLive(int after)
    {
        for (int i = 1; i <= _workers.Length; i++)
        {
            int w = (after + i) % _workers.Length;
            if (_workers[w].Alive)
            {
                return w;
            }
        }

        return -1;
    }

    private async Task<bool> SendAsync(int worker, int plan, int row, long epoch, float[] values, int[] shape)
    {
        var w = _workers[worker];
        var client = w.Clients[plan];
        if (client is null || !w.Alive)
        {
            return false;
        }

        ulong id;
        lock (w)
        {
            id = ++w.NextRequestId;
            w.Pending[(plan, id)] = (row, epoch);
        }

        try
        {
            var header = new RequestHeader(id, MonotonicClock.NowMicros, MonotonicClock.NowMicros, 1);
            var writer = RequestFrameWriter.Begin(client.Output, header, RequestFrameWriter.TensorCapacity(shape.Length, values.Length, WireTensor.RawFloatBits), FrameFlags.WantLogits);
            writer.AddRaw(0, values, shape);
            writer.Complete();
            var flush = await client.Output.FlushAsync().ConfigureAwait(false);
            return !flush.IsCompleted;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
        {
            w.MarkDead();
            return false;
        }
    }

    private void Answered(Worker worker, int plan, ulong requestId, ReadOnlySpan<float> logits)
    {
        (int Row, long Epoch) task;
        lock (worker)
        {
            if (!worker.Pending.Remove((plan, requestId), out task))
            {
                return;
            }
        }

        lock (_gate)
        {
            // Only an answer to the layer in progress is kept; the master reads the buffer after the event.
            if (task.Epoch != Interlocked.Read(ref _epoch) || _current is null || logits.Length != _current.SliceOutputLength)
            {
                return;
            }

            logits.CopyTo(_current.Answer(task.Row));
        }

        _events.Writer.TryWrite(task);
    }

    private void Failed(Worker worker, int plan, ulong requestId)
    {
        (int Row, long Epoch) task;
        lock (worker)
        {
            if (!worker.Pending.Remove((plan, requestId), out task))
            {
                return;
            }
        }

        _events.Writer.TryWrite((-task.Row - 2, task.Epoch));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var w in _workers)
        {
            foreach (var c in w.Clients.Where(c => c is not null))
            {
                try
                {
                    await c!.DisposeAsync().ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
                {
                    // Already closed (a killed worker).
                }
            }
        }
    }

    private sealed class Worker(int index, int plans)
    {
        private int _dead;

        public int Index { get; } = index;

        public EdgeClient?[] Clients { get; } = new EdgeClient?[plans];

        public Dictionary<(int Plan, ulong Id), (int Row, long Epoch)> Pending { get; } = [];

        public ulong NextRequestId { get; set; }

        public CodedWorkerPool? Pool { get; set; }

        public bool Alive => Volatile.Read(ref _dead) == 0;

        public void MarkDead()
        {
            if (Interlocked.Exchange(ref _dead, 1) == 0)
            {
                Pool?._events.Writer.TryWrite((-1, Interlocked.Read(ref Pool._epoch)));
            }
        }
    }

    private sealed class Sink(Worker worker, int plan) : IEdgeResultSink
    {
        public void OnResult(in ResultMessage result, ReadOnlySpan<float> logits) => worker.Pool!.Answered(worker, plan, result.RequestId, logits);

        public void OnError(ErrorMessage error)
        {
            if (error.RequestId != 0)
            {
                worker.Pool!.Failed(worker, plan, error.RequestId);
            }
        }

        public void OnClosed(Exception? error) => worker.MarkDead();
    }
}
