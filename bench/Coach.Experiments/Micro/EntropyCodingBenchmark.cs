using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Coach.Engine.Data;
using Coach.Engine.DataPlane;
using Coach.Native.OnnxRuntime;
using Coach.Transport;

namespace Coach.Experiments;

/// <summary>One coder on one cut tensor: its mean coded bytes a frame, and its encode and decode time a frame.</summary>
public sealed record CodedTensorFigure(string Codec, string Input, double BytesPerFrame, double RatioToPacked, double EncodeMicroseconds, double DecodeMicroseconds);

/// <summary>One cut tensor of a plan: the UAQ bytes the wire carries today, the order-0 bound, and each coder's figures.</summary>
public sealed record CutTensorCoding(string Plan, string Tensor, int Bits, long Elements, int Frames, double PackedBytesPerFrame, double Order0BytesPerFrame,
    IReadOnlyList<CodedTensorFigure> Figures);

/// <summary>
/// <c>coach bench entropy</c>: can the UAQ codes of a plan's cut tensors be coded losslessly into fewer bytes, and at what
/// CPU cost? Each frame runs the plan's head (ONNX Runtime, CPU), each cut tensor is quantized and packed at the plan's
/// bits exactly as the edge sends it, and every candidate coder (<see cref="LosslessCodecs"/>) encodes and decodes both
/// the packed bytes and the unpacked codes (one byte a value) — a round trip that must give back the same bytes.
/// </summary>
public static class EntropyCodingBenchmark
{
    public static IReadOnlyList<CutTensorCoding> Measure(PlanDirectory plan, ILabelledFrames frames, int frameCount, IReadOnlyList<ILosslessCodec>? codecs = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(frames);
        codecs ??= LosslessCodecs.All;
        if (plan.IsEdgeOnly)
        {
            throw new ArgumentException($"{plan.DirectoryPath} is an edge-only plan: nothing crosses the link");
        }
        frameCount = Math.Min(frameCount, frames.Count);
        if (frameCount < 1)
        {
            throw new ArgumentException($"{frames.Source} holds no frame");
        }
        var settings = new SessionSettings { Providers = [ExecutionProvider.Cpu], Optimization = GraphOptimization.All };
        using var head = plan.HeadPath is null ? null : InferenceSession.Open(plan.HeadPath, settings);
        var inputName = head?.Inputs[0].Name ?? plan.CutTensors[0].Name;
        var (channels, height, width) = frames.FrameShape;
        var frame = DenseTensor.Create(TensorElementType.Float, [1, channels, height, width]);
        var names = plan.CutTensors.Select(c => c.Name).ToArray();
        var totals = plan.CutTensors.Select(_ => new Totals(codecs.Count)).ToArray();
        // Frame 0 is coded once untimed first, so no coder's first call (JIT, tables) counts.
        for (int f = -1; f < frameCount; f++)
        {
            frames.RenderFrame(Math.Max(f, 0), frame.AsSpan<float>());
            var values = head is null ? [frame] : head.Run([new NamedTensor(inputName, frame)], names);
            for (int t = 0; t < names.Length; t++)
            {
                Code(values[t].AsSpan<float>(), plan.CutTensors[t].Bits, codecs, f < 0 ? new Totals(codecs.Count) : totals[t]);
            }
        }
        return [.. plan.CutTensors.Select((c, t) => totals[t].Report(Path.GetFileName(plan.DirectoryPath), c, frameCount, codecs))];
    }

    private sealed class Totals(int codecs)
    {
        public double Packed;
        public double Order0;
        public long Elements;
        public readonly double[,] Bytes = new double[codecs, 2];
        public readonly double[,] EncodeTicks = new double[codecs, 2];
        public readonly double[,] DecodeTicks = new double[codecs, 2];

        public CutTensorCoding Report(string plan, CutTensorSpec tensor, int frames, IReadOnlyList<ILosslessCodec> codecs)
        {
            var figures = new List<CodedTensorFigure>();
            double microsecondsPerTick = 1e6 / Stopwatch.Frequency;
            for (int c = 0; c < codecs.Count; c++)
            {
                for (int i = 0; i < 2; i++)
                {
                    figures.Add(new CodedTensorFigure(codecs[c].Name, i == 0 ? "packed" : "codes", Bytes[c, i] / frames, Bytes[c, i] / Packed,
                        EncodeTicks[c, i] * microsecondsPerTick / frames, DecodeTicks[c, i] * microsecondsPerTick / frames));
                }
            }
            return new CutTensorCoding(plan, tensor.Name, tensor.Bits, Elements, frames, Packed / frames, Order0 / frames, figures);
        }
    }

