using System.Diagnostics;
using System.Threading.Channels;
using Coach.Native.OnnxRuntime;
using Coach.Transport.Protocol;

namespace Coach.Transport.Cloud;

/// <summary>One input of a tail: a cut tensor, by wire ordinal.</summary>
public sealed record TailInput(int Ordinal, string Name, long[] FrameShape, int ElementsPerFrame);

/// <summary>
/// The tail of one plan, loaded once, with its dynamic batcher: requests from any connection that
/// use this plan queue here; a loop takes the first, waits up to the max wait for more (up to the
/// max batch), dequantizes each into its row of pinned input tensors, runs the tail once and answers
/// each request. Pinned inputs and bindings are made once per batch size and reused. Requests come
/// as <see cref="TailJob"/>s and are answered through their <see cref="ITailRequester"/>, so the tail
/// knows nothing of connections. Running a batch is in TailModel.Batch.cs.
/// </summary>
public sealed partial class TailModel : IDisposable, IRequestStage
{
    private readonly CloudMetrics _metrics;
    private readonly Action<string> _log;
    private readonly Channel<TailJob> _queue;
    private readonly Dictionary<int, BatchBuffers> _buffers = [];
    private readonly TimeSpan _maxWait;
    private readonly Task _loop;
    private byte[] _decompressed = [];
    /// <summary>The batch thread's zstd contexts (one thread decodes a tail's batches).</summary>
    private readonly Native.Compression.Zstd _zstd = new();
    /// <summary>The batch thread's JPEG decoder and its RGB pixels, made on the first JPEG frame (plans that send none never
    /// load libturbojpeg).</summary>
    private Native.Imaging.TurboJpeg? _jpeg;
    private byte[] _rgb = [];
    /// <summary>The batch thread's H.264 decoders, one per connection streaming this plan's frames (compression 4): a
    /// connection's requests are queued, and so decoded, in the order they arrived; a closed connection's decoder goes.</summary>
    private readonly Dictionary<ITailRequester, Native.Imaging.H264Decoder> _streams = new(ReferenceEqualityComparer.Instance);
    private readonly Func<double>? _slowdown;

