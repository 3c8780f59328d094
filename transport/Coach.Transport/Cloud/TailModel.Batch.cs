using System.Runtime.InteropServices;
using Coach.Engine.Data;
using Coach.Engine.DataPlane;
using Coach.Native.Compression;
using Coach.Native.OnnxRuntime;
using Coach.Transport.Protocol;

namespace Coach.Transport.Cloud;

public sealed partial class TailModel
{
    /// <summary>Time each batch is held before it runs (fault injection: a cloud too busy to keep up); its requests, and those
    /// arriving meanwhile, really queue, and their Results report it. Set through <see cref="CloudServer.TailStall"/>.</summary>
    internal long StallTicks;

    private void RunBatch(List<TailJob> batch)
    {
        long stall = Interlocked.Read(ref StallTicks);
        if (stall > 0)
        {
            Thread.Sleep(TimeSpan.FromTicks(stall));
        }

        long start = MonotonicClock.NowMicros;
        Interlocked.Add(ref _waiting, -batch.Count);
        BatchBuffers buffers;
        try
        {
            buffers = BuffersFor(batch.Count);
        }
        catch (Exception e)
        {
            FailBatch(batch, e);
            return;
        }

        var ready = 0;
        for (int row = 0; row < batch.Count; row++)
        {
            TailJob job = batch[row];
            _metrics.RequestDequeued(start - job.EnqueuedMicros);
            try
            {
                Dequantize(job, buffers, row);
                ready++;
            }
            catch (Exception e) when (e is InvalidDataException or ArgumentException)
            {
                // Data that does not decode (an LZ4 block of another length) is a framing fault, 107: it
                // closes that connection (docs/protocol.md §6). The wire gets our words; the log the cause.
                job.Failed = true;
                _log($"cloud: request {job.RequestId} of client {job.Requester.ClientId}: {e.GetType().Name}: {e.Message}");
                job.Requester.Violate(ReasonCode.MalformedPayload, $"request {job.RequestId}: its tensor data does not decode (an LZ4 or zstd block must decompress to exactly the packed size of its tensor, a JPEG to exactly the frame's height × width × 3, an H.264 access unit to the connection's stream's next picture of exactly that size)");
                EndStream(job.Requester);
                _metrics.Failed();
            }
        }

        long computeStart = MonotonicClock.NowMicros;
        if (Route is { } route)
        {
            // Re-aligned (docs/fleet.md §4): this batch runs the bridge and joins the later tail's batches.
            Forward(batch, buffers, route, computeStart);
            return;
        }

        try
        {
            if (ready > 0)
            {
                buffers.Binding.Run();
            }
        }
        catch (Exception e)
        {
            FailBatch(batch, e);
            return;
        }

        long computeMicros = MonotonicClock.NowMicros - computeStart;
        if (_slowdown?.Invoke() is > 1 and var factor)
        {
            computeMicros = new Edge.EmulatedDeviceClock(factor).Dilate(computeStart, computeStart + computeMicros) - computeStart;
        }

        _metrics.BatchRun(batch.Count, computeMicros);
        ReadOnlySpan<float> logits = buffers.Output.AsSpan<float>();
        for (int row = 0; row < batch.Count; row++)
        {
            TailJob job = batch[row];
            if (!job.Failed)
            {
                ReadOnlySpan<float> rowLogits = logits.Slice(row * ClassCount, ClassCount);
                var result = new ResultMessage(
                    job.RequestId,
                    ModelEvaluator.ArgMax(rowLogits),
                    batch.Count,
                    (int)Math.Min(int.MaxValue, computeMicros),
                    (int)Math.Min(int.MaxValue, computeStart - job.EnqueuedMicros),
                    job.FirstByteMicros,
                    job.LastByteMicros,
                    job.WantLogits ? ClassCount : 0);
                job.Requester.Answer(result, job.WantLogits ? rowLogits : []);
                _metrics.Answered();
            }

            job.Release();
        }

        if (_streams.Count > 0)
        {
            foreach (ITailRequester requester in _streams.Keys)
            {
                if (requester.IsClosed)
                {
                    EndStream(requester);
                }
            }
        }
    }

    /// <summary>Forgets a connection's H.264 stream (it closed, or sent what does not decode and is being closed).</summary>
    private void EndStream(ITailRequester requester)
    {
        if (_streams.Remove(requester, out Native.Imaging.H264Decoder? decoder))
        {
            decoder.Dispose();
        }
    }

    /// <summary>
    /// Any failure to run a batch (ONNX Runtime's, or binding buffers of its size) answers each of its
    /// requests with TailFailed; were it to escape, the batch loop would end and requests would hang.
    /// The cause goes to the log only: runtime exception text never goes on the wire.
    /// </summary>
    private void FailBatch(List<TailJob> batch, Exception e)
    {
        _log($"cloud: tail of plan {Plan.Id} failed on a batch of {batch.Count}: {e.GetType().Name}: {e.Message}");
        foreach (TailJob job in batch)
        {
            if (!job.Failed)
            {
                job.Requester.Fail(job.RequestId, ReasonCode.TailFailed, $"request {job.RequestId}: the tail of plan {Plan.Id} failed on its batch (the cloud's log says why)");
                _metrics.Failed();
            }

            job.Release();
        }
    }

