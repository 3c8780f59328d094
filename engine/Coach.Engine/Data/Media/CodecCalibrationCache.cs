using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Coach.Engine.Data.Media;

/// <summary>
/// The frame codec's calibration (<see cref="CodecCalibration"/>) kept on disk per model, frames, codec and ε, as the
/// coded-size table is: it decodes and classifies every calibration frame at each setting tried, 20–60 s on this
/// machine for the bundled models, and its answer changes only with the model, the frames or ε. A damaged or older
/// file is measured again.
/// </summary>
public static class CodecCalibrationCache
{
    /// <summary>The file layout's version; a file of another version is measured again.</summary>
    public const int CurrentSchema = 1;

    /// <summary>The cached calibration of <paramref name="codec"/> for this model, frames and ε, or the result of
    /// <paramref name="measure"/>, which is then stored under <paramref name="cacheDirectory"/>.</summary>
    public static CodecCalibrationResult LoadOrMeasure(string codec, string modelSha256, ILabelledFrames frames, double epsilon,
        string cacheDirectory, Func<CodecCalibrationResult> measure, out bool fromCache)
    {
        ArgumentNullException.ThrowIfNull(frames);
        ArgumentNullException.ThrowIfNull(measure);
        if (modelSha256.Length < 16 || frames.Fingerprint.Length < 8)
        {
            throw new ArgumentException("the model's SHA-256 and the frames' fingerprint name the cache entry");
        }

        var path = Path.Combine(cacheDirectory, string.Create(CultureInfo.InvariantCulture,
            $"codec-{codec}-{modelSha256[..16]}-d{frames.Fingerprint[..8]}-n{frames.Count}-e{epsilon:R}.json"));
        if (File.Exists(path))
        {
            try
            {
                var entry = JsonSerializer.Deserialize(File.ReadAllText(path), CodecCalibrationJsonContext.Default.CodecCalibrationEntry);
                if (entry is { Schema: CurrentSchema } && entry.ModelSha256 == modelSha256 && entry.DataFingerprint == frames.Fingerprint
                    && entry.Result.Codec == codec && entry.Result.Epsilon.Equals(epsilon) && entry.Result.Frames == frames.Count)
                {
                    fromCache = true;
                    return entry.Result;
                }
            }
            catch (JsonException)
            {
                // A damaged entry is measured again.
            }
        }

        var result = measure();
        Directory.CreateDirectory(cacheDirectory);
        var json = JsonSerializer.Serialize(new CodecCalibrationEntry(CurrentSchema, modelSha256, frames.Fingerprint, result),
            CodecCalibrationJsonContext.Default.CodecCalibrationEntry);
        File.WriteAllText(path + ".tmp", json);
        File.Move(path + ".tmp", path, overwrite: true);
        fromCache = false;
        return result;
    }
}

/// <summary>One cached calibration with what it was measured on.</summary>
public sealed record CodecCalibrationEntry(int Schema, string ModelSha256, string DataFingerprint, CodecCalibrationResult Result);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(CodecCalibrationEntry))]
internal sealed partial class CodecCalibrationJsonContext : JsonSerializerContext;
