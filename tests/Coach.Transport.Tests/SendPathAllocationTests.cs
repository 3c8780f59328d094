using System.Buffers;
using System.IO.Pipelines;
using Coach.Engine.DataPlane;
using Coach.Transport.Protocol;

namespace Coach.Transport.Tests;

public class SendPathAllocationTests
{
    /// <summary>
    /// The edge's per-frame path without ONNX Runtime: pack a 64×28×28 cut tensor with UAQ straight
    /// into a PipeWriter, flush, read it back, cut the frame, parse the request, dequantize, answer
    /// with a Result and parse that — 1,000 times, 0 bytes allocated once warm.
    /// </summary>
    [Fact]
    public void SteadyStateSendAndReceivePathAllocatesNothing()
    {
        var pipe = new Pipe(new PipeOptions(
            pool: null,
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: 4 << 20,
            resumeWriterThreshold: 2 << 20,
            minimumSegmentSize: 16 << 10,
            useSynchronizationContext: false));
        const int elements = 64 * 28 * 28;
        float[] cut = new float[elements];
        var random = new Random(3);
        for (int i = 0; i < cut.Length; i++)
        {
            cut[i] = (float)random.NextDouble() * 4 - 1;
        }

        int[] shape = [1, 64, 28, 28];
        float[] restored = new float[elements];
        float[] logits = new float[10];
        float[] logitsBack = new float[10];
        var tensors = new WireTensor[WireLimits.Default.MaxTensorsPerFrame];
        byte[] scratch = new byte[1 << 20];
        long checksum = 0;

        void OneFrame(int i)
        {
            int bits = 2 + (i % 7);
            int capacity = RequestFrameWriter.TensorCapacity(shape.Length, elements, bits);
            var writer = RequestFrameWriter.Begin(pipe.Writer, new RequestHeader((ulong)i + 1, i, i, 1), capacity);
            writer.AddQuantized(0, cut, shape, bits);
            writer.Complete();
            ResultMessage.Write(pipe.Writer, new ResultMessage((ulong)i + 1, i % 10, 1, 100, 10, 1, 2, logits.Length), logits);
            ValueTask<FlushResult> flush = pipe.Writer.FlushAsync();
            Assert.True(flush.IsCompletedSuccessfully);
            _ = flush.Result;

            ValueTask<ReadResult> read = pipe.Reader.ReadAsync();
            Assert.True(read.IsCompletedSuccessfully);
            ReadOnlySequence<byte> buffer = read.Result.Buffer;
            Assert.True(FrameReader.TryReadFrame(ref buffer, WireLimits.Default, out Frame request));
            RequestHeader header = RequestReader.Read(request.GetPayloadSpan(scratch), WireLimits.Default, tensors);
            ReadOnlySpan<byte> payload = request.GetPayloadSpan(scratch);
            Uaq.UnpackDequantize(payload.Slice(tensors[0].DataOffset, tensors[0].DataLength), tensors[0].Quantization, restored);
            Assert.True(FrameReader.TryReadFrame(ref buffer, WireLimits.Default, out Frame answer));
            ResultMessage result = ResultMessage.Read(answer.GetPayloadSpan(scratch), WireLimits.Default, logitsBack);
            checksum += (long)header.RequestId + result.Label;
            pipe.Reader.AdvanceTo(buffer.Start, buffer.End);
        }

        for (int i = 0; i < 100; i++)
        {
            OneFrame(i); // warm: pool buffers, pipe segments, JIT tiers
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            OneFrame(i);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.True(checksum > 0);
        Assert.InRange(restored[5], cut[5] - 1f, cut[5] + 1f);
    }
}
