using System.Text.Json;
using System.Text.Json.Serialization;
using Coach.Engine.Data;
using Coach.Engine.DataPlane;
using Coach.Engine.Graph;
using Coach.Engine.Onnx;
using Coach.Native.Compression;
using Coach.Native.OnnxRuntime;
using Google.Protobuf;

namespace Coach.Engine.Calibration;

/// <summary>
/// How much smaller each float tensor of a model travels when its packed UAQ codes are zstd-coded (docs/protocol.md
/// compression code 2; docs/entropy.md): per tensor and per width 2…8, Σ coded bytes / Σ packed bytes over calibration
/// frames, where a frame whose coding would not be shorter counts at its packed size (the edge then sends it packed).
/// The planner multiplies a cut tensor's payload by it in T_t (eq. 2), so a cut whose activations code well (ReLU
/// outputs, mostly zero codes) becomes cheaper to send and the cut can move.
/// </summary>
public sealed class CodedSizeTable
{
    public const string CurrentSchema = "coach.coded-size/1";

    /// <summary>The coder whose sizes these are.</summary>
    public const string CoderName = "zstd-1";

    /// <summary>Frames measured by default: the ratio of a tensor varies little from frame to frame (docs/entropy.md).</summary>
    public const int DefaultFrames = 16;

    public string Schema { get; init; } = CurrentSchema;
    public required string ModelSha256 { get; init; }
    public required string DataFingerprint { get; init; }
    public required int Frames { get; init; }
    public string Coder { get; init; } = CoderName;

    /// <summary>The coder's time on this machine per packed byte it takes (encoding only; the cloud decodes).</summary>
    public double EncodeSecondsPerPackedByte { get; init; }

    /// <summary>Tensor name → 7 ratios, for 2…8 bits. The coded bytes are made non-decreasing in the width (a width's coded
    /// size is at least any narrower width's), so a tensor's T_t never falls when bits rise, as the planner's bounds assume.</summary>
    public Dictionary<string, double[]> Ratios { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Coded / packed bytes of <paramref name="tensor"/> at <paramref name="bits"/>; 1 for raw float32 and unmeasured tensors.</summary>
    public double Ratio(string tensor, int bits) =>
        bits is >= 2 and <= 8 && Ratios.TryGetValue(tensor, out var r) ? r[bits - 2] : 1.0;

    /// <summary>
    /// Measures every float tensor a node of <paramref name="graph"/> produces on the first <paramref name="frames"/> frames:
    /// one ONNX Runtime run a frame with every such tensor exposed as an output.
    /// </summary>
    public static CodedSizeTable Measure(LayerGraph graph, ILabelledFrames data, int frames = DefaultFrames)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(data);
        frames = Math.Min(frames, data.Count);
        if (frames < 1)
        {
            throw new ArgumentException($"{data.Source} holds no frame to measure coded sizes on");
        }
        ShapeDiscovery.Complete(graph);
        var measured = graph.Tensors.Where(t => t.Producer >= 0 && t.ElementType == OnnxElementTypes.Float && t.ShapeKnown).ToArray();
        var exposed = graph.Model.Clone();
        var declared = exposed.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var t in measured.Where(t => !declared.Contains(t.Name)))
        {
            exposed.Graph.Output.Add(OnnxBuilder.FloatValue(t.Name, [.. t.Shape!.Select((d, i) => i == 0 ? -1 : d)]));
        }
        var settings = new SessionSettings { Providers = [ExecutionProvider.Cpu], Optimization = GraphOptimization.Disabled };
        using var session = InferenceSession.Open(exposed.ToByteArray(), settings, "coded-size measurement");
        var inputName = graph.Tensors[graph.InputTensors[0]].Name;
        var (channels, height, width) = data.FrameShape;
        var frame = DenseTensor.Create(TensorElementType.Float, [1, channels, height, width]);
        var names = measured.Select(t => t.Name).ToArray();
        var coded = new double[names.Length, 7];
        var packed = new double[names.Length, 7];
        using var coder = new Zstd();
        byte[] packBuffer = [];
        byte[] codeBuffer = [];
        long encodeTicks = 0;
        double encodedBytes = 0;
        for (int f = 0; f < frames; f++)
        {
            data.RenderFrame(f, frame.AsSpan<float>());
            var values = session.Run([new NamedTensor(inputName, frame)], names);
            for (int t = 0; t < names.Length; t++)
            {
                var v = values[t].AsSpan<float>();
                for (int bits = 2; bits <= 8; bits++)
                {
                    int length = Uaq.PackedByteCount(v.Length, bits);
                    if (packBuffer.Length < length)
                    {
                        packBuffer = new byte[length];
                        codeBuffer = new byte[Zstd.MaxCompressedLength(length)];
                    }
                    Uaq.QuantizePack(v, bits, packBuffer.AsSpan(0, length));
                    long start = System.Diagnostics.Stopwatch.GetTimestamp();
                    bool ok = coder.TryCompress(packBuffer.AsSpan(0, length), codeBuffer, out int written);
                    encodeTicks += System.Diagnostics.Stopwatch.GetTimestamp() - start;
                    encodedBytes += length;
                    int size = ok ? Math.Min(written, length) : length;
                    coded[t, bits - 2] += size;
                    packed[t, bits - 2] += length;
                }
            }
        }
        var ratios = new Dictionary<string, double[]>(StringComparer.Ordinal);
        for (int t = 0; t < names.Length; t++)
        {
            var r = new double[7];
            double floor = 0;
            for (int b = 0; b < 7; b++)
            {
                floor = Math.Max(floor, coded[t, b]);
                r[b] = packed[t, b] > 0 ? Math.Round(Math.Min(1.0, floor / packed[t, b]), 4) : 1.0;
            }
            ratios[names[t]] = r;
        }
        return new CodedSizeTable
        {
            ModelSha256 = graph.Sha256,
            DataFingerprint = data.Fingerprint,
            Frames = frames,
            Ratios = ratios,
            EncodeSecondsPerPackedByte = encodedBytes > 0 ? encodeTicks / (double)System.Diagnostics.Stopwatch.Frequency / encodedBytes : 0,
        };
    }

    /// <summary>The table for this model and these frames from <paramref name="cacheDirectory"/>, measured and saved there when absent.</summary>
    public static CodedSizeTable LoadOrMeasure(LayerGraph graph, ILabelledFrames data, string cacheDirectory, int frames = DefaultFrames)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(data);
        var path = Path.Combine(cacheDirectory, $"{graph.Sha256[..16]}-d{data.Fingerprint[..8]}-{CoderName}-n{frames}.json");
        if (File.Exists(path))
        {
            try
            {
                var cached = JsonSerializer.Deserialize(File.ReadAllText(path), CodedSizeJsonContext.Default.CodedSizeTable);
                if (cached is { Schema: CurrentSchema } && cached.ModelSha256 == graph.Sha256 && cached.DataFingerprint == data.Fingerprint)
                {
                    return cached;
                }
            }
            catch (JsonException)
            {
                // A damaged cache is measured again.
            }
        }
        var table = Measure(graph, data, frames);
        Directory.CreateDirectory(cacheDirectory);
        File.WriteAllText(path + ".tmp", JsonSerializer.Serialize(table, CodedSizeJsonContext.Default.CodedSizeTable));
        File.Move(path + ".tmp", path, overwrite: true);
        return table;
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(CodedSizeTable))]
internal sealed partial class CodedSizeJsonContext : JsonSerializerContext;
