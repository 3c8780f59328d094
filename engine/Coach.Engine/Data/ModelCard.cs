using System.Text.Json;
using System.Text.Json.Serialization;

namespace Coach.Engine.Data;

/// <summary>
/// <c>MODEL.card.json</c> beside <c>MODEL.onnx</c>: what the ONNX file does not say about its input (docs/data.md,
/// "Input contract"). Every field is optional; a missing one keeps what the ONNX file or the default says.
/// Written by <c>coach models add</c>.
/// </summary>
public sealed class ModelCard
{
    public const string CurrentSchema = "coach.card/1";

    public string Schema { get; set; } = CurrentSchema;

    /// <summary>The model file the card was written for (its file name) and its SHA-256, for the reader's benefit.</summary>
    public string? Model { get; set; }

    public string? ModelSha256 { get; set; }

    public string? InputName { get; set; }

    /// <summary>[3, H, W]; fixes a dynamic height and width.</summary>
    public int[]? InputSize { get; set; }

    /// <summary>Always "nchw" (the only layout Coach feeds).</summary>
    public string? Layout { get; set; }

    /// <summary>"rgb" or "bgr".</summary>
    public string? ChannelOrder { get; set; }

    /// <summary>Pixels are divided by this: 255 (0 … 1) or 1 (0 … 255).</summary>
    public float? Scale { get; set; }

    public float[]? Mean { get; set; }

    public float[]? Std { get; set; }

    /// <summary>True when the graph normalises its input itself: then no mean/std is applied outside it.</summary>
    public bool? NormalizationInGraph { get; set; }

    /// <summary>Class names in label order (copied from <c>--labels FILE</c>).</summary>
    public string[]? Labels { get; set; }

    /// <summary>The card file of <paramref name="modelPath"/>: <c>MODEL.onnx</c> → <c>MODEL.card.json</c>.</summary>
    public static string PathFor(string modelPath) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!, Path.GetFileNameWithoutExtension(modelPath) + ".card.json");

    public static ModelCard Load(string path)
    {
        ModelCard? card;
        try
        {
            card = JsonSerializer.Deserialize(File.ReadAllBytes(path), ModelCardJsonContext.Default.ModelCard);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a model card{(e.Path is { Length: > 1 } at ? $" (at {at})" : "")}: {e.Message}; write it again with `coach models add`", e);
        }
        if (card is null || card.Schema != CurrentSchema)
        {
            throw new InvalidDataException($"{path}: schema '{card?.Schema}', expected '{CurrentSchema}'; write it again with `coach models add`");
        }
        return card;
    }

    public string ToJson() => JsonSerializer.Serialize(this, ModelCardJsonContext.Default.ModelCard);

    /// <summary>The card of a resolved contract, as <c>coach models add</c> writes it and plan.json carries it.</summary>
    public static ModelCard From(InputContract contract, string? model = null, string? modelSha256 = null) => new()
    {
        Model = model,
        ModelSha256 = modelSha256,
        InputName = contract.InputName,
        InputSize = [InputContract.Channels, contract.Height, contract.Width],
        Layout = "nchw",
        ChannelOrder = contract.ChannelOrder == Data.ChannelOrder.Bgr ? "bgr" : "rgb",
        Scale = contract.ScaleDivisor,
        Mean = contract.Mean,
        Std = contract.Std,
        NormalizationInGraph = contract.NormalizationInGraph,
        Labels = contract.ClassNames?.ToArray(),
    };

    /// <summary>The contract a card alone describes (plan.json's copy); <paramref name="where"/> names it in errors.</summary>
    public InputContract ToContract(string where)
    {
        if (InputSize is not { Length: 3 } size)
        {
            throw new InvalidDataException($"{where}: input_size is missing; it needs [3, H, W]");
        }
        var contract = ApplyTo(InputContract.Default(size[1], size[2], InputName ?? "input"), where) with { Origin = where };
        contract.Validate(where);
        return contract;
    }

    /// <summary>This card's fields over <paramref name="contract"/>.</summary>
    public InputContract ApplyTo(InputContract contract, string where)
    {
        if (Layout is not (null or "nchw"))
        {
            throw new InvalidDataException($"{where}: layout '{Layout}' is not 'nchw'; Coach feeds NCHW frames (export the model channels first)");
        }
        var order = ChannelOrder switch
        {
            null => contract.ChannelOrder,
            "rgb" => Data.ChannelOrder.Rgb,
            "bgr" => Data.ChannelOrder.Bgr,
            _ => throw new InvalidDataException($"{where}: channel_order '{ChannelOrder}' is neither 'rgb' nor 'bgr'"),
        };
        var labels = Labels is { Length: 0 } ? throw new InvalidDataException($"{where}: labels is empty; leave it out or list the class names") : Labels;
        return contract with
        {
            ChannelOrder = order,
            ScaleDivisor = Scale ?? contract.ScaleDivisor,
            Mean = Mean ?? contract.Mean,
            Std = Std ?? contract.Std,
            NormalizationInGraph = NormalizationInGraph ?? contract.NormalizationInGraph,
            ClassNames = labels ?? contract.ClassNames,
        };
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow, AllowTrailingCommas = true, ReadCommentHandling = JsonCommentHandling.Skip)]
[JsonSerializable(typeof(ModelCard))]
internal sealed partial class ModelCardJsonContext : JsonSerializerContext;
