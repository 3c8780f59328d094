using Coach.Engine.Coded;
using Coach.Engine.Data;
using Coach.Engine.Graph;
using Coach.Engine.Onnx;
using Coach.Engine.Onnx.Proto;
using Coach.Native.OnnxRuntime;
using Google.Protobuf;

namespace Coach.Engine.Tests.Coded;

public class SpatialSplitTests
{
    // The slices run the same kernels on fewer rows; ONNX Runtime may block the GEMM differently for another size,
    // so a sum can round differently in the last bit: the split is exact up to a few ulps of the output's scale.
    private const double RelativeTolerance = 1e-5;

    public static TheoryData<string> TestdataLayers() =>
    [
        "pytorch-converted/test_Conv1d", "pytorch-converted/test_Conv1d_dilated", "pytorch-converted/test_Conv1d_groups",
        "pytorch-converted/test_Conv1d_pad1", "pytorch-converted/test_Conv1d_pad2", "pytorch-converted/test_Conv1d_stride",
        "pytorch-converted/test_Conv2d", "pytorch-converted/test_Conv2d_depthwise", "pytorch-converted/test_Conv2d_depthwise_padded",
        "pytorch-converted/test_Conv2d_depthwise_strided", "pytorch-converted/test_Conv2d_depthwise_with_multiplier",
        "pytorch-converted/test_Conv2d_dilated", "pytorch-converted/test_Conv2d_groups", "pytorch-converted/test_Conv2d_groups_thnn",
        "pytorch-converted/test_Conv2d_no_bias", "pytorch-converted/test_Conv2d_padding", "pytorch-converted/test_Conv2d_strided",
        "pytorch-operator/test_operator_conv", "pytorch-operator/test_operator_maxpool",
        "node/test_basic_conv_with_padding", "node/test_basic_conv_without_padding", "node/test_conv_with_autopad_same",
        "node/test_conv_with_strides_and_asymmetric_padding", "node/test_conv_with_strides_no_padding", "node/test_conv_with_strides_padding",
        "node/test_maxpool_2d_dilations", "node/test_maxpool_2d_pads", "node/test_maxpool_2d_same_lower", "node/test_maxpool_2d_same_upper",
        "node/test_maxpool_2d_strides", "node/test_averagepool_2d_pads", "node/test_averagepool_2d_pads_count_include_pad",
        "node/test_averagepool_2d_same_lower", "node/test_averagepool_2d_strides", "node/test_averagepool_1d_default",
    ];