    private static void Code(ReadOnlySpan<float> values, int bits, IReadOnlyList<ILosslessCodec> codecs, Totals totals)
    {
        // The model input of a cloud-only plan goes as 8-bit pixels; float cuts as UAQ codes at the plan's bits.
        int width = bits is >= 2 and <= 8 ? bits : 8;
        var packed = new byte[Uaq.PackedByteCount(values.Length, width)];
        Uaq.QuantizePack(values, width, packed);
        var codes = new byte[values.Length];
        Uaq.UnpackCodes(packed, width, codes);
        totals.Packed += packed.Length;
        totals.Order0 += LosslessCodecs.Order0Bytes(codes);
        totals.Elements = values.Length;
        for (int c = 0; c < codecs.Count; c++)
        {
            for (int i = 0; i < 2; i++)
            {
                byte[] source = i == 0 ? packed : codes;
                var coded = new byte[codecs[c].MaxEncodedLength(source.Length)];
                var decoded = new byte[source.Length];
                long start = Stopwatch.GetTimestamp();
                int length = codecs[c].Encode(source, coded);
                long encoded = Stopwatch.GetTimestamp();
                codecs[c].Decode(coded.AsSpan(0, length), decoded);
                long end = Stopwatch.GetTimestamp();
                if (!decoded.AsSpan().SequenceEqual(source))
                {
                    throw new InvalidOperationException($"{codecs[c].Name} did not give back the bytes it coded");
                }
                totals.Bytes[c, i] += length;
                totals.EncodeTicks[c, i] += encoded - start;
                totals.DecodeTicks[c, i] += end - encoded;
            }
        }
    }

    /// <summary>A table; CPU times are this machine's and, scaled by <paramref name="edgeSlowdown"/>, the emulated edge's.</summary>
    public static void WriteTable(IReadOnlyList<CutTensorCoding> cuts, double edgeSlowdown, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(cuts);
        ArgumentNullException.ThrowIfNull(output);
        foreach (var cut in cuts)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{cut.Plan}: {cut.Tensor} at {cut.Bits} bits, {cut.Elements:N0} values, {cut.Frames} frames: UAQ packed {cut.PackedBytesPerFrame:N0} B/frame, order-0 bound {cut.Order0BytesPerFrame:N0} B ({cut.Order0BytesPerFrame / cut.PackedBytesPerFrame:0.000})"));
            output.WriteLine($"  {"coder",-9} {"input",-7} {"B/frame",9} {"× packed",9} {"enc µs",8} {"dec µs",8} {$"enc µs ×{edgeSlowdown:0.#}",12}");
            foreach (var f in cut.Figures.OrderBy(f => f.BytesPerFrame))
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {f.Codec,-9} {f.Input,-7} {f.BytesPerFrame,9:N0} {f.RatioToPacked,9:0.000} {f.EncodeMicroseconds,8:0.0} {f.DecodeMicroseconds,8:0.0} {f.EncodeMicroseconds * edgeSlowdown,12:0.0}"));
            }
        }
    }

    public static string Json(IReadOnlyList<CutTensorCoding> cuts, double edgeSlowdown)
    {
        ArgumentNullException.ThrowIfNull(cuts);
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteNumber("edge_slowdown", edgeSlowdown);
            writer.WriteStartArray("cuts");
            foreach (var cut in cuts)
            {
                writer.WriteStartObject();
                writer.WriteString("plan", cut.Plan);
                writer.WriteString("tensor", cut.Tensor);
                writer.WriteNumber("bits", cut.Bits);
                writer.WriteNumber("values", cut.Elements);
                writer.WriteNumber("frames", cut.Frames);
                writer.WriteNumber("packed_bytes_per_frame", Math.Round(cut.PackedBytesPerFrame, 1));
                writer.WriteNumber("order0_bytes_per_frame", Math.Round(cut.Order0BytesPerFrame, 1));
                writer.WriteStartArray("coders");
                foreach (var f in cut.Figures)
                {
                    writer.WriteStartObject();
                    writer.WriteString("coder", f.Codec);
                    writer.WriteString("input", f.Input);
                    writer.WriteNumber("bytes_per_frame", Math.Round(f.BytesPerFrame, 1));
                    writer.WriteNumber("ratio_to_packed", Math.Round(f.RatioToPacked, 4));
                    writer.WriteNumber("encode_us", Math.Round(f.EncodeMicroseconds, 2));
                    writer.WriteNumber("decode_us", Math.Round(f.DecodeMicroseconds, 2));
                    writer.WriteNumber("edge_encode_us", Math.Round(f.EncodeMicroseconds * edgeSlowdown, 2));
                    writer.WriteEndObject();
                }
                writer.WriteEndArray();
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }
}
