namespace Coach.Engine.Planning;

/// <summary>
/// Paper-scale layer DAGs built without a model file: ResNet-101 (33 bottleneck blocks with identity and
/// projection shortcuts, 224×224 input) and VGG-16, with every tensor's real size and layer times proportional
/// to FLOPs on a given edge and cloud throughput. For planner timing and search-space counts when the exported
/// ONNX files are not at hand.
/// </summary>
public static class SyntheticNetworks
{
    private sealed class Builder(double edgeFlops, double cloudFlops)
    {
        public readonly List<string> Names = [];
        public readonly List<double> Edge = [];
        public readonly List<double> Cloud = [];
        public readonly List<(string Name, int Producer, List<int> Consumers, long Elements, long[] Shape)> Tensors = [];

        public int Input(string name, params long[] shape)
        {
            Tensors.Add((name, -1, [], shape.Aggregate(1L, (a, b) => a * b), shape));
            return Tensors.Count - 1;
        }

        public int Layer(string name, double flops, long[] outShape, params int[] inputs)
        {
            int layer = Names.Count;
            Names.Add(name);
            // 15 µs of per-layer dispatch on the edge, 5 µs in the cloud
            Edge.Add(flops / edgeFlops + 15e-6);
            Cloud.Add(flops / cloudFlops + 5e-6);
            foreach (var t in inputs)
            {
                Tensors[t].Consumers.Add(layer);
            }
            Tensors.Add(($"{name}:0", layer, [], outShape.Aggregate(1L, (a, b) => a * b), outShape));
            return Tensors.Count - 1;
        }

        public long[] Shape(int t) => Tensors[t].Shape;

        public int Conv(string name, int input, long outChannels, int kernel, int stride)
        {
            var s = Shape(input);
            long h = (s[2] + stride - 1) / stride;
            long w = (s[3] + stride - 1) / stride;
            double flops = 2.0 * s[1] * outChannels * kernel * kernel * h * w;
            return Layer(name, flops, [1, outChannels, h, w], input);
        }

        public int Elementwise(string name, params int[] inputs) =>
            Layer(name, Tensors[inputs[0]].Elements * inputs.Length, Shape(inputs[0]), inputs);

        public PlanningProblem Build(CostSettings settings) => new(
            Names, [.. Edge], [.. Cloud],
            [.. Tensors.Select(t => new PlanTensor(t.Name, t.Producer, [.. t.Consumers], t.Elements, 1, t.Shape))],
            settings);
    }

    /// <summary>ResNet-101 (or another bottleneck ResNet with <paramref name="blocksPerStage"/>).</summary>
    public static PlanningProblem ResNet(CostSettings settings, int[]? blocksPerStage = null, double edgeFlops = 50e9, double cloudFlops = 2e12)
    {
        ArgumentNullException.ThrowIfNull(settings);
        blocksPerStage ??= [3, 4, 23, 3];
        var b = new Builder(edgeFlops, cloudFlops);
        int x = b.Input("image", 1, 3, 224, 224);
        x = b.Elementwise("stem.relu", b.Conv("stem.conv", x, 64, 7, 2));
        var s = b.Shape(x);
        x = b.Layer("stem.maxpool", s[1] * s[2] * s[3] * 9.0 / 4, [1, 64, 56, 56], x);
        long width = 64;
        for (int stage = 0; stage < blocksPerStage.Length; stage++)
        {
            for (int block = 0; block < blocksPerStage[stage]; block++)
            {
                string p = $"layer{stage + 1}.{block}";
                int stride = block == 0 && stage > 0 ? 2 : 1;
                int y = b.Elementwise($"{p}.relu1", b.Conv($"{p}.conv1", x, width, 1, 1));
                y = b.Elementwise($"{p}.relu2", b.Conv($"{p}.conv2", y, width, 3, stride));
                y = b.Conv($"{p}.conv3", y, width * 4, 1, 1);
                int shortcut = block == 0 ? b.Conv($"{p}.downsample", x, width * 4, 1, stride) : x;
                x = b.Elementwise($"{p}.relu3", b.Elementwise($"{p}.add", y, shortcut));
            }
            width *= 2;
        }
        var last = b.Shape(x);
        x = b.Layer("avgpool", last[1] * last[2] * last[3], [1, last[1], 1, 1], x);
        b.Layer("fc", 2.0 * last[1] * 1000, [1, 1000], x);
        return b.Build(settings);
    }

    /// <summary>VGG-16: 13 convolutions with ReLUs, 5 max-pools, 3 fully connected layers (a chain).</summary>
    public static PlanningProblem Vgg16(CostSettings settings, double edgeFlops = 50e9, double cloudFlops = 2e12)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var b = new Builder(edgeFlops, cloudFlops);
        int x = b.Input("image", 1, 3, 224, 224);
        int[][] stages = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]];
        for (int s = 0; s < stages.Length; s++)
        {
            for (int c = 0; c < stages[s].Length; c++)
            {
                x = b.Elementwise($"features.{s}.{c}.relu", b.Conv($"features.{s}.{c}.conv", x, stages[s][c], 3, 1));
            }
            var sh = b.Shape(x);
            x = b.Layer($"features.{s}.pool", sh[1] * sh[2] * sh[3], [1, sh[1], sh[2] / 2, sh[3] / 2], x);
        }
        long features = b.Shape(x).Skip(1).Aggregate(1L, (a, v) => a * v);
        x = b.Elementwise("fc1.relu", b.Layer("fc1", 2.0 * features * 4096, [1, 4096], x));
        x = b.Elementwise("fc2.relu", b.Layer("fc2", 2.0 * 4096 * 4096, [1, 4096], x));
        b.Layer("fc3", 2.0 * 4096 * 1000, [1, 1000], x);
        return b.Build(settings);
    }
}
