using System.Text.Json;
using System.Text.Json.Serialization;

namespace Coach.Engine.Online;

/// <summary>One cut tensor the task feature is pooled from: its name and channel count C (the feature gets C values).</summary>
public sealed record SchedulerCutTensor(string Name, int Channels);

/// <summary>
/// What the edge's online scheduler starts from, stored beside a plan as <c>scheduler.json</c> by
/// <c>coach calibrate-online</c>: the calibrated thresholds S_ext / S_adj (paper §III-C) and the label semantic centres warmed
/// on the calibration set (eq. 7), so the first frame of a stream is already judged against warm centres.
/// </summary>
/// <remarks>
/// A separate file rather than plan.json's <c>scheduler</c> slot: plan.json stays byte-for-byte what the planner wrote (its
/// hash and the tail's hash are what edge and cloud agree on), and the online calibration can be redone without re-planning.
/// <see cref="TailSha256"/> ties the file to the tail it was calibrated with; loading it for another plan is refused.
/// </remarks>
public sealed class SchedulerState
{
    public const string FileName = "scheduler.json";
    public const string CurrentSchema = "coach.scheduler/1";

    /// <summary><see cref="Mode"/> of a classifier: semantic cache, early exit (eq. 10) and S_adj/eq. 11 bits.</summary>
    public const string SemanticCacheMode = "semantic-cache";

    /// <summary>
    /// <see cref="Mode"/> of a model whose output is not class scores [N, classes] (detection, embedding, …): no label, so no
    /// semantic centres and no early exit; eq. 11 alone adapts the bits between the plan's safe floor and 8 (docs/online.md).
    /// </summary>
    public const string AdaptiveBitsMode = "adaptive-bits";

    public string Schema { get; set; } = CurrentSchema;

    /// <summary>The plan's id (plan.json <c>id</c>).</summary>
    public string PlanId { get; set; } = string.Empty;

    /// <summary>SHA-256 (hex) of the plan's tail.onnx the thresholds were measured with.</summary>
    public string TailSha256 { get; set; } = string.Empty;

    public SchedulerCalibration Calibration { get; set; } = new();

    /// <summary><see cref="SemanticCacheMode"/> (also when absent, as in files written before there was a choice) or <see cref="AdaptiveBitsMode"/>.</summary>
    public string Mode { get; set; } = SemanticCacheMode;

    /// <summary>Why the state is <see cref="AdaptiveBitsMode"/> (for example the tail's output shape); null otherwise.</summary>
    public string? ModeReason { get; set; }

    /// <summary>True when the edge runs eq. 11's adaptive bits only, without the semantic cache and early exit.</summary>
    [JsonIgnore]
    public bool AdaptiveBitsOnly => Mode == AdaptiveBitsMode;

    /// <summary>Decay window W of the centres on the stream (eq. 7 with m_j capped at W − 1); null: the exact running mean.</summary>
    public int? CentreWindow { get; set; }

    /// <summary>Frames between sending a frame and learning its label that the thresholds were fitted for (the pipeline's depth); null: not fitted on streams.</summary>
    public int? FeedbackDelayFrames { get; set; }

    /// <summary>Run length of the simulated calibration streams (frames per run of one class or one sample); null: not fitted on streams.</summary>
    public int? StreamRunLength { get; set; }

    /// <summary>Bands each channel is pooled over (<see cref="TaskFeature.BandPool(ReadOnlySpan{float}, int, int, Span{float})"/>); 1: plain GAP.</summary>
    public int FeatureBands { get; set; } = 1;

    /// <summary>The cut tensors, in plan order; the task feature concatenates their GAP vectors.</summary>
    public IReadOnlyList<SchedulerCutTensor> CutTensors { get; set; } = [];

    public int LabelCount { get; set; }

    public int FeatureLength { get; set; }

    /// <summary>T_j^c per label (<see cref="LabelCount"/> rows of <see cref="FeatureLength"/> values).</summary>
    public IReadOnlyList<float[]> Centres { get; set; } = [];

    /// <summary>m_j per label: the calibration features each centre is the mean of.</summary>
    public IReadOnlyList<long> Counts { get; set; } = [];

    /// <summary>μ of the feature standardisation the centres live in (<see cref="FeatureStandardisation"/>); null: raw GAP features.</summary>
    public float[]? FeatureMean { get; set; }

    /// <summary>σ of the feature standardisation; present exactly when <see cref="FeatureMean"/> is.</summary>
    public float[]? FeatureScale { get; set; }

