using System.Buffers;
using System.Collections.Concurrent;
using System.Threading.Channels;
using Coach.Engine.DataPlane;
using Coach.Engine.Planning.MultiStage;
using Coach.Native.OnnxRuntime;
using Coach.Transport.Cloud;
using Coach.Transport.Protocol;

namespace Coach.Transport.Relay;

/// <summary>
/// A relay's stage of a pipeline (docs/edgepipe.md §7), served to the previous hop as a tail is: each Request's cut
/// tensors dequantized into the stage model's inputs, the stage run through ONNX Runtime, and the next link's cut sent
/// on — the values the stage produces quantized at the plan's bits, the values it relays copied as received (not
/// quantized again). The next hop's answer goes back to the requester under its own request id, once.
/// </summary>
internal sealed class RelayStage : IRequestStage, IHopAnswerSink
{
    private readonly PipelineStageDocument _stage;
    private readonly InferenceSession? _session;
    private readonly string[] _receivedNames;
    private readonly long[] _receivedElements;
    private readonly Forward[] _forwards;
    private readonly Channel<TailJob> _queue = Channel.CreateUnbounded<TailJob>(new UnboundedChannelOptions { SingleReader = true });
    /// <summary>Frames computed and waiting for the link: the stage computes the next frame while the link sends this one.</summary>
    private readonly Channel<(ulong Id, byte[] Frame)> _outbox = Channel.CreateBounded<(ulong, byte[])>(new BoundedChannelOptions(2) { SingleReader = true, SingleWriter = true });
    private readonly Task _sendLoop;
    private readonly ConcurrentDictionary<ulong, (ITailRequester Requester, ulong UpstreamId)> _waiting = new();
    private readonly Action<string> _log;
    private readonly Edge.EmulatedDeviceClock _device;
    private readonly Task _loop;
    private ResendingLink? _next;
    private long _nextId;
    private long _computeMicros;
    private long _computed;
    private int _disposed;
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>One tensor the next link carries: from the stage model's outputs, or relayed from what came in.</summary>
    private readonly record struct Forward(string Name, int Bits, int[] Shape, int OutputIndex, int ReceivedOrdinal);

