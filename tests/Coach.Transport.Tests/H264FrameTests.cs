using System.IO.Pipelines;
using Coach.Engine.Data;
using Coach.Native.Imaging;
using Coach.Transport.Protocol;

namespace Coach.Transport.Tests;

/// <summary>Input frames sent as an H.264 stream (compression code 4, the cloud-h264 plan) through the request writer and
/// reader, decoded in order, and the edge's steady state.</summary>
public sealed class H264FrameTests : IDisposable
{
    private const int Size = FrameRenderer.Size;
    private const int Pixels = Size * Size;
    private readonly H264Encoder _encoder = new(Size, Size, crf: 28);
    private readonly byte[] _scratch = new byte[1 << 20];
    private readonly byte[] _rgb = new byte[3 * Pixels];
    private readonly WireTensor[] _tensors = new WireTensor[WireLimits.Default.MaxTensorsPerFrame];

    public void Dispose() => _encoder.Dispose();

    private static Pipe NewPipe() => new(new PipeOptions(pool: null, readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: 4 << 20, resumeWriterThreshold: 2 << 20, minimumSegmentSize: 16 << 10, useSynchronizationContext: false));

    /// <summary>An in-memory pipe's read, which completes inline.</summary>
    private static ReadResult Completed(ValueTask<ReadResult> read)
    {
        Assert.True(read.IsCompletedSuccessfully);
        return read.Result;
    }

    /// <summary>Frames of the bundled high-correlation stream (one sample, jittered), as the edge's preprocessing makes them.</summary>
    private static float[][] Frames(int count)
    {
        var stream = TaskStream.Create(BundledData.LoadSlice(DataSplit.Calibration), StreamCorrelation.High, count, count, seed: 2);
        var frames = new float[count][];
        for (int i = 0; i < count; i++)
        {
            frames[i] = new float[3 * Pixels];
            stream.RenderFrame(i, frames[i]);
        }

        return frames;
    }

    [Fact]
    public void RequestsCarryTheStreamsAccessUnitsAndDecodeInOrderCloseToTheFrames()
    {
        var pipe = NewPipe();
        float[][] frames = Frames(12);
        using var decoder = new H264Decoder(Size, Size);
        var decoded = new byte[3 * Pixels];
        var planar = new float[3 * Pixels];
        var lengths = new List<int>();
        for (int i = 0; i < frames.Length; i++)
        {
            var writer = RequestFrameWriter.Begin(pipe.Writer, new RequestHeader((ulong)i + 1, i, i, 1), RequestFrameWriter.H264FrameCapacity(Size, Size));
            lengths.Add(writer.AddH264Frame(0, frames[i], [1, 3, Size, Size], _encoder, _rgb));
            writer.Complete();
            Assert.True(pipe.Writer.FlushAsync().IsCompletedSuccessfully);
            var buffer = Completed(pipe.Reader.ReadAsync()).Buffer;
            Assert.True(FrameReader.TryReadFrame(ref buffer, WireLimits.Default, out Frame request));
            RequestReader.Read(request.GetPayloadSpan(_scratch), WireLimits.Default, _tensors);
            ref readonly WireTensor t = ref _tensors[0];
            Assert.Equal(TensorCompression.H264, t.Compression);
            Assert.Equal(8, t.Bits);
            Assert.Equal(1f / 255f, t.Scale);
            Assert.Equal(lengths[i], t.DataLength);
            decoder.Decode(request.GetPayloadSpan(_scratch).Slice(t.DataOffset, t.DataLength), decoded);
            pipe.Reader.AdvanceTo(buffer.Start, buffer.End);
            TurboJpeg.ToPlanar(decoded, planar);
            double squared = 0;
            for (int k = 0; k < planar.Length; k++)
            {
                double d = planar[k] - frames[i][k];
                squared += d * d;
            }

            double psnr = 10 * Math.Log10(1 / (squared / planar.Length));
            Assert.True(psnr > 28, $"frame {i}: {psnr:F1} dB");
        }

        // Near-identical frames: the P frames cost a fraction of the IDR frame.
        Assert.True(lengths.Skip(1).Average() < lengths[0] / 2.0, $"IDR {lengths[0]} B, P frames {lengths.Skip(1).Average():F0} B on average");
    }

    [Fact]
    public void SteadyStateH264SendAllocatesNothing()
    {
        var pipe = NewPipe();
        float[][] frames = Frames(8);
        long bytes = 0;
        void OneFrame(int i)
        {
            var writer = RequestFrameWriter.Begin(pipe.Writer, new RequestHeader((ulong)i + 1, i, i, 1), RequestFrameWriter.H264FrameCapacity(Size, Size));
            writer.AddH264Frame(0, frames[i & 7], [1, 3, Size, Size], _encoder, _rgb);
            bytes += writer.Complete();
            _ = pipe.Writer.FlushAsync().Result;
            var buffer = pipe.Reader.ReadAsync().Result.Buffer;
            pipe.Reader.AdvanceTo(buffer.End);
        }

        for (int i = 0; i < 300; i++)
        {
            OneFrame(i); // warm, past the JIT's tiering thresholds (and past an IDR frame: keyint 250)
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 200; i++)
        {
            OneFrame(i);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(bytes > 0);
    }
}