    /// <summary>Head time per frame measured during calibration on the calibrating machine (informative; the edge uses the plan's and its own).</summary>
    public double CalibrationEdgeMs { get; set; }

    public double CalibrationCloudMs { get; set; }

    /// <summary>Where the calibration frames came from.</summary>
    public string CalibrationSource { get; set; } = string.Empty;

    public DateTimeOffset CreatedUtc { get; set; }

    /// <summary>Centres warmed as an exact mean (no decay window), captured from <paramref name="warmed"/>.</summary>
    public static SchedulerState Create(SchedulerCalibration calibration, SemanticCache warmed, IReadOnlyList<SchedulerCutTensor> cutTensors, int? centreWindow, int featureBands = 1)
    {
        ArgumentNullException.ThrowIfNull(calibration);
        ArgumentNullException.ThrowIfNull(warmed);
        ArgumentNullException.ThrowIfNull(cutTensors);
        var centres = new float[warmed.LabelCount][];
        var counts = new long[warmed.LabelCount];
        for (int j = 0; j < warmed.LabelCount; j++)
        {
            centres[j] = warmed.Centre(j).ToArray();
            counts[j] = warmed.Count(j);
        }

        var state = new SchedulerState
        {
            Calibration = calibration,
            CentreWindow = centreWindow,
            FeatureBands = featureBands,
            CutTensors = [.. cutTensors],
            LabelCount = warmed.LabelCount,
            FeatureLength = warmed.FeatureLength,
            Centres = centres,
            Counts = counts,
            FeatureMean = warmed.Standardisation?.Mean.ToArray(),
            FeatureScale = warmed.Standardisation?.Scale.ToArray(),
            CreatedUtc = DateTimeOffset.UtcNow,
        };
        state.Validate();
        return state;
    }

    /// <summary>A semantic cache holding the warm centres, with the stored decay window (or <paramref name="centreWindow"/>).</summary>
    public SemanticCache CreateCache(int? centreWindow = null)
    {
        Validate();
        if (AdaptiveBitsOnly)
        {
            throw new InvalidOperationException($"scheduler state in mode '{AdaptiveBitsMode}' has no semantic centres ({ModeReason}).");
        }

        var cache = new SemanticCache(LabelCount, FeatureLength, centreWindow ?? CentreWindow, Standardisation());
        var flat = new float[LabelCount * FeatureLength];
        for (int j = 0; j < LabelCount; j++)
        {
            Centres[j].CopyTo(flat.AsSpan(j * FeatureLength, FeatureLength));
        }

        cache.Restore(flat, [.. Counts]);
        return cache;
    }

    /// <summary>The stored feature standardisation, or null when the centres hold raw GAP features.</summary>
    public FeatureStandardisation? Standardisation() => FeatureMean is null || FeatureScale is null ? null : new FeatureStandardisation(FeatureMean, FeatureScale);

    /// <summary>Throws <see cref="InvalidDataException"/> naming the first inconsistency.</summary>
    public void Validate()
    {
        if (Schema != CurrentSchema)
        {
            throw new InvalidDataException($"scheduler state has schema '{Schema}', expected '{CurrentSchema}'; rerun `coach calibrate-online`.");
        }

        Calibration.Validate();
        if (Mode is not (SemanticCacheMode or AdaptiveBitsMode))
        {
            throw new InvalidDataException($"scheduler state has mode '{Mode}', expected '{SemanticCacheMode}' or '{AdaptiveBitsMode}'; rerun `coach calibrate-online`.");
        }

        if (AdaptiveBitsOnly)
        {
            ValidateAdaptiveBits();
            return;
        }

        if (LabelCount < 2 || FeatureLength < 1)
        {
            throw new InvalidDataException($"scheduler state needs ≥ 2 labels and a feature length ≥ 1; got {LabelCount} labels of {FeatureLength} values.");
        }

        if (FeatureBands < 1)
        {
            throw new InvalidDataException($"scheduler state's feature bands must be ≥ 1; got {FeatureBands}.");
        }

        if (CutTensors.Count == 0 || CutTensors.Sum(t => t.Channels) * FeatureBands != FeatureLength || CutTensors.Any(t => t.Channels < 1 || string.IsNullOrEmpty(t.Name)))
        {
            throw new InvalidDataException($"scheduler state's cut tensors ({string.Join(", ", CutTensors.Select(t => $"{t.Name}:{t.Channels}"))}) must be named and their channels × {FeatureBands} band(s) must add up to the feature length {FeatureLength}.");
        }

        if (Centres.Count != LabelCount || Counts.Count != LabelCount || Centres.Any(c => c is null || c.Length != FeatureLength))
        {
            throw new InvalidDataException($"scheduler state needs {LabelCount} centres of {FeatureLength} values and {LabelCount} counts.");
        }

        if (FeedbackDelayFrames is < 0 || StreamRunLength is < 1)
        {
            throw new InvalidDataException($"scheduler state's feedback delay must be ≥ 0 and its stream run length ≥ 1 (or absent); got {FeedbackDelayFrames} and {StreamRunLength}.");
        }

        if ((FeatureMean is null) != (FeatureScale is null)
            || (FeatureMean is not null && (FeatureMean.Length != FeatureLength || FeatureScale!.Length != FeatureLength
                || FeatureMean.Any(v => !float.IsFinite(v)) || FeatureScale.Any(v => !float.IsFinite(v) || v <= 0f))))
        {
            throw new InvalidDataException($"scheduler state's feature standardisation needs featureMean and featureScale together, {FeatureLength} finite values each, every scale > 0; rerun `coach calibrate-online`.");
        }

        if (CentreWindow is < 2)
        {
            throw new InvalidDataException($"scheduler state's centre window must be at least 2 (or absent); got {CentreWindow}.");
        }
    }

