using System.Buffers;
using System.Diagnostics;
using Coach.Native.OnnxRuntime;
using Coach.Transport.Protocol;

namespace Coach.Transport.Cloud;

/// <summary>
/// The bridge from this plan's cut to a later plan's cut of the same model (fragment re-alignment, docs/fleet.md §4): run on
/// this plan's batches, its outputs are the later tail's inputs, and each row joins the later tail's queue as a raw-float32
/// request that the later tail answers to the original edge.
/// </summary>
internal sealed class FragmentRoute : IDisposable
{
    private readonly Dictionary<int, (SessionBinding Binding, PinnedTensor[] Outputs)> _bindings = [];

    public FragmentRoute(TailModel from, TailModel to, InferenceSession bridge)
    {
        From = from;
        To = to;
        Session = bridge;
        foreach (TensorMetadata input in bridge.Inputs)
        {
            if (!from.Inputs.Any(i => i.Name == input.Name))
            {
                throw new InvalidDataException($"the bridge from plan {from.Plan.Id} to plan {to.Plan.Id} reads '{input.Name}', which is not a cut tensor of {from.Plan.Id}");
            }
        }

        foreach (TailInput output in to.Inputs)
        {
            if (!bridge.Outputs.Any(o => o.Name == output.Name))
            {
                throw new InvalidDataException($"the bridge from plan {from.Plan.Id} to plan {to.Plan.Id} does not produce '{output.Name}'");
            }
        }
    }

    public TailModel From { get; }

    public TailModel To { get; }

    public InferenceSession Session { get; }

    /// <summary>Runs the bridge on the batch already dequantized into <paramref name="inputs"/> (rows 0…batch−1); returns the outputs in the later tail's input order.</summary>
    public PinnedTensor[] Run(int batch, PinnedTensor[] inputs)
    {
        if (!_bindings.TryGetValue(batch, out var bound))
        {
            var outputs = To.Inputs.Select(x => PinnedTensor.Create(TensorElementType.Float, [batch, .. x.FrameShape])).ToArray();
            var binding = Session.Bind(
                Session.Inputs.Select(meta => (meta.Name, inputs[From.Inputs.First(i => i.Name == meta.Name).Ordinal])).ToArray(),
                To.Inputs.Select((x, i) => (x.Name, outputs[i])).ToArray());
            bound = (binding, outputs);
            _bindings[batch] = bound;
        }

        bound.Binding.Run();
        return bound.Outputs;
    }

    /// <summary>Measured time of one bridge run at <paramref name="batch"/> (median of a few), ms.</summary>
    public double TimeMs(int batch, PinnedTensor[] inputs)
    {
        var times = new double[5];
        for (int i = 0; i < times.Length; i++)
        {
            long start = Stopwatch.GetTimestamp();
            Run(batch, inputs);
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        Array.Sort(times);
        return times[times.Length / 2];
    }

    public void Dispose()
    {
        foreach (var (binding, outputs) in _bindings.Values)
        {
            binding.Dispose();
            foreach (PinnedTensor output in outputs)
            {
                output.Dispose();
            }
        }

        Session.Dispose();
    }
}

public sealed partial class TailModel
{
    private readonly Dictionary<TailModel, FragmentRoute> _bridges = [];
    private FragmentRoute? _route;
    private long _received;
    private long _waiting;

    /// <summary>The bridges from this plan's cut to later plans' cuts (made before serving).</summary>
    internal IReadOnlyDictionary<TailModel, FragmentRoute> Bridges => _bridges;

    internal void AddBridge(FragmentRoute route) => _bridges[route.To] = route;

    /// <summary>Requests waiting in this tail's queue now (what load shedding compares with its limit).</summary>
    public int Waiting => (int)Interlocked.Read(ref _waiting);

    /// <summary>Requests queued here since the start (the re-alignment planner's request rate).</summary>
    internal long Received => Interlocked.Read(ref _received);

    /// <summary>Where this plan's requests go now: null = its own tail; else through the bridge into a later tail's batches.</summary>
    internal FragmentRoute? Route
    {
        get => Volatile.Read(ref _route);
        set => Volatile.Write(ref _route, value);
    }

    /// <summary>Measured time of one tail run at <paramref name="batch"/> (median of a few, on zeros), ms; runs on the caller's thread before serving.</summary>
    internal double TimeMs(int batch)
    {
        BatchBuffers buffers = BuffersFor(batch);
        var times = new double[5];
        for (int i = 0; i < times.Length; i++)
        {
            long start = Stopwatch.GetTimestamp();
            buffers.Binding.Run();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        Array.Sort(times);
        return times[times.Length / 2];
    }

    /// <summary>This tail's pinned inputs for <paramref name="batch"/> rows (zeros until a batch runs), for timing a bridge.</summary>
    internal PinnedTensor[] InputsFor(int batch) => BuffersFor(batch).Inputs;

    /// <summary>
    /// Runs the bridge on a dequantized batch and queues each row at the later tail, as a raw-float32 request with the original
    /// requester and request id, so the later tail answers the edge directly.
    /// </summary>
    private void Forward(List<TailJob> batch, BatchBuffers buffers, FragmentRoute route, long computeStart)
    {
        PinnedTensor[] outputs;
        try
        {
            outputs = route.Run(batch.Count, buffers.Inputs);
        }
        catch (Exception e)
        {
            FailBatch(batch, e);
            return;
        }

        long now = MonotonicClock.NowMicros;
        _metrics.BatchRun(batch.Count, now - computeStart);
        TailModel to = route.To;
        int bytes = to.Inputs.Sum(x => x.ElementsPerFrame) * sizeof(float);
        for (int row = 0; row < batch.Count; row++)
        {
            TailJob job = batch[row];
            if (!job.Failed)
            {
                byte[] data = ArrayPool<byte>.Shared.Rent(bytes);
                var tensors = new WireTensor[to.Inputs.Count];
                int offset = 0;
                for (int i = 0; i < to.Inputs.Count; i++)
                {
                    TailInput input = to.Inputs[i];
                    int length = input.ElementsPerFrame * sizeof(float);
                    outputs[i].AsSpan<float>().Slice(row * input.ElementsPerFrame, input.ElementsPerFrame)
                        .CopyTo(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(data.AsSpan(offset, length)));
                    ref WireTensor t = ref tensors[i];
                    t.Ordinal = (ushort)input.Ordinal;
                    t.ElementType = WireElementType.Float32;
                    t.Bits = WireTensor.RawFloatBits;
                    t.Compression = TensorCompression.None;
                    t.Rank = (byte)(input.FrameShape.Length + 1);
                    t.Dims[0] = 1;
                    for (int d = 0; d < input.FrameShape.Length; d++)
                    {
                        t.Dims[d + 1] = checked((int)input.FrameShape[d]);
                    }

                    t.DataOffset = offset;
                    t.DataLength = length;
                    offset += length;
                }

                to.EnqueueRealigned(new TailJob
                {
                    Requester = job.Requester,
                    RequestId = job.RequestId,
                    Data = data,
                    DataLength = offset,
                    Tensors = tensors,
                    TensorCount = tensors.Length,
                    WantLogits = job.WantLogits,
                    FirstByteMicros = job.FirstByteMicros,
                    LastByteMicros = job.LastByteMicros,
                    EnqueuedMicros = job.EnqueuedMicros,
                });
            }

            job.Release();
        }
    }
}