    private TailModel(PlanDirectory plan, InferenceSession session, TailInput[] inputs, string outputName, long[] outputFrameShape, int maxBatch, CloudServerOptions options, CloudMetrics metrics)
    {
        Plan = plan;
        Session = session;
        Inputs = inputs;
        OutputName = outputName;
        OutputFrameShape = outputFrameShape;
        ClassCount = checked((int)TensorElementTypeExtensions.ElementCount(outputFrameShape));
        MaxBatch = maxBatch;
        _maxWait = options.MaxWait;
        _metrics = metrics;
        _log = options.Log;
        _slowdown = options.ComputeSlowdown;
        _queue = Channel.CreateUnbounded<TailJob>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });
        _loop = Task.Factory.StartNew(BatchLoopAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    public PlanDirectory Plan { get; }

    public InferenceSession Session { get; }

    /// <summary>Inputs in wire-ordinal order.</summary>
    public IReadOnlyList<TailInput> Inputs { get; }

    public string OutputName { get; }

    public int ClassCount { get; }

    /// <summary>
    /// The output of one frame without the batch dimension: [classes] for a classifier, any shape otherwise (a detection
    /// head's [boxes, 6]); a batch's output is bound as [batch, ..this], and <see cref="ClassCount"/> values per frame are
    /// answered (their argmax as the label, which only a classifier gives a meaning).
    /// </summary>
    public long[] OutputFrameShape { get; }

    /// <summary>Largest batch this tail runs (1 when its batch dimension is fixed).</summary>
    public int MaxBatch { get; }

    /// <summary>Opens the tail with ONNX Runtime and starts its batch loop.</summary>
    public static TailModel Load(PlanDirectory plan, CloudServerOptions options, CloudMetrics metrics)
    {
        if (plan.TailPath is null)
        {
            throw new InvalidDataException($"{plan} has no {PlanDirectory.TailFileName}: an edge-only plan needs no cloud");
        }

        var session = InferenceSession.Open(plan.TailPath, options.TailSettings);
        try
        {
            var inputs = new TailInput[session.Inputs.Count];
            bool dynamicBatch = true;
            for (int i = 0; i < session.Inputs.Count; i++)
            {
                TensorMetadata meta = session.Inputs[i];
                int ordinal = i;
                CutTensorSpec? cut = null;
                for (int c = 0; c < plan.CutTensors.Count; c++)
                {
                    if (plan.CutTensors[c].Name == meta.Name)
                    {
                        ordinal = c;
                        cut = plan.CutTensors[c];
                    }
                }

                if (meta.ElementType != TensorElementType.Float)
                {
                    throw new InvalidDataException($"tail input {meta.Name} of {plan} is {meta.ElementType}; cut tensors must be float32");
                }

                if (meta.Shape.Length == 0)
                {
                    throw new InvalidDataException($"tail input {meta.Name} of {plan} is a scalar; cut tensors have a batch dimension");
                }

                dynamicBatch &= meta.Shape[0] < 0;
                long[] frameShape = new long[meta.Shape.Length - 1];
                for (int d = 1; d < meta.Shape.Length; d++)
                {
                    long dim = meta.Shape[d];
                    if (dim < 0 && cut is not null && cut.Shape.Length == meta.Shape.Length)
                    {
                        dim = cut.Shape[d];
                    }

                    if (dim <= 0)
                    {
                        throw new InvalidDataException($"tail input {meta.Name} of {plan} has a dynamic dimension {d} and plan.json gives no shape for it");
                    }

                    frameShape[d - 1] = dim;
                }

                inputs[ordinal] = new TailInput(ordinal, meta.Name, frameShape, checked((int)TensorElementTypeExtensions.ElementCount(frameShape)));
            }

            if (inputs.Any(x => x is null))
            {
                throw new InvalidDataException($"the cut tensors of {plan} do not name the tail's inputs ({string.Join(", ", session.Inputs.Select(x => x.Name))})");
            }

            TensorMetadata output = session.Outputs[0];
            if (output.ElementType != TensorElementType.Float)
            {
                throw new InvalidDataException($"tail output {output.Name} of {plan} is {output.ElementType}; expected float32 logits");
            }

            // One warm-up run at batch 1 gives the output size even when the graph leaves it dynamic.
            var warm = inputs.Select(x => new NamedTensor(x.Name, DenseTensor.Create(TensorElementType.Float, [1, .. x.FrameShape]))).ToArray();
            DenseTensor logits = session.Run(warm, [output.Name])[0];
            long[] outputFrameShape = logits.Shape.Length >= 2 ? logits.Shape[1..] : [logits.ElementCount];
            int maxBatch = dynamicBatch ? options.MaxBatch : 1;
            return new TailModel(plan, session, inputs, output.Name, outputFrameShape, maxBatch, options, metrics);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Checks a request's tensors against this tail; on a mismatch returns the reason and says what was wrong.
    /// </summary>
    public ReasonCode Validate(ReadOnlySpan<WireTensor> tensors, out string message)
    {
        message = string.Empty;
        if (tensors.Length != Inputs.Count)
        {
            message = $"the tail of plan {Plan.Id} takes {Inputs.Count} cut tensor(s), the request carries {tensors.Length}";
            return ReasonCode.TensorMissing;
        }

        uint seen = 0;
        foreach (ref readonly WireTensor t in tensors)
        {
            if (t.Ordinal >= Inputs.Count || (seen & (1u << t.Ordinal)) != 0)
            {
                message = $"cut tensor ordinal {t.Ordinal} is out of range or repeated (the tail has {Inputs.Count})";
                return ReasonCode.TensorMissing;
            }

            seen |= 1u << t.Ordinal;
            TailInput input = Inputs[t.Ordinal];
            if (t.ElementType != WireElementType.Float32)
            {
                message = $"cut tensor {input.Name} arrives as {t.ElementType}; this tail takes float32 (quantized or raw)";
                return ReasonCode.UnsupportedElementType;
            }

            if (t.Bits is not ((>= 1 and <= 8) or WireTensor.RawFloatBits))
            {
                message = $"cut tensor {input.Name} has {t.Bits} bits; supported are 1 … 8 (UAQ) and 32 (raw)";
                return ReasonCode.UnsupportedBits;
            }

            if (t.Compression is not (TensorCompression.None or TensorCompression.Lz4 or TensorCompression.Zstd or TensorCompression.Jpeg or TensorCompression.H264))
            {
                message = $"cut tensor {input.Name} uses compression {t.Compression}, which this server cannot decode";
                return ReasonCode.UnsupportedCompression;
            }

            if (t.Compression == TensorCompression.H264)
            {
                // An H.264 picture is an 8-bit RGB frame [1,3,H,W] at scale 1/255 with even sides (4:2:0), nothing else.
                if (t.Bits != 8 || t.Rank != 4 || t.Dims[1] != 3 || t.ZeroPoint != 0 || t.Scale != 1f / 255f || (t.Dims[2] & 1) != 0 || (t.Dims[3] & 1) != 0)
                {
                    message = $"cut tensor {input.Name} is H.264-compressed but not an 8-bit [1,3,H,W] frame of even sides at scale 1/255, zero point 0";
                    return ReasonCode.UnsupportedCompression;
                }

                if (!Native.Imaging.H264.IsAvailable)
                {
                    message = $"this server cannot decode H.264 frames: {Native.Imaging.H264.CodecLibrary} (FFmpeg 5.1) is not installed on it (apt-get install {Native.Imaging.H264.Packages})";
                    return ReasonCode.UnsupportedCompression;
                }
            }

            if (t.Compression == TensorCompression.Jpeg)
            {
                // A JPEG is an 8-bit RGB frame [1,3,H,W] at scale 1/255 (docs/protocol.md §4.4), nothing else.
                if (t.Bits != 8 || t.Rank != 4 || t.Dims[1] != 3 || t.ZeroPoint != 0 || t.Scale != 1f / 255f)
                {
                    message = $"cut tensor {input.Name} is JPEG-compressed but not an 8-bit [1,3,H,W] frame at scale 1/255, zero point 0";
                    return ReasonCode.UnsupportedCompression;
                }

                if (!Native.Imaging.TurboJpeg.IsAvailable)
                {
                    message = $"this server cannot decode JPEG frames: {Native.Imaging.TurboJpeg.LibraryName} is not installed on it (apt-get install libturbojpeg0)";
                    return ReasonCode.UnsupportedCompression;
                }
            }

            if (t.ElementCount != input.ElementsPerFrame || t.Dims[0] != 1 || t.Rank != input.FrameShape.Length + 1)
            {
                message = $"cut tensor {input.Name} has {t.Rank} dims / {t.ElementCount} elements; the tail expects [1,{string.Join(',', input.FrameShape)}]";
                return ReasonCode.ShapeMismatch;
            }
        }

        return ReasonCode.None;
    }

    void IRequestStage.Enqueue(TailJob job) => Enqueue(job);

    string IRequestStage.Describe() =>
        $"inputs {string.Join(", ", Inputs.Select(i => $"{i.Name}[{string.Join('x', i.FrameShape)}]"))}, {(OutputFrameShape.Length == 1 ? $"{ClassCount} classes" : $"output [{string.Join('x', OutputFrameShape)}] (not class scores: the answer's label is its argmax)")}, batch ≤ {MaxBatch}, provider {Session.Provider}";

    internal void Enqueue(TailJob job)
    {
        Interlocked.Increment(ref _received);
        EnqueueRealigned(job);
    }

    /// <summary>Queues a request here without counting it as this plan's own (a request of an earlier plan, bridged to this cut).</summary>
    internal void EnqueueRealigned(TailJob job)
    {
        _metrics.RequestQueued(job.DataLength);
        Interlocked.Increment(ref _waiting);
        if (!_queue.Writer.TryWrite(job))
        {
            Interlocked.Decrement(ref _waiting);
            _metrics.RequestDequeued(0);
            job.Requester.Fail(job.RequestId, ReasonCode.ShuttingDown, "the server is shutting down");
            job.Release();
        }
    }

    public void Dispose()
    {
        _queue.Writer.TryComplete();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }

        foreach (BatchBuffers buffers in _buffers.Values)
        {
            buffers.Dispose();
        }

        Session.Dispose();
        foreach (FragmentRoute route in _bridges.Values)
        {
            route.Dispose();
        }

        _zstd.Dispose();
        _jpeg?.Dispose();
        foreach (Native.Imaging.H264Decoder decoder in _streams.Values)
        {
            decoder.Dispose();
        }
    }

    private async Task BatchLoopAsync()
    {
        ChannelReader<TailJob> reader = _queue.Reader;
        var batch = new List<TailJob>(MaxBatch);
        using var waitCancellation = new CancellationTokenSource();
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            long deadline = Stopwatch.GetTimestamp() + (long)(_maxWait.TotalSeconds * Stopwatch.Frequency);
            while (batch.Count < MaxBatch)
            {
                if (reader.TryRead(out TailJob? job))
                {
                    batch.Add(job);
                    continue;
                }

                long remaining = deadline - Stopwatch.GetTimestamp();
                if (batch.Count == 0 || remaining <= 0)
                {
                    if (batch.Count == 0)
                    {
                        break;
                    }

                    break;
                }

                // Wait for company until the deadline (dynamic batching).
                if (!waitCancellation.TryReset())
                {
                    break;
                }

                waitCancellation.CancelAfter(TimeSpan.FromTicks(Math.Max(1, remaining * TimeSpan.TicksPerSecond / Stopwatch.Frequency)));
                try
                {
                    if (!await reader.WaitToReadAsync(waitCancellation.Token).ConfigureAwait(false))
                    {
                        break;
                    }
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            if (batch.Count > 0)
            {
                RunBatch(batch);
                batch.Clear();
            }
        }
    }
}
