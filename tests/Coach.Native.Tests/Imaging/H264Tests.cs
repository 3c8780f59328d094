using Coach.Native.Imaging;

namespace Coach.Native.Tests.Imaging;

/// <summary>The H.264 stream codec through the real libx264 encoder and FFmpeg's h264 decoder.</summary>
public sealed class H264Tests
{
    private const int Side = 112;

    /// <summary>A correlated stream: a smooth colour field with a bright square that moves a few pixels a frame.</summary>
    private static byte[] Frame(int index)
    {
        var rgb = new byte[Side * Side * 3];
        int x0 = 10 + (3 * index % 70);
        int y0 = 20 + (2 * index % 60);
        for (int y = 0; y < Side; y++)
        {
            for (int x = 0; x < Side; x++)
            {
                int p = 3 * ((y * Side) + x);
                bool inSquare = x >= x0 && x < x0 + 24 && y >= y0 && y < y0 + 24;
                rgb[p] = (byte)(inSquare ? 230 : 40 + x);
                rgb[p + 1] = (byte)(inSquare ? 200 : 60 + y);
                rgb[p + 2] = (byte)(inSquare ? 30 : 120 + ((x + y) / 2));
            }
        }

        return rgb;
    }

    private static double Psnr(byte[] a, byte[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = a[i] - b[i];
            sum += d * d;
        }

        double mse = sum / a.Length;
        return mse == 0 ? double.PositiveInfinity : 10 * Math.Log10(255.0 * 255.0 / mse);
    }

    [Fact]
    public void AStreamRoundTripsFrameByFrameWithinAPsnrBoundAndPFramesAreSmaller()
    {
        using var encoder = new H264Encoder(Side, Side, crf: 23);
        using var decoder = new H264Decoder(Side, Side);
        var unit = new byte[H264Encoder.MaxEncodedLength(Side, Side)];
        var decoded = new byte[Side * Side * 3];
        var sizes = new List<int>();
        for (int i = 0; i < 30; i++)
        {
            byte[] frame = Frame(i);
            int length = encoder.Encode(frame, unit);
            Assert.Equal(i == 0, encoder.LastWasKey);
            sizes.Add(length);
            decoder.Decode(unit.AsSpan(0, length), decoded);
            // 4:2:0 chroma on the square's hard colour edges costs a few dB of RGB PSNR by itself.
            double psnr = Psnr(frame, decoded);
            Assert.True(psnr > 30, $"frame {i}: PSNR {psnr:F1} dB");
        }

        Assert.Equal(30, decoder.Frames);
        // Temporal redundancy: a P frame of this stream costs a fraction of its IDR frame.
        Assert.True(sizes.Skip(1).Average() < sizes[0] / 2.0, $"IDR {sizes[0]} B, P frames {sizes.Skip(1).Average():F0} B");
    }

    [Fact]
    public void AHigherRateFactorGivesFewerBytesAndALowerPsnr()
    {
        (double bytes, double psnr) Run(int crf)
        {
            using var encoder = new H264Encoder(Side, Side, crf);
            using var decoder = new H264Decoder(Side, Side);
            var unit = new byte[H264Encoder.MaxEncodedLength(Side, Side)];
            var decoded = new byte[Side * Side * 3];
            double bytes = 0, psnr = 0;
            for (int i = 0; i < 10; i++)
            {
                byte[] frame = Frame(i);
                int length = encoder.Encode(frame, unit);
                decoder.Decode(unit.AsSpan(0, length), decoded);
                bytes += length;
                psnr += Psnr(frame, decoded);
            }

            return (bytes / 10, psnr / 10);
        }

        var fine = Run(15);
        var coarse = Run(40);
        Assert.True(coarse.bytes < fine.bytes, $"crf 40: {coarse.bytes:F0} B, crf 15: {fine.bytes:F0} B");
        Assert.True(coarse.psnr < fine.psnr, $"crf 40: {coarse.psnr:F1} dB, crf 15: {fine.psnr:F1} dB");
    }

    [Fact]
    public void ARestartBeginsANewStreamAFreshDecoderCanJoin()
    {
        using var encoder = new H264Encoder(Side, Side, crf: 28);
        var unit = new byte[H264Encoder.MaxEncodedLength(Side, Side)];
        for (int i = 0; i < 5; i++)
        {
            encoder.Encode(Frame(i), unit);
        }

        Assert.False(encoder.LastWasKey);
        encoder.Restart();
        using var decoder = new H264Decoder(Side, Side);
        var decoded = new byte[Side * Side * 3];
        for (int i = 5; i < 8; i++)
        {
            int length = encoder.Encode(Frame(i), unit);
            Assert.Equal(i == 5, encoder.LastWasKey);
            decoder.Decode(unit.AsSpan(0, length), decoded);
        }
    }

    [Fact]
    public void DataThatIsNotAStreamsNextPictureIsRefused()
    {
        using var encoder = new H264Encoder(Side, Side, crf: 28);
        var unit = new byte[H264Encoder.MaxEncodedLength(Side, Side)];
        var decoded = new byte[Side * Side * 3];
        int idr = encoder.Encode(Frame(0), unit);
        byte[] first = unit[..idr];
        int p = encoder.Encode(Frame(1), unit);
        byte[] second = unit[..p];

        // Random bytes, an empty unit, a stream that starts with a P frame.
        using (var decoder = new H264Decoder(Side, Side))
        {
            var noise = new byte[600];
            new Random(7).NextBytes(noise);
            Assert.Throws<InvalidDataException>(() => decoder.Decode(noise, decoded));
        }

        using (var decoder = new H264Decoder(Side, Side))
        {
            Assert.Throws<InvalidDataException>(() => decoder.Decode([], decoded));
        }

        using (var decoder = new H264Decoder(Side, Side))
        {
            Assert.Throws<InvalidDataException>(() => decoder.Decode(second, decoded));
        }

        // A picture of another size.
        using (var other = new H264Encoder(64, 64, crf: 28))
        using (var decoder = new H264Decoder(Side, Side))
        {
            var small = new byte[H264Encoder.MaxEncodedLength(64, 64)];
            int length = other.Encode(new byte[64 * 64 * 3], small);
            InvalidDataException e = Assert.Throws<InvalidDataException>(() => decoder.Decode(small.AsSpan(0, length), decoded));
            Assert.Contains("64×64", e.Message, StringComparison.Ordinal);
        }

        // A truncated IDR frame.
        using (var decoder = new H264Decoder(Side, Side))
        {
            Assert.Throws<InvalidDataException>(() => decoder.Decode(first.AsSpan(0, first.Length / 3), decoded));
        }
    }

    [Fact]
    public void EncodingAFrameAllocatesNothingInSteadyState()
    {
        using var encoder = new H264Encoder(Side, Side, crf: 28);
        var unit = new byte[H264Encoder.MaxEncodedLength(Side, Side)];
        byte[][] frames = [Frame(0), Frame(1), Frame(2), Frame(3)];
        for (int i = 0; i < 300; i++)
        {
            encoder.Encode(frames[i & 3], unit);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 200; i++)
        {
            encoder.Encode(frames[i & 3], unit);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
