using Coach.Engine.Coded;
using Coach.Native.OnnxRuntime;
using Google.Protobuf;

namespace Coach.Engine.Tests.Coded;

public class CodedConvolutionTests(ITestOutputHelper output)
{
    public static TheoryData<int, int> Codes() => new() { { 2, 1 }, { 3, 2 }, { 4, 2 }, { 4, 3 }, { 5, 3 }, { 6, 3 }, { 6, 4 }, { 6, 5 }, { 8, 4 }, { 8, 6 } };

    [Theory]
    [MemberData(nameof(Codes))]
    public void EveryKSubsetOfAnMdsCodeDecodesTheSlices(int n, int k)
    {
        var code = LinearCode.SystematicVandermonde(n, k);
        var random = new Random((n * 10) + k);
        var slices = new double[k][];
        for (int j = 0; j < k; j++)
        {
            slices[j] = [.. Enumerable.Range(0, 16).Select(_ => (random.NextDouble() * 2) - 1)];
        }

        // The systematic rows are the identity.
        for (int i = 0; i < k; i++)
        {
            for (int j = 0; j < k; j++)
            {
                Assert.Equal(i == j ? 1.0 : 0.0, code[i, j]);
            }
        }

        int subsets = 0;
        var inverse = new double[k * k];
        var scratch = new double[2 * k * k];
        foreach (var rows in LinearCode.Subsets(n, k))
        {
            var g = new double[k * k];
            for (int i = 0; i < k; i++)
            {
                for (int j = 0; j < k; j++)
                {
                    g[(i * k) + j] = code[rows[i], j];
                }
            }

            Assert.True(LinearCode.Invert(g, inverse, k, scratch), $"rows {string.Join(',', rows)} of the ({n},{k}) code are singular");
            for (int j = 0; j < k; j++)
            {
                for (int e = 0; e < 16; e++)
                {
                    double decoded = 0;
                    for (int i = 0; i < k; i++)
                    {
                        double coded = 0;
                        for (int m = 0; m < k; m++)
                        {
                            coded += code[rows[i], m] * slices[m][e];
                        }

                        decoded += inverse[(j * k) + i] * coded;
                    }

                    Assert.True(Math.Abs(decoded - slices[j][e]) < 1e-10, $"({n},{k}) rows {string.Join(',', rows)}: slice {j} off by {decoded - slices[j][e]:G3}");
                }
            }

            subsets++;
        }

        Assert.Equal(Binomial(n, k), subsets);
        var (worst, worstRows) = code.WorstConditionNumber();
        output.WriteLine($"({n},{k}) worst condition number {worst:F1} at rows {string.Join(',', worstRows)}");
        Assert.True(worst < (n <= 6 ? 50 : 400), $"({n},{k}): worst condition number {worst:F1}");
    }

    [Fact]
    public void ReplicationDecodesOnlyWhenEverySliceHasAnAnswer()
    {
        var layer = VggConvolution(2, out _);
        var coded = new CodedConvolution(layer, LinearCode.Replication(6, 3));
        Span<int> chosen = stackalloc int[3];
        Assert.False(coded.TrySelect([0, 3, 1, 4], chosen)); // slices 0, 0, 1, 1: slice 2 missing
        Assert.True(coded.TrySelect([0, 3, 1, 4, 5], chosen));
        Assert.Equal([0, 1, 5], chosen.ToArray());
        var mds = new CodedConvolution(layer, LinearCode.SystematicVandermonde(6, 3));
        Assert.True(mds.TrySelect([5, 3, 4], chosen));
        Assert.False(mds.TrySelect([5, 3], chosen));
    }

    public static TheoryData<int, int, int> LayersAndCodes()
    {
        var data = new TheoryData<int, int, int>();
        for (int conv = 0; conv < 6; conv++)
        {
            data.Add(conv, 6, 4);
        }

        data.Add(1, 4, 2);
        data.Add(1, 5, 3);
        data.Add(1, 6, 5);
        data.Add(5, 6, 3);
        return data;
    }

