using System.Globalization;
using System.Security.Cryptography;
using Coach.Engine.Data.Media;
using Coach.Native.OnnxRuntime;

namespace Coach.Engine.Data;

/// <summary>What <c>coach models add</c> was told; null fields keep what the ONNX file or the default says.</summary>
public sealed record ModelCardRequest(
    string? InputSize = null,
    string? Mean = null,
    string? Std = null,
    string? ChannelOrder = null,
    string? Scale = null,
    string? LabelsPath = null,
    bool NormalizationInGraph = false);

/// <summary>
/// <c>coach models add</c> (docs/data.md, "Input contract"): checks a user's model in ONNX Runtime, resolves its input
/// contract from the file and the options, runs one frame through it, and writes <c>MODEL.card.json</c> beside it.
/// </summary>
public static class ModelRegistration
{
    /// <summary>Validates <paramref name="modelPath"/> with <paramref name="request"/> and writes the card; returns its path and the contract.</summary>
    public static (string CardPath, InputContract Contract) Add(string modelPath, ModelCardRequest request)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        ArgumentNullException.ThrowIfNull(request);
        var full = Path.GetFullPath(modelPath);
        if (!full.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"{modelPath}: give an ONNX model file (FILE.onnx)");
        }
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"{modelPath}: no such model file ({full})", full);
        }
        var card = new ModelCard
        {
            InputSize = request.InputSize is null ? null : [InputContract.Channels, .. ParseSize(request.InputSize)],
            ChannelOrder = request.ChannelOrder is null ? null : ParseChannelOrder(request.ChannelOrder),
            Scale = request.Scale is null ? null : ParseScale(request.Scale),
            Mean = request.Mean is null ? null : ParseTriple("--mean", request.Mean),
            Std = request.Std is null ? null : ParseTriple("--std", request.Std),
            NormalizationInGraph = request.NormalizationInGraph ? true : null,
            Labels = request.LabelsPath is null ? null : [.. MediaSource.ReadClassNames(request.LabelsPath)],
        };
        if (request.NormalizationInGraph && (card.Mean is not null || card.Std is not null))
        {
            throw new ArgumentException("--normalization-in-graph says the graph normalises its input itself; leave out --mean and --std");
        }

        using var session = InferenceSession.Open(full, new SessionSettings { Providers = [ExecutionProvider.Cpu] });
        var input = session.Inputs[0];
        var contract = InputContract.Resolve(full, input.Name, [.. input.Shape], InputContract.ReadMetadata(full), card, request.InputSize is null ? "coach models add" : $"--input-size {request.InputSize}");
        CheckOutput(session, full, contract);

        // One frame of mid-grey through the model at the contract's size: a dynamic size that the graph cannot take fails here, not in a plan.
        var frame = DenseTensor.Create(TensorElementType.Float, [1, InputContract.Channels, contract.Height, contract.Width]);
        var pixels = new byte[3 * contract.Height * contract.Width];
        Array.Fill(pixels, (byte)128);
        new FramePreprocessor(PixelFormat.PlanarRgb, contract.Height, contract.Width, contract).Run(pixels, frame.AsSpan<float>());
        try
        {
            session.Run([new NamedTensor(input.Name, frame)], [session.Outputs[0].Name]);
        }
        catch (OrtException e)
        {
            throw new InvalidDataException($"{modelPath}: ONNX Runtime could not run one 3×{contract.Height}×{contract.Width} frame ({e.Message}); check --input-size", e);
        }

        using (var stream = File.OpenRead(full))
        {
            var written = ModelCard.From(contract, Path.GetFileName(full), Convert.ToHexStringLower(SHA256.HashData(stream)));
            var cardPath = ModelCard.PathFor(full);
            File.WriteAllText(cardPath, written.ToJson());
            return (cardPath, InputContract.ForModel(full));
        }
    }

    /// <summary>"224x224" (or 224×224) → [224, 224], height first.</summary>
    public static int[] ParseSize(string text)
    {
        var parts = text.Split('x', '×', 'X');
        if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var height)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var width) && height > 0 && width > 0 && height <= 16384 && width <= 16384)
        {
            return [height, width];
        }
        throw new ArgumentException($"--input-size {text}: expected HxW in pixels, e.g. 224x224");
    }

    /// <summary>"0.485,0.456,0.406" → three floats.</summary>
    public static float[] ParseTriple(string option, string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new float[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!float.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) || !float.IsFinite(values[i]))
            {
                values = [];
                break;
            }
        }
        if (values.Length != 3 || (option == "--std" && values.Any(v => v <= 0)))
        {
            throw new ArgumentException($"{option} {text}: expected three {(option == "--std" ? "positive " : "")}numbers r,g,b in the scaled units, e.g. " +
                (option == "--std" ? "0.229,0.224,0.225" : "0.485,0.456,0.406") + " (ImageNet with --scale 255)");
        }
        return values;
    }

    public static string ParseChannelOrder(string text) => text.ToLowerInvariant() switch
    {
        "rgb" => "rgb",
        "bgr" => "bgr",
        _ => throw new ArgumentException($"--channel-order {text}: expected rgb or bgr"),
    };

    public static float ParseScale(string text) => text switch
    {
        "255" => 255f,
        "1" => 1f,
        _ => throw new ArgumentException($"--scale {text}: expected 255 (pixels / 255, inputs in 0…1) or 1 (inputs in 0…255)"),
    };

    private static void CheckOutput(InferenceSession session, string modelPath, InputContract contract)
    {
        var output = session.Outputs[0];
        if (contract.ClassNames is { } names && output.Shape is [_, var classes] && classes > 0 && classes != names.Count)
        {
            throw new InvalidDataException($"{modelPath}: output '{output.Name}' scores {classes} classes, --labels lists {names.Count}; give one name per class, in label order");
        }
    }
}