    public RelayStage(PlanDirectory hop, PipelineStageDocument stage, string? stageModelPath, SessionSettings settings, Action<string> log, double slowdown = 1)
    {
        _device = new Edge.EmulatedDeviceClock(slowdown);
        ArgumentNullException.ThrowIfNull(hop);
        ArgumentNullException.ThrowIfNull(stage);
        var link = stage.Link ?? throw new InvalidDataException($"stage {stage.Index} ({stage.Device}) is the pipeline's last: the cloud (coach-cloud) serves it, not a relay");
        Plan = hop;
        _stage = stage;
        _log = log;
        _receivedNames = [.. stage.Receives];
        if (!hop.CutTensors.Select(c => c.Name).SequenceEqual(_receivedNames, StringComparer.Ordinal))
        {
            throw new InvalidDataException($"{hop} takes [{string.Join(", ", hop.CutTensors.Select(c => c.Name))}] but pipeline stage {stage.Index} receives [{string.Join(", ", _receivedNames)}]: write both with the same coach plan --devices");
        }
        _receivedElements = [.. hop.CutTensors.Select(c => c.ElementsPerFrame)];
        if (stage.Model is { } part)
        {
            _session = InferenceSession.Open(stageModelPath ?? throw new InvalidDataException($"stage {stage.Index} has a model ({part.File}) but none was given"), settings);
        }
        var outputs = stage.Model?.Outputs ?? [];
        _forwards = [.. link.CutTensors.Select(c =>
        {
            int output = Array.IndexOf(outputs, c.Name);
            int received = Array.IndexOf(_receivedNames, c.Name);
            if (output < 0 && received < 0)
            {
                throw new InvalidDataException($"stage {stage.Index} sends '{c.Name}' but neither produces nor receives it");
            }
            return new Forward(c.Name, c.Bits, [.. c.Shape.Select(d => checked((int)d))], output, output >= 0 ? -1 : received);
        })];
        _loop = Task.Factory.StartNew(LoopAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        _sendLoop = Task.Run(SendLoopAsync);
    }

    public PlanDirectory Plan { get; }

    public int MaxBatch => 1;

    /// <summary>Requests forwarded and not answered by the next hop yet.</summary>
    public int Waiting => _waiting.Count;

    /// <summary>Mean time of the stage model on this machine, ms, before any emulated slowdown.</summary>
    public double MeanComputeMilliseconds => Interlocked.Read(ref _computed) is var n and > 0 ? Interlocked.Read(ref _computeMicros) / 1e3 / n : 0;

    /// <summary>The link to the next hop, set once before the first request.</summary>
    public void Attach(ResendingLink next) => _next = next;

    public string Describe() =>
        $"relay stage {_stage.Index} ({_stage.Device}): {_stage.Layers} layers, receives [{string.Join(", ", _receivedNames)}], sends [{string.Join(", ", _forwards.Select(f => $"{f.Name}@{f.Bits}b{(f.OutputIndex < 0 ? " relayed" : "")}"))}], provider {_session?.Provider.ToString() ?? "none (relays only)"}";

    public ReasonCode Validate(ReadOnlySpan<WireTensor> tensors, out string message)
    {
        message = string.Empty;
        if (tensors.Length != _receivedNames.Length)
        {
            message = $"relay stage {_stage.Index} takes {_receivedNames.Length} cut tensor(s), the request carries {tensors.Length}";
            return ReasonCode.TensorMissing;
        }
        ulong seen = 0;
        foreach (ref readonly WireTensor t in tensors)
        {
            if (t.Ordinal >= _receivedNames.Length || (seen & (1ul << t.Ordinal)) != 0)
            {
                message = $"cut tensor ordinal {t.Ordinal} is out of range or repeated (the stage takes {_receivedNames.Length})";
                return ReasonCode.TensorMissing;
            }
            seen |= 1ul << t.Ordinal;
            string name = _receivedNames[t.Ordinal];
            if (t.ElementType != WireElementType.Float32)
            {
                message = $"cut tensor {name} arrives as {t.ElementType}; a relay takes float32 (quantized or raw)";
                return ReasonCode.UnsupportedElementType;
            }
            if (t.Bits is not ((>= 1 and <= 8) or WireTensor.RawFloatBits))
            {
                message = $"cut tensor {name} has {t.Bits} bits; supported are 1 … 8 (UAQ) and 32 (raw)";
                return ReasonCode.UnsupportedBits;
            }
            if (t.Compression != TensorCompression.None)
            {
                message = $"cut tensor {name} uses compression {t.Compression}; a relay takes UAQ-packed or raw tensors (plan pipelines without wire coding)";
                return ReasonCode.UnsupportedCompression;
            }
            if (t.ElementCount != _receivedElements[t.Ordinal] || t.Dims[0] != 1)
            {
                message = $"cut tensor {name} has {t.ElementCount} elements; the stage expects one frame of {_receivedElements[t.Ordinal]}";
                return ReasonCode.ShapeMismatch;
            }
        }
        return ReasonCode.None;
    }

    public void Enqueue(TailJob job)
    {
        if (!_queue.Writer.TryWrite(job))
        {
            job.Requester.Fail(job.RequestId, ReasonCode.ShuttingDown, "the relay is shutting down");
            job.Release();
        }
    }

    private async Task LoopAsync()
    {
        await foreach (var job in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            ulong id = (ulong)Interlocked.Increment(ref _nextId);
            byte[] frame;
            try
            {
                frame = RunStage(job, id);
            }
            catch (Exception e) when (e is OrtException or InvalidDataException or ArgumentException or InvalidOperationException)
            {
                _log($"relay: stage {_stage.Index} failed on request {job.RequestId}: {e.GetType().Name}: {e.Message}");
                job.Requester.Fail(job.RequestId, ReasonCode.TailFailed, $"relay stage {_stage.Index} failed on request {job.RequestId} (its log says why)");
                continue;
            }
            finally
            {
                job.Release();
            }
            _waiting[id] = (job.Requester, job.RequestId);
            try
            {
                await _outbox.Writer.WriteAsync((id, frame), _stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException or ChannelClosedException)
            {
                return;
            }
        }
        _outbox.Writer.TryComplete();
    }

    private async Task SendLoopAsync()
    {
        try
        {
            await foreach (var (id, frame) in _outbox.Reader.ReadAllAsync(_stopping.Token).ConfigureAwait(false))
            {
                await _next!.SendAsync(id, frame, _stopping.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException)
        {
        }
    }

    /// <summary>The stage on one request: its Request frame for the next hop, with request id <paramref name="id"/>.</summary>
    private byte[] RunStage(TailJob job, ulong id)
    {
        var received = new WireTensor[_receivedNames.Length];
        for (int i = 0; i < job.TensorCount; i++)
        {
            received[job.Tensors[i].Ordinal] = job.Tensors[i];
        }
        DenseTensor[] produced = [];
        if (_session is not null && _stage.Model is { } part)
        {
            var inputs = new NamedTensor[part.Inputs.Length];
            for (int i = 0; i < inputs.Length; i++)
            {
                int ordinal = Array.IndexOf(_receivedNames, part.Inputs[i]);
                ref readonly WireTensor t = ref received[ordinal];
                long[] shape = Plan.CutTensors[ordinal].Shape;
                var tensor = DenseTensor.Create(TensorElementType.Float, shape);
                var source = job.Data.AsSpan(t.DataOffset, t.DataLength);
                if (t.Bits == WireTensor.RawFloatBits)
                {
                    System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(source).CopyTo(tensor.AsSpan<float>());
                }
                else
                {
                    Uaq.UnpackDequantize(source, t.Quantization, tensor.AsSpan<float>());
                }
                inputs[i] = new NamedTensor(part.Inputs[i], tensor);
            }
            long start = MonotonicClock.NowMicros;
            produced = _session.Run(inputs, part.Outputs);
            long end = MonotonicClock.NowMicros;
            Interlocked.Add(ref _computeMicros, end - start);
            Interlocked.Increment(ref _computed);
            _device.Dilate(start, end);
        }

        int capacity = 0;
        foreach (var f in _forwards)
        {
            capacity += f.OutputIndex >= 0
                ? RequestFrameWriter.TensorCapacity(f.Shape.Length, produced[f.OutputIndex].AsSpan<float>().Length, f.Bits)
                : WireTensor.DescriptorSize(received[f.ReceivedOrdinal].Rank) + received[f.ReceivedOrdinal].DataLength;
        }
        var buffer = new ArrayBufferWriter<byte>(FrameHeader.Size + RequestHeader.Size + capacity);
        var header = new RequestHeader(id, MonotonicClock.NowMicros, MonotonicClock.NowMicros, _forwards.Length);
        var writer = RequestFrameWriter.Begin(buffer, header, capacity, job.WantLogits ? FrameFlags.WantLogits : FrameFlags.None);
        for (int k = 0; k < _forwards.Length; k++)
        {
            var f = _forwards[k];
            if (f.OutputIndex < 0)
            {
                ref readonly WireTensor t = ref received[f.ReceivedOrdinal];
                writer.AddEncoded(k, t, job.Data.AsSpan(t.DataOffset, t.DataLength));
            }
            else if (f.Bits == WireTensor.RawFloatBits)
            {
                writer.AddRaw(k, produced[f.OutputIndex].AsSpan<float>(), f.Shape);
            }
            else
            {
                writer.AddQuantized(k, produced[f.OutputIndex].AsSpan<float>(), f.Shape, f.Bits);
            }
        }
        writer.Complete();
        return buffer.WrittenSpan.ToArray();
    }

    public void OnAnswer(in ResultMessage result, ReadOnlySpan<float> logits)
    {
        if (_waiting.TryRemove(result.RequestId, out var w))
        {
            w.Requester.Answer(result with { RequestId = w.UpstreamId }, logits);
        }
    }

    public void OnFailed(ErrorMessage error)
    {
        if (_waiting.TryRemove(error.RequestId, out var w))
        {
            w.Requester.Fail(w.UpstreamId, error.Reason, $"the next hop: {error.Message}");
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _queue.Writer.TryComplete();
        _stopping.Cancel();
        _loop.Wait(TimeSpan.FromSeconds(5));
        _sendLoop.Wait(TimeSpan.FromSeconds(5));
        _stopping.Dispose();
        _session?.Dispose();
    }
}