    /// <summary>
    /// Every convolution of the VGG model, coded and run in ONNX Runtime: the output decoded from every k of the n
    /// answers equals the layer's own output within the stated bound (docs/coded.md §2.3):
    /// |ŷ − y| ≤ ‖G_S⁻¹‖_∞ · 2⁻¹⁴ · max |y|.
    /// </summary>
    [Theory]
    [MemberData(nameof(LayersAndCodes))]
    public void EveryConvolutionDecodesFromEveryKOfNAnswers(int convolution, int n, int k)
    {
        var layer = VggConvolution(convolution, out var values);
        var input = values[layer.InputName];
        var expected = values[layer.OutputName].AsSpan<float>();
        var coded = new CodedConvolution(layer, LinearCode.SystematicVandermonde(n, k));
        using var session = InferenceSession.Open(coded.SliceModel(flatten: true).ToByteArray(), SplitRunExecutor.CpuSettings, "coded slice");
        coded.Split(input.AsSpan<float>());
        for (int w = 0; w < n; w++)
        {
            var slice = DenseTensor.Create(TensorElementType.Float, coded.SliceInputShape);
            coded.Encode(w, slice.AsSpan<float>());
            var answer = session.Run([new NamedTensor(layer.InputName, slice)])[0];
            Assert.Equal(coded.SliceOutputLength, answer.ElementCount);
            answer.AsSpan<float>().CopyTo(coded.Answer(w));
        }

        double scale = 0;
        foreach (float v in expected)
        {
            scale = Math.Max(scale, Math.Abs(v));
        }

        var decoded = new float[expected.Length];
        double worst = 0, worstRelative = 0;
        foreach (var rows in LinearCode.Subsets(n, k))
        {
            double inverseNorm = coded.Decode(rows, decoded);
            double error = 0;
            for (int e = 0; e < decoded.Length; e++)
            {
                error = Math.Max(error, Math.Abs(decoded[e] - expected[e]));
            }

            double bound = inverseNorm * Math.Pow(2, -14) * scale;
            Assert.True(error <= bound, $"conv {convolution} ({n},{k}) rows {string.Join(',', rows)}: max |decoded − layer| = {error:G3} > bound {bound:G3}");
            worst = Math.Max(worst, error);
            worstRelative = Math.Max(worstRelative, error / scale);
        }

        output.WriteLine($"conv {convolution} ({n},{k}): max abs error {worst:G3} over {Binomial(n, k)} subsets, relative to max |y| {worstRelative:G3}");
    }

    [Fact]
    public void EncodingAndDecodingAFrameAllocateNothing()
    {
        var layer = VggConvolution(1, out var values);
        var coded = new CodedConvolution(layer, LinearCode.SystematicVandermonde(6, 4));
        var input = values[layer.InputName].AsSpan<float>().ToArray();
        var slice = new float[coded.SliceInputLength];
        var decoded = new float[values[layer.OutputName].ElementCount];
        int[] rows = [5, 1, 4, 2];
        int[] chosen = new int[4];
        void Frame()
        {
            coded.Split(input);
            for (int w = 0; w < 6; w++)
            {
                coded.Encode(w, slice);
            }

            coded.TrySelect(rows, chosen);
            coded.Decode(chosen, decoded);
        }

        for (int i = 0; i < 300; i++)
        {
            Frame();
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 50; i++)
        {
            Frame();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    internal static LayerRun VggConvolution(int index, out Dictionary<string, DenseTensor> values)
    {
        var (model, graph, v) = SpatialSplitTests.Bundled("vgg-fm112");
        values = v;
        var conv = graph.Nodes.Where(n => n.OpType == "Conv").ElementAt(index);
        return LayerRun.FromModel(model, [conv.Name], v[conv.Proto.Input[0]].Shape);
    }

    private static int Binomial(int n, int k)
    {
        long r = 1;
        for (int i = 1; i <= k; i++)
        {
            r = r * (n - k + i) / i;
        }

        return (int)r;
    }
}
