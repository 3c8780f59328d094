using Coach.Engine.Data;
using Coach.Engine.DataPlane;
using Coach.Engine.Planning;
using Coach.Experiments;
using Coach.Transport;

namespace Coach.Experiments.Tests.Micro;

/// <summary>The lossless coders of <c>coach bench entropy</c>: round trips, corrupt input, the order-0 bound, and a real plan.</summary>
public sealed class LosslessCodingTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("coach-entropy-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    public static TheoryData<string> Codecs() => [.. LosslessCodecs.All.Select(c => c.Name)];

    private static ILosslessCodec Codec(string name) => LosslessCodecs.All.Single(c => c.Name == name);

    private static byte[] RoundTrip(ILosslessCodec codec, byte[] source)
    {
        var coded = new byte[codec.MaxEncodedLength(source.Length)];
        int length = codec.Encode(source, coded);
        var decoded = new byte[source.Length];
        codec.Decode(coded.AsSpan(0, length), decoded);
        Assert.Equal(source, decoded);
        return coded[..length];
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void EveryCoderGivesBackPackedUaqCodesAtEveryWidth(string name)
    {
        var codec = Codec(name);
        var random = new Random(5);
        // ReLU-like activations: about half exactly zero, the rest spread; and pure noise.
        var relu = Enumerable.Range(0, 5000).Select(_ => Math.Max(0f, (float)random.NextDouble() * 2 - 1)).ToArray();
        var noise = Enumerable.Range(0, 5000).Select(_ => (float)random.NextDouble()).ToArray();
        foreach (var values in new[] { relu, noise })
        {
            for (int bits = 2; bits <= 8; bits++)
            {
                var packed = new byte[Uaq.PackedByteCount(values.Length, bits)];
                Uaq.QuantizePack(values, bits, packed);
                RoundTrip(codec, packed);
                var codes = new byte[values.Length];
                Uaq.UnpackCodes(packed, bits, codes);
                Assert.All(codes, c => Assert.True(c < 1 << bits));
                RoundTrip(codec, codes);
            }
        }
        RoundTrip(codec, new byte[1]);
        Assert.True(RoundTrip(codec, new byte[10_000]).Length < 200, $"{name} does not compress 10,000 zero bytes");
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void ATruncatedOrFlippedCodingIsRefusedOrDecodesToOtherBytes(string name)
    {
        var codec = Codec(name);
        var random = new Random(9);
        var source = Enumerable.Range(0, 4096).Select(i => (byte)(i % 7 == 0 ? random.Next(16) : 0)).ToArray();
        var coded = RoundTrip(codec, source);
        for (int trial = 0; trial < 200; trial++)
        {
            var damaged = (byte[])coded.Clone();
            if (trial % 2 == 0)
            {
                damaged = damaged[..random.Next(damaged.Length)];
            }
            else
            {
                damaged[random.Next(damaged.Length)] ^= (byte)(1 << random.Next(8));
            }
            var decoded = new byte[source.Length];
            try
            {
                codec.Decode(damaged, decoded);
            }
            catch (InvalidDataException)
            {
                continue;
            }
            // A coder without a checksum may decode damage into other bytes of the right length; never into a crash
            // or an exception other than InvalidDataException (the wire's CRC is what catches these).
        }
    }

    [Fact]
    public void TheOrder0BoundIsTheEntropyOfTheCodes()
    {
        Assert.Equal(0, LosslessCodecs.Order0Bytes(new byte[100]));
        var fourSymbols = Enumerable.Range(0, 800).Select(i => (byte)(i % 4)).ToArray();
        Assert.Equal(800 * 2 / 8.0, LosslessCodecs.Order0Bytes(fourSymbols), 9);
        var skewed = Enumerable.Range(0, 1000).Select(i => (byte)(i < 900 ? 0 : 1)).ToArray();
        double h = -(0.9 * Math.Log2(0.9) + 0.1 * Math.Log2(0.1));
        Assert.Equal(1000 * h / 8, LosslessCodecs.Order0Bytes(skewed), 9);
    }

    [Fact]
    public void ThePlanOfTheBundledModelIsCodedWithEveryCoderAndZeroHeavyActivationsShrink()
    {
        string model = ModelCatalog.Get("resnet-fm112").Path;
        string profile = Path.Combine(ModelCatalog.RepositoryRoot, "models", "profiles", "resnet-fm112.cpu.json");
        string planPath = Path.Combine(_directory, "plan");
        PlanningSession.Run(new PlanningOptions
        {
            Model = model, EdgeProfile = profile, CloudProfile = profile, EdgeSlowdown = 8, Bandwidth = "10mbit",
            BitsSource = "fixed:4", Method = "coach", InputCodec = "none", OutputDirectory = planPath,
        });
        var plan = PlanDirectory.Load(planPath);
        Assert.False(plan.IsEdgeOnly);
        var cuts = EntropyCodingBenchmark.Measure(plan, BundledData.LoadSlice(DataSplit.Test), 20);
        Assert.Equal(plan.CutTensors.Count, cuts.Count);
        foreach (var cut in cuts)
        {
            Assert.Equal(20, cut.Frames);
            Assert.Equal(Uaq.PackedByteCount((int)cut.Elements, plan.CutTensors.Single(c => c.Name == cut.Tensor).Bits is var b and >= 2 and <= 8 ? b : 8), cut.PackedBytesPerFrame);
            Assert.Equal(LosslessCodecs.All.Count * 2, cut.Figures.Count);
            Assert.All(cut.Figures, f => Assert.True(f.BytesPerFrame > 0 && f.EncodeMicroseconds > 0));
            // A ReLU output is mostly zeros: its codes carry less than the packed width (the order-0 bound shows it).
            Assert.True(cut.Order0BytesPerFrame < cut.PackedBytesPerFrame, $"order-0 {cut.Order0BytesPerFrame} vs packed {cut.PackedBytesPerFrame}");
        }
    }
}
