using System.Globalization;
using Coach.Engine.Onnx.Proto;
using Coach.Native.OnnxRuntime;

namespace Coach.Engine.Data;

/// <summary>Order of the colour channels a model takes.</summary>
public enum ChannelOrder
{
    Rgb,
    Bgr,
}

/// <summary>
/// What a model's image input expects (docs/data.md, "Input contract"): input name, size C×H×W (always NCHW), channel
/// order, pixel scale and per-channel mean/std. The model input of a uint8 pixel v of channel c is
/// <c>(v / ScaleDivisor − Mean[c]) / Std[c]</c>, or <c>v / ScaleDivisor</c> when the normalisation is inside the graph.
/// </summary>
/// <param name="ScaleDivisor">255 (pixels in 0 … 1, torchvision's convention and the bundled models') or 1 (0 … 255, Caffe-style).</param>
/// <param name="Mean">Per-channel mean in the scaled units, in the model's channel order.</param>
/// <param name="Std">Per-channel standard deviation in the scaled units, in the model's channel order.</param>
/// <param name="ClassNames">The card's class names, or null when it has none (the Fashion-MNIST names are then used).</param>
/// <param name="Origin">Where the contract came from, for logs: a card file, the ONNX metadata, or the default.</param>
public sealed record InputContract(
    string InputName,
    int Height,
    int Width,
    ChannelOrder ChannelOrder,
    float ScaleDivisor,
    float[] Mean,
    float[] Std,
    bool NormalizationInGraph,
    IReadOnlyList<string>? ClassNames,
    string Origin)
{
    public const int Channels = 3;

    /// <summary>torchvision's ImageNet mean and std (RGB, scale 1/255).</summary>
    public static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f];
    public static readonly float[] ImageNetStd = [0.229f, 0.224f, 0.225f];

    /// <summary>Today's convention, kept for models without a card: RGB, value / 255, no mean/std.</summary>
    public static InputContract Default(int height, int width, string inputName = "input") =>
        new(inputName, height, width, ChannelOrder.Rgb, 255f, [0f, 0f, 0f], [1f, 1f, 1f], false, null, DefaultOrigin);

    private const string DefaultOrigin = "default (RGB, value/255, no mean/std)";

    /// <summary>True when neither a card nor the ONNX metadata said anything: today's default throughout.</summary>
    public bool IsDefault => Origin == DefaultOrigin;

    /// <summary>Floats one frame takes (3·H·W).</summary>
    public int FrameFloats => Channels * Height * Width;

    /// <summary>The subtrahend of channel <paramref name="channel"/> in pixel units: (v − offset) / divisor is the model input.</summary>
    public float PixelOffset(int channel) => NormalizationInGraph ? 0f : Mean[channel] * ScaleDivisor;

    /// <summary>The divisor of channel <paramref name="channel"/> in pixel units.</summary>
    public float PixelDivisor(int channel) => NormalizationInGraph ? ScaleDivisor : Std[channel] * ScaleDivisor;

    /// <summary>True when frames go in as today's default does: RGB, value / 255.</summary>
    public bool IsDefaultPreprocessing =>
        ChannelOrder == ChannelOrder.Rgb && Enumerable.Range(0, Channels).All(c => PixelOffset(c) == 0f && PixelDivisor(c) == 255f);

    /// <summary>One line for the user: everything the frames will go through.</summary>
    public string Describe()
    {
        static string Three(float[] v) => string.Join(",", v.Select(x => x.ToString("0.####", CultureInfo.InvariantCulture)));
        var normalisation = NormalizationInGraph ? "normalisation inside the graph" : $"mean {Three(Mean)}, std {Three(Std)}";
        var labels = ClassNames is null ? "" : $", {ClassNames.Count} class names";
        return $"input '{InputName}' [N, 3, {Height}, {Width}] NCHW, {ChannelOrder.ToString().ToUpperInvariant()}, value/{ScaleDivisor.ToString(CultureInfo.InvariantCulture)}, {normalisation}{labels} ({Origin})";
    }

    /// <summary>Checks the values; throws <see cref="InvalidDataException"/> naming <paramref name="where"/> and the bad field.</summary>
    public void Validate(string where)
    {
        if (Height < 1 || Width < 1)
        {
            throw new InvalidDataException($"{where}: the input size {Height}×{Width} is not a fixed image size; give one (e.g. --input-size 224x224)");
        }
        if (ScaleDivisor is not (255f or 1f))
        {
            throw new InvalidDataException($"{where}: scale {ScaleDivisor} is neither 255 (pixels/255, 0…1) nor 1 (0…255)");
        }
        foreach (var (name, values) in new[] { ("mean", Mean), ("std", Std) })
        {
            if (values is not { Length: 3 } || values.Any(v => !float.IsFinite(v)))
            {
                throw new InvalidDataException($"{where}: {name} needs three finite numbers (R,G,B in the model's channel order), got [{string.Join(", ", values ?? [])}]");
            }
        }
        if (Std.Any(s => s <= 0))
        {
            throw new InvalidDataException($"{where}: std [{string.Join(", ", Std)}] must be positive in every channel");
        }
    }

    /// <summary>
    /// The contract of <paramref name="modelPath"/>: input name and shape from the ONNX file (ONNX Runtime), the
    /// Windows ML image metadata (<c>Image.BitmapPixelFormat</c>, <c>Image.NominalPixelRange</c>) when the file has them,
    /// then the card beside it (<see cref="ModelCard.PathFor"/>), which has the last word; today's default where neither says.
    /// </summary>
    public static InputContract ForModel(string modelPath)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        var (inputName, shape) = ReadInput(modelPath);
        var cardPath = ModelCard.PathFor(modelPath);
        var card = File.Exists(cardPath) ? ModelCard.Load(cardPath) : null;
        return Resolve(modelPath, inputName, shape, ReadMetadata(modelPath), card, cardPath);
    }

    /// <summary>As <see cref="ForModel"/>, but null for a model without a card whose input is not an image batch
    /// [N, 3, H, W] of a fixed size (a test graph, a model fed tensors): there is nothing to preprocess.</summary>
    public static InputContract? TryForModel(string modelPath)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        if (!File.Exists(ModelCard.PathFor(modelPath)))
        {
            var (_, shape) = ReadInput(modelPath);
            if (shape is not [_, 3, > 0, > 0])
            {
                return null;
            }
        }
        return ForModel(modelPath);
    }

    /// <summary>Combines the ONNX input, its metadata and an optional card (see <see cref="ForModel"/>).</summary>
    public static InputContract Resolve(string modelPath, string inputName, long[] shape, IReadOnlyDictionary<string, string> metadata,
        ModelCard? card, string? cardPath)
    {
        var where = card is null ? modelPath : cardPath ?? modelPath;
        if (shape.Length != 4)
        {
            throw new InvalidDataException($"{modelPath}: input '{inputName}' is [{string.Join(", ", shape)}], not an image batch [N, 3, H, W]");
        }
        if (shape[3] == 3 && shape[1] != 3)
        {
            throw new InvalidDataException(
                $"{modelPath}: input '{inputName}' is [{string.Join(", ", shape)}], channels last (NHWC); Coach feeds NCHW frames: " +
                "export the model channels first (PyTorch does by default; for TensorFlow use tf2onnx --inputs-as-nchw)");
        }
        if (shape[1] is not (3 or -1))
        {
            throw new InvalidDataException($"{modelPath}: input '{inputName}' has {shape[1]} channels; Coach feeds 3-channel colour frames [N, 3, H, W]");
        }
        int height = (int)shape[2], width = (int)shape[3];
        if (card?.InputSize is { } size)
        {
            if (size.Length != 3 || size[0] != 3 || size[1] < 1 || size[2] < 1)
            {
                throw new InvalidDataException($"{where}: input_size [{string.Join(", ", size)}] is not [3, H, W]");
            }
            if ((height > 0 && height != size[1]) || (width > 0 && width != size[2]))
            {
                throw new InvalidDataException($"{where}: input_size 3×{size[1]}×{size[2]} disagrees with the model's fixed input {height}×{width}; give the model's own size or leave it out");
            }
            (height, width) = (size[1], size[2]);
        }
        if (height < 1 || width < 1)
        {
            throw new InvalidDataException(
                $"{modelPath}: input '{inputName}' is [{string.Join(", ", shape)}], its height or width is dynamic; fix it with `coach models add {modelPath} --input-size HxW`");
        }
        if (card?.InputName is { } named && named != inputName)
        {
            throw new InvalidDataException($"{where}: input_name '{named}' is not the model's input '{inputName}'; fix the card or write it again with `coach models add`");
        }

        var contract = Default(height, width, inputName);
        var origins = new List<string>();
        if (metadata.TryGetValue("Image.BitmapPixelFormat", out var format))
        {
            contract = contract with
            {
                ChannelOrder = format switch
                {
                    "Rgb8" or "Rgba8" => ChannelOrder.Rgb,
                    "Bgr8" or "Bgra8" => ChannelOrder.Bgr,
                    _ => throw new InvalidDataException($"{modelPath}: metadata Image.BitmapPixelFormat '{format}' is not a colour format Coach feeds (Rgb8, Bgr8)"),
                },
            };
            origins.Add("ONNX metadata");
        }
        if (metadata.TryGetValue("Image.NominalPixelRange", out var range))
        {
            contract = range switch
            {
                "NominalRange_0_255" => contract with { ScaleDivisor = 1f },
                "Normalized_0_1" => contract with { ScaleDivisor = 255f },
                "Normalized_1_1" => contract with { ScaleDivisor = 255f, Mean = [0.5f, 0.5f, 0.5f], Std = [0.5f, 0.5f, 0.5f] },
                _ => throw new InvalidDataException($"{modelPath}: metadata Image.NominalPixelRange '{range}' is not one Coach feeds (NominalRange_0_255, Normalized_0_1, Normalized_1_1)"),
            };
            if (!origins.Contains("ONNX metadata"))
            {
                origins.Add("ONNX metadata");
            }
        }
        if (card is not null)
        {
            contract = card.ApplyTo(contract, where);
            origins.Add(where);
        }
        contract = contract with { Origin = origins.Count == 0 ? contract.Origin : string.Join(" + ", origins) };
        contract.Validate(where);
        return contract;
    }

    /// <summary>The first input's name and shape as ONNX Runtime reports them (-1 for a dynamic dimension).</summary>
    public static (string Name, long[] Shape) ReadInput(string modelPath)
    {
        if (!File.Exists(modelPath))
        {
            throw new FileNotFoundException($"{modelPath}: no such model file", modelPath);
        }
        using var session = InferenceSession.Open(modelPath, new SessionSettings { Providers = [ExecutionProvider.Cpu], Optimization = GraphOptimization.Disabled });
        return (session.Inputs[0].Name, [.. session.Inputs[0].Shape]);
    }

    /// <summary>The model's metadata_props (key → value).</summary>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string modelPath)
    {
        using var file = File.OpenRead(modelPath);
        var model = ModelProto.Parser.ParseFrom(file);
        var props = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in model.MetadataProps)
        {
            props[entry.Key] = entry.Value;
        }
        return props;
    }
}