    /// <summary>
    /// A state for eq. 11's adaptive bits alone (<see cref="AdaptiveBitsMode"/>): no thresholds, no centres; Q_r is
    /// <paramref name="calibration"/>'s <see cref="SchedulerCalibration.PlanBits"/> (the plan's calibrated safe floor).
    /// </summary>
    public static SchedulerState CreateAdaptiveBits(SchedulerCalibration calibration, IReadOnlyList<SchedulerCutTensor> cutTensors, string reason)
    {
        ArgumentNullException.ThrowIfNull(calibration);
        ArgumentNullException.ThrowIfNull(cutTensors);
        calibration.ExitThreshold = null;
        calibration.ReuseThreshold = null;
        calibration.BitThresholds = [];
        var state = new SchedulerState
        {
            Mode = AdaptiveBitsMode,
            ModeReason = reason,
            Calibration = calibration,
            CutTensors = [.. cutTensors],
            CreatedUtc = DateTimeOffset.UtcNow,
        };
        state.Validate();
        return state;
    }

    private void ValidateAdaptiveBits()
    {
        if (Calibration.ExitThreshold is not null || Calibration.ReuseThreshold is not null || Calibration.BitThresholds.Count != 0
            || LabelCount != 0 || Centres.Count != 0 || Counts.Count != 0)
        {
            throw new InvalidDataException($"scheduler state in mode '{AdaptiveBitsMode}' must have no S_ext, reuse or S_adj thresholds and no centres (there are no labels to exit with); rerun `coach calibrate-online`.");
        }

        if (CutTensors.Count == 0 || CutTensors.Any(t => t.Channels < 1 || string.IsNullOrEmpty(t.Name)))
        {
            throw new InvalidDataException("scheduler state's cut tensors must be named, each with at least one channel.");
        }
    }

    public string ToJson() => JsonSerializer.Serialize(this, SchedulerStateJsonContext.Default.SchedulerState);

    public static SchedulerState FromJson(string json)
    {
        SchedulerState? state;
        try
        {
            state = JsonSerializer.Deserialize(json, SchedulerStateJsonContext.Default.SchedulerState);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"scheduler state is not valid JSON: {e.Message}", e);
        }

        if (state is null)
        {
            throw new InvalidDataException("scheduler state JSON is empty (null).");
        }

        state.Validate();
        return state;
    }

    /// <summary>Writes <c>DIR/scheduler.json</c>; returns its path.</summary>
    public string Save(string planDirectory)
    {
        string path = Path.Combine(planDirectory, FileName);
        string temporary = path + ".tmp";
        File.WriteAllText(temporary, ToJson());
        File.Move(temporary, path, overwrite: true);
        return path;
    }

    /// <summary>Reads <c>DIR/scheduler.json</c>, or returns null when the plan has none.</summary>
    public static SchedulerState? TryLoad(string planDirectory)
    {
        string path = Path.Combine(planDirectory, FileName);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return FromJson(File.ReadAllText(path));
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }
}

/// <summary>Source-generated JSON metadata of <see cref="SchedulerState"/> (NativeAOT-safe).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SchedulerState))]
public sealed partial class SchedulerStateJsonContext : JsonSerializerContext;
