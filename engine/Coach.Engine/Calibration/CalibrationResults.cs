using System.Text.Json;
using System.Text.Json.Serialization;
using Coach.Engine.Planning;

namespace Coach.Engine.Calibration;

/// <summary>
/// One calibrated cut: the minimum safe bits all its tensors can share, the accuracy measured at each width tried ("5"; a
/// per-tensor vector as "5,3"), and each tensor's own minimum under the same joint test (in <see cref="CutTensors"/>'
/// order; null where not yet searched — files written before per-tensor bits).
/// </summary>
public sealed record CutCalibration(string[] CutTensors, int Bits, Dictionary<string, double> AccuracyByBits, int[]? TensorBits = null);

/// <summary>The calibration results of one model (the JSON file under .cache/calibration/, or a file given to `coach plan --calib`).</summary>
public sealed class CalibrationResults
{
    public const string CurrentSchema = "coach.calibration/2";
    public string Schema { get; init; } = CurrentSchema;
    public required string ModelSha256 { get; init; }
    public required double Epsilon { get; init; }
    public required int Frames { get; init; }
    public required double BaselineAccuracy { get; init; }

    /// <summary>Whether the full model is right on each calibration frame ('1') or not ('0'), in frame order.</summary>
    public required string BaselineCorrect { get; init; }

    /// <summary>z of the acceptance test: the measured loss plus z standard errors must stay within ε (0: eq. 1 as written).</summary>
    public double StandardErrors { get; init; }

    public Dictionary<string, CutCalibration> Cuts { get; init; } = new(StringComparer.Ordinal);

    public static string Key(IEnumerable<string> cutTensors) => string.Join('|', cutTensors.Order(StringComparer.Ordinal));

    public void Save(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(this, CalibrationJsonContext.Default.CalibrationResults));
        File.Move(temp, path, overwrite: true);
    }

    public static CalibrationResults? TryLoad(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            var r = JsonSerializer.Deserialize(File.ReadAllText(path), CalibrationJsonContext.Default.CalibrationResults);
            return r?.Schema == CurrentSchema ? r : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>Minimum bits read from a calibration results file (`coach plan --calib PATH`); a cut it lacks is an error.</summary>
public sealed class CalibrationFileBits(CalibrationResults results, string path) : ICutBitsProvider
{
    public int MinimumBits(PlanningProblem problem, IReadOnlyList<int> cutTensors)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(cutTensors);
        var key = CalibrationResults.Key(cutTensors.Select(k => problem.Tensors[k].Name));
        return results.Cuts.TryGetValue(key, out var c)
            ? c.Bits
            : throw new KeyNotFoundException($"calibration file '{path}' has no entry for the cut [{key.Replace("|", ", ", StringComparison.Ordinal)}]; use --calib calib to measure it");
    }

    /// <summary>The file's per-tensor widths; an entry written before per-tensor bits gives every tensor its shared width.</summary>
    public int[] MinimumBitsPerTensor(PlanningProblem problem, IReadOnlyList<int> cutTensors)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(cutTensors);
        int shared = MinimumBits(problem, cutTensors);
        var names = cutTensors.Select(k => problem.Tensors[k].Name).ToArray();
        var entry = results.Cuts[CalibrationResults.Key(names)];
        return entry.TensorBits is { } t && t.Length == entry.CutTensors.Length
            ? CutCalibrator.InOrder(entry, names)
            : PipelineCostModel.UniformBits(names.Length, shared);
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(CalibrationResults))]
internal sealed partial class CalibrationJsonContext : JsonSerializerContext;