    [Theory]
    [MemberData(nameof(TestdataLayers))]
    public void EverySplitOfAnExportedLayerReassemblesItsOutput(string name)
    {
        var dir = Path.Combine("/usr/share/libonnx-testdata/data", name);
        Assert.True(Directory.Exists(dir), $"{dir} is missing: install the Debian package libonnx-testdata (./coach setup does)");
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dir, "model.onnx")));
        var input = OnnxTensorReader.ReadFile(Path.Combine(dir, "test_data_set_0", "input_0.pb"));
        // The ONNX node tests pass the weights as graph inputs: make them the initializers they are in an exported model.
        for (int i = model.Graph.Input.Count - 1; i >= 1; i--)
        {
            if (model.Graph.Initializer.Any(t => t.Name == model.Graph.Input[i].Name))
            {
                continue; // an older exporter lists its initializers among the inputs too
            }

            var weight = TensorProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dir, "test_data_set_0", $"input_{i}.pb")));
            weight.Name = model.Graph.Input[i].Name;
            model.Graph.Initializer.Add(weight);
            model.Graph.Input.RemoveAt(i);
        }

        var names = model.Graph.Node.Select((n, i) => LayerGraph.NodeName(n, i)).ToArray();
        var run = LayerRun.FromModel(model, names, input.Shape);
        using var full = InferenceSession.Open(model.ToByteArray(), SplitRunExecutor.CpuSettings, name);
        var expected = full.Run([new NamedTensor(model.Graph.Input[0].Name, input)], [run.OutputName])[0];
        Assert.Equal(expected.Shape, run.OutputShape);
        for (int k = 1; k <= Math.Min(6, (int)run.OutputShape[2]); k++)
        {
            AssertSplitMatches(run, k, input, expected, $"{name} k={k}");
        }
    }

    public static TheoryData<string> BundledModels() => ["resnet-fm112", "vgg-fm112"];

    [Theory]
    [MemberData(nameof(BundledModels))]
    public void EveryConvolutionOfABundledModelSplitsExactly(string modelName)
    {
        var (model, graph, values) = Bundled(modelName);
        int convolutions = 0;
        foreach (var node in graph.Nodes.Where(n => n.OpType == "Conv"))
        {
            var input = values[node.Proto.Input[0]];
            var run = LayerRun.FromModel(model, [node.Name], input.Shape);
            foreach (int k in new[] { 2, 3, 4, 7 }.Where(k => k <= run.OutputShape[2]))
            {
                AssertSplitMatches(run, k, input, values[node.Proto.Output[0]], $"{modelName} {node.Name} k={k}");
            }

            convolutions++;
        }

        Assert.Equal(modelName == "vgg-fm112" ? 6 : 21, convolutions);
    }

    [Fact]
    public void TheWholeFeatureStackOfTheVggModelSplitsAsOneRun()
    {
        var (model, graph, values) = Bundled("vgg-fm112");
        // Normalisation, six convolutions with their ReLUs and three max-pools: every layer before Flatten.
        var layers = graph.Nodes.TakeWhile(n => n.OpType != "Flatten").ToList();
        Assert.Equal(17, layers.Count);
        var input = values[layers[0].Proto.Input[0]];
        var run = LayerRun.FromModel(model, [.. layers.Select(l => l.Name)], input.Shape);
        foreach (int k in new[] { 2, 3, 5, 7 })
        {
            AssertSplitMatches(run, k, input, values[layers[^1].Proto.Output[0]], $"vgg features k={k}");
        }

        // The halo of a deep run is wide: 7 output rows of the stack need overlapping bands of the 112 input rows.
        var slices = run.Split(7);
        Assert.True(slices.Sum(s => s.InputRows) > 112, "the slices' bands overlap");
        Assert.Equal(0, slices[0].InputBegin);
        Assert.Equal(112, slices[^1].InputEnd);
    }

    [Fact]
    public void TheStemOfTheResNetModelSplitsAsOneRun()
    {
        var (model, graph, values) = Bundled("resnet-fm112");
        var layers = graph.Nodes.Take(5).ToList(); // Sub, Mul, Conv 7×7/2, Relu, MaxPool 3×3/2
        Assert.Equal("MaxPool", layers[^1].OpType);
        var input = values[layers[0].Proto.Input[0]];
        var run = LayerRun.FromModel(model, [.. layers.Select(l => l.Name)], input.Shape);
        foreach (int k in new[] { 2, 4, 6 })
        {
            AssertSplitMatches(run, k, input, values[layers[^1].Proto.Output[0]], $"resnet stem k={k}");
        }
    }

    public static TheoryData<int, int, int, int, int, int, string> SyntheticConvolutions() => new()
    {
        // kernel, stride, dilation, groups, pad top, pad bottom, auto_pad
        { 3, 1, 1, 1, 1, 1, "NOTSET" }, { 3, 2, 1, 1, 1, 1, "NOTSET" }, { 5, 3, 1, 1, 2, 0, "NOTSET" },
        { 3, 1, 2, 1, 2, 2, "NOTSET" }, { 3, 2, 3, 1, 0, 3, "NOTSET" }, { 3, 1, 1, 2, 1, 1, "NOTSET" },
        { 3, 2, 1, 4, 1, 1, "NOTSET" }, { 1, 2, 1, 1, 0, 0, "NOTSET" }, { 7, 2, 1, 1, 3, 3, "NOTSET" },
        { 4, 2, 1, 1, 0, 0, "SAME_UPPER" }, { 4, 3, 1, 2, 0, 0, "SAME_LOWER" }, { 3, 2, 2, 1, 0, 0, "VALID" },
    };

    [Theory]
    [MemberData(nameof(SyntheticConvolutions))]
    public void EveryConvolutionConfigurationSplitsExactly(int kernel, int stride, int dilation, int groups, int padTop, int padBottom, string autoPad)
    {
        const int channels = 4, outChannels = 8, height = 23, width = 17;
        var model = ConvModel(kernel, stride, dilation, groups, padTop, padBottom, autoPad, channels, outChannels, seed: (kernel * 31) + stride + dilation);
        var input = RandomTensor([2, channels, height, width], seed: 5);
        var run = LayerRun.FromModel(model, [LayerGraph.NodeName(model.Graph.Node[0], 0)], input.Shape);
        using var full = InferenceSession.Open(model.ToByteArray(), SplitRunExecutor.CpuSettings, "conv");
        var expected = full.Run([new NamedTensor("x", input)], ["y"])[0];
        for (int k = 1; k <= Math.Min(8, (int)run.OutputShape[2]); k++)
        {
            AssertSplitMatches(run, k, input, expected, $"conv k{kernel} s{stride} d{dilation} g{groups} pads {padTop}/{padBottom} {autoPad}, {k} slices");
        }
    }

    [Fact]
    public void ALayerThatIsNotWindowedOrElementwiseIsRefusedWithItsName()
    {
        var (model, graph, values) = Bundled("vgg-fm112");
        var flatten = graph.Nodes.First(n => n.OpType == "Flatten");
        var e = Assert.Throws<SpatialSplitException>(() => LayerRun.FromModel(model, [flatten.Name], values[flatten.Proto.Input[0]].Shape));
        Assert.Contains(flatten.Name, e.Message, StringComparison.Ordinal);
        Assert.Contains("Flatten", e.Message, StringComparison.Ordinal);
        var convs = graph.Nodes.Where(n => n.OpType == "Conv").ToList();
        var chain = Assert.Throws<SpatialSplitException>(() => LayerRun.FromModel(model, [convs[0].Name, convs[1].Name], values[convs[0].Proto.Input[0]].Shape));
        Assert.Contains("does not read", chain.Message, StringComparison.Ordinal);
    }

    internal static void AssertSplitMatches(LayerRun run, int k, DenseTensor input, DenseTensor expected, string what)
    {
        using var executor = new SplitRunExecutor(run, k);
        var actual = executor.Run(input);
        Assert.Equal(expected.Shape, actual.Shape);
        var e = expected.AsSpan<float>();
        var a = actual.AsSpan<float>();
        double scale = 1, worst = 0;
        for (int i = 0; i < e.Length; i++)
        {
            scale = Math.Max(scale, Math.Abs(e[i]));
            worst = Math.Max(worst, Math.Abs(e[i] - a[i]));
        }

        Assert.True(worst <= RelativeTolerance * scale, $"{what}: max |split − whole| = {worst:G3} at output scale {scale:G3}");
    }

    internal static (ModelProto Model, LayerGraph Graph, Dictionary<string, DenseTensor> Values) Bundled(string name)
    {
        var path = ModelCatalog.Get(name).Path;
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var graph = LayerGraph.FromModel(model);
        // Every intermediate value of one frame, from one run of the full model with all of them exposed.
        var exposed = model.Clone();
        var outputs = new List<string>();
        foreach (var node in graph.Nodes)
        {
            foreach (var o in node.Proto.Output)
            {
                if (!exposed.Graph.Output.Any(v => v.Name == o))
                {
                    exposed.Graph.Output.Add(new ValueInfoProto { Name = o });
                }

                outputs.Add(o);
            }
        }

        var frame = RandomTensor([1, 3, 112, 112], seed: 11, low: 0, high: 1);
        using var session = InferenceSession.Open(exposed.ToByteArray(), SplitRunExecutor.CpuSettings with { Optimization = GraphOptimization.Disabled }, name);
        var results = session.Run([new NamedTensor(model.Graph.Input[0].Name, frame)], outputs);
        var values = new Dictionary<string, DenseTensor>(StringComparer.Ordinal) { [model.Graph.Input[0].Name] = frame };
        for (int i = 0; i < outputs.Count; i++)
        {
            values[outputs[i]] = results[i];
        }

        return (model, graph, values);
    }

    internal static DenseTensor RandomTensor(long[] shape, int seed, float low = -1, float high = 1)
    {
        var t = DenseTensor.Create(TensorElementType.Float, shape);
        var random = new Random(seed);
        var span = t.AsSpan<float>();
        for (int i = 0; i < span.Length; i++)
        {
            span[i] = low + ((high - low) * random.NextSingle());
        }

        return t;
    }

    internal static ModelProto ConvModel(int kernel, int stride, int dilation, int groups, int padTop, int padBottom, string autoPad, int channels, int outChannels, int seed, bool bias = true)
    {
        var g = new GraphProto { Name = "conv" };
        g.Input.Add(OnnxBuilder.FloatValue("x", [2, channels, 23, 17]));
        g.Output.Add(new ValueInfoProto { Name = "y" });
        var random = new Random(seed);
        var w = new TensorProto { Name = "w", DataType = 1 };
        w.Dims.Add([outChannels, channels / groups, kernel, kernel]);
        for (int i = 0; i < outChannels * (channels / groups) * kernel * kernel; i++)
        {
            w.FloatData.Add((random.NextSingle() * 2) - 1);
        }

        g.Initializer.Add(w);
        var inputs = new List<string> { "x", "w" };
        if (bias)
        {
            var b = new TensorProto { Name = "b", DataType = 1 };
            b.Dims.Add(outChannels);
            for (int i = 0; i < outChannels; i++)
            {
                b.FloatData.Add(random.NextSingle() - 0.5f);
            }

            g.Initializer.Add(b);
            inputs.Add("b");
        }

        var node = OnnxBuilder.Node("Conv", [.. inputs], ["y"]);
        node.Attribute.Add(Ints("kernel_shape", kernel, kernel));
        node.Attribute.Add(Ints("strides", stride, stride));
        node.Attribute.Add(Ints("dilations", dilation, dilation));
        node.Attribute.Add(new AttributeProto { Name = "group", Type = AttributeProto.Types.AttributeType.Int, I = groups });
        if (autoPad == "NOTSET")
        {
            node.Attribute.Add(Ints("pads", padTop, 1, padBottom, 0));
        }
        else
        {
            node.Attribute.Add(new AttributeProto { Name = "auto_pad", Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(autoPad) });
        }

        g.Node.Add(node);
        var model = new ModelProto { IrVersion = 8, Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = 17 });
        return model;
    }

    private static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.Add(values);
        return a;
    }
}