    private void Dequantize(TailJob job, BatchBuffers buffers, int row)
    {
        for (int i = 0; i < job.TensorCount; i++)
        {
            ref readonly WireTensor t = ref job.Tensors[i];
            TailInput input = Inputs[t.Ordinal];
            Span<float> destination = buffers.Inputs[t.Ordinal].AsSpan<float>().Slice(row * input.ElementsPerFrame, input.ElementsPerFrame);
            ReadOnlySpan<byte> source = job.Data.AsSpan(t.DataOffset, t.DataLength);
            if (t.Compression == TensorCompression.Jpeg)
            {
                DecodeJpeg(source, t.Dims[3], t.Dims[2], destination);
                continue;
            }

            if (t.Compression == TensorCompression.H264)
            {
                DecodeH264(job.Requester, source, t.Dims[3], t.Dims[2], destination);
                continue;
            }

            if (t.Compression is TensorCompression.Lz4 or TensorCompression.Zstd)
            {
                int expected = checked((int)WireTensor.EncodedByteCount(input.ElementsPerFrame, t.Bits));
                if (_decompressed.Length < expected)
                {
                    _decompressed = new byte[expected];
                }

                int written;
                bool decoded = t.Compression == TensorCompression.Lz4
                    ? Lz4.TryDecompress(source, _decompressed.AsSpan(0, expected), out written)
                    : _zstd.TryDecompress(source, _decompressed.AsSpan(0, expected), out written);
                if (!decoded || written != expected)
                {
                    throw new InvalidDataException($"{t.Compression} data of cut tensor {input.Name} does not decompress to {expected} bytes");
                }

                source = _decompressed.AsSpan(0, expected);
            }

            if (t.Bits == WireTensor.RawFloatBits)
            {
                MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
            }
            else
            {
                Uaq.UnpackDequantize(source, t.Quantization, destination);
            }
        }
    }

    /// <summary>A JPEG frame (compression 3, checked as [1,3,H,W] at 8 bits): decoded to exactly H×W×3 RGB, then value/255
    /// in planar order, which is what the 8-bit frame's UAQ (scale 1/255, zero point 0) dequantizes to.</summary>
    private void DecodeJpeg(ReadOnlySpan<byte> jpeg, int width, int height, Span<float> planar)
    {
        int pixels = width * height;
        if (_rgb.Length != 3 * pixels)
        {
            _rgb = new byte[3 * pixels];
        }

        _jpeg ??= new Native.Imaging.TurboJpeg();
        _jpeg.Decode(jpeg, width, height, _rgb);
        Native.Imaging.TurboJpeg.ToPlanar(_rgb, planar);
    }

    /// <summary>An H.264 frame (compression 4, checked as [1,3,H,W] at 8 bits): the next picture of the requester's stream,
    /// decoded to exactly H×W×3 RGB, then value/255 in planar order. The first request of a connection opens its decoder.</summary>
    private void DecodeH264(ITailRequester requester, ReadOnlySpan<byte> accessUnit, int width, int height, Span<float> planar)
    {
        if (_rgb.Length != 3 * width * height)
        {
            _rgb = new byte[3 * width * height];
        }

        if (!_streams.TryGetValue(requester, out Native.Imaging.H264Decoder? decoder) || decoder.Width != width || decoder.Height != height)
        {
            EndStream(requester);
            decoder = new Native.Imaging.H264Decoder(width, height);
            _streams[requester] = decoder;
        }

        decoder.Decode(accessUnit, _rgb);
        Native.Imaging.TurboJpeg.ToPlanar(_rgb, planar);
    }

    private BatchBuffers BuffersFor(int batchSize)
    {
        if (!_buffers.TryGetValue(batchSize, out BatchBuffers? buffers))
        {
            var inputs = Inputs.Select(x => PinnedTensor.Create(TensorElementType.Float, [batchSize, .. x.FrameShape])).ToArray();
            var output = PinnedTensor.Create(TensorElementType.Float, [batchSize, .. OutputFrameShape]);
            SessionBinding binding;
            try
            {
                binding = Session.Bind(
                    Inputs.Select((x, i) => (x.Name, inputs[i])).ToArray(),
                    [(OutputName, output)]);
            }
            catch
            {
                // A tail that cannot run this batch size (a fixed batch dimension): nothing is kept.
                foreach (PinnedTensor input in inputs)
                {
                    input.Dispose();
                }

                output.Dispose();
                throw;
            }

            buffers = new BatchBuffers(inputs, output, binding);
            _buffers[batchSize] = buffers;
        }

        return buffers;
    }

    private sealed class BatchBuffers(PinnedTensor[] inputs, PinnedTensor output, SessionBinding binding) : IDisposable
    {
        public PinnedTensor[] Inputs { get; } = inputs;

        public PinnedTensor Output { get; } = output;

        public SessionBinding Binding { get; } = binding;

        public void Dispose()
        {
            Binding.Dispose();
            foreach (PinnedTensor input in Inputs)
            {
                input.Dispose();
            }

            Output.Dispose();
        }
    }
}
