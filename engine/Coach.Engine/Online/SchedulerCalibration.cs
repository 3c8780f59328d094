using System.Text.Json;
using System.Text.Json.Serialization;

namespace Coach.Engine.Online;

/// <summary>An S_adj threshold: a frame whose separability S is above <paramref name="MinSeparability"/> may be sent with <paramref name="Bits"/>.</summary>
public sealed record BitThreshold(int Bits, double MinSeparability);

/// <summary>
/// The thresholds of the online component (paper §III-C), calibrated once on the calibration set so that early exits and
/// reduced bits keep the accuracy loss against the full model ≤ ε; stored with the plan (JSON).
/// </summary>
public sealed class SchedulerCalibration
{
    /// <summary>S_ext: a frame with S above it exits early; null disables early exit.</summary>
    public double? ExitThreshold { get; set; }

    /// <summary>
    /// Stream guard: a frame exits only when the last <c>CloudAgreementFrames</c> answers the cloud returned agree (0: off),
    /// and, for an S_ext exit, when its nearest centre's label is that answer too. On a correlated stream those answers are
    /// the current run's label; at a cut to another scene they are the old one, so a frame that merely resembles an old
    /// centre is sent and its answer moves the centres (eq. 7) before exits resume; on an uncorrelated stream the guard
    /// rarely lets a frame exit. Temporal reuse waits for agreement as well, so a single answer that quantization flipped on
    /// a borderline frame is not copied over the rest of the run.
    /// </summary>
    public int CloudAgreementFrames { get; set; }

    /// <summary>
    /// Stream guard: after this many consecutive early exits the next frame is sent anyway, so the cloud's label can correct
    /// the centres (an exit updates nothing); null: no limit.
    /// </summary>
    public int? MaxConsecutiveExits { get; set; }

    /// <summary>
    /// Temporal reuse (paper §II-B: consecutive frames of a stream are alike): a frame whose standardised task feature has a
    /// cosine above this with the feature of the last frame the cloud answered takes that answer and sends nothing. Unlike
    /// S_ext, which compares with label centres averaged over many frames, this compares with one recent frame, so it fires on
    /// near-repeats (a camera watching one object) that a class centre cannot tell from a look-alike of another class.
    /// Subject to <see cref="MaxConsecutiveExits"/> like S_ext; null: off.
    /// </summary>
    public double? ReuseThreshold { get; set; }

    /// <summary>S_adj: lower bit widths need higher separability; sorted by bits, descending.</summary>
    public IReadOnlyList<BitThreshold> BitThresholds { get; set; } = [];

    /// <summary>Q_r when no S_adj threshold is passed: the offline plan's bits for the cut.</summary>
    public int PlanBits { get; set; } = 8;

    /// <summary>The most bits eq. 11 may choose.</summary>
    public int MaxBits { get; set; } = 8;

    /// <summary>ε, the accuracy-loss budget the thresholds were fitted to.</summary>
    public double Epsilon { get; set; } = 0.005;

    /// <summary>Calibration samples used.</summary>
    public int SampleCount { get; set; }

    /// <summary>Accuracy of the full (unsplit) model on the calibration set.</summary>
    public double FullAccuracy { get; set; }

    /// <summary>
    /// Accuracy on the calibration set of the per-sample fit (early exits, Q_r bits), separabilities measured leave-one-out
    /// against class means. When <see cref="StreamLevels"/> is set the thresholds were refitted on streams and these per-sample
    /// figures (with <see cref="ExitRatio"/> and <see cref="MeanBits"/>) describe the per-sample fit, not the stored thresholds.
    /// </summary>
    public double PolicyAccuracy { get; set; }

    /// <summary>Share of calibration samples that exit early.</summary>
    public double ExitRatio { get; set; }

    /// <summary>Mean Q_r over the calibration samples that do not exit.</summary>
    public double MeanBits { get; set; }

    /// <summary>
    /// When S_ext and S_adj were fitted on simulated correlated streams over the calibration split (<see cref="StreamCalibrator"/>):
    /// what the edge's loop did on each of them with these thresholds. Empty when fitted per sample against class means only.
    /// </summary>
    public IReadOnlyList<StreamLevelCalibration> StreamLevels { get; set; } = [];

    /// <summary>Q_r for separability S: the fewest bits whose S_adj threshold S exceeds, else <see cref="PlanBits"/>.</summary>
    public int MinimumBits(float separability)
    {
        int bits = PlanBits;
        var thresholds = BitThresholds;
        for (int i = 0; i < thresholds.Count; i++)
        {
            var t = thresholds[i];
            if (separability > t.MinSeparability && t.Bits < bits)
            {
                bits = t.Bits;
            }
        }

        return bits;
    }

    public void Validate()
    {
        if (PlanBits is < 1 or > 8 || MaxBits < PlanBits || MaxBits > 8)
        {
            throw new InvalidDataException($"Scheduler calibration needs 1 ≤ PlanBits ({PlanBits}) ≤ MaxBits ({MaxBits}) ≤ 8.");
        }

        foreach (var t in BitThresholds)
        {
            if (t.Bits < 1 || t.Bits >= PlanBits || double.IsNaN(t.MinSeparability))
            {
                throw new InvalidDataException($"S_adj threshold for {t.Bits} bits must be below the plan's {PlanBits} bits and have a separability; got {t.MinSeparability}.");
            }
        }

        if (CloudAgreementFrames < 0)
        {
            throw new InvalidDataException($"CloudAgreementFrames must be ≥ 0; got {CloudAgreementFrames}.");
        }

        if (MaxConsecutiveExits is < 1)
        {
            throw new InvalidDataException($"MaxConsecutiveExits must be at least 1 (or absent); got {MaxConsecutiveExits}.");
        }

        if (ExitThreshold is double e && double.IsNaN(e))
        {
            throw new InvalidDataException("S_ext must be a number or absent.");
        }

        if (ReuseThreshold is double r && !(r is >= -1 and <= 1))
        {
            throw new InvalidDataException($"The reuse threshold is a cosine in [-1, 1] or absent; got {r}.");
        }
    }

    public string ToJson() => JsonSerializer.Serialize(this, OnlineJsonContext.Default.SchedulerCalibration);

    public static SchedulerCalibration FromJson(string json)
    {
        var calibration = JsonSerializer.Deserialize(json, OnlineJsonContext.Default.SchedulerCalibration)
            ?? throw new InvalidDataException("Scheduler calibration JSON is empty (null).");
        calibration.Validate();
        return calibration;
    }
}

/// <summary>Source-generated JSON metadata of the online component (NativeAOT-safe).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(SchedulerCalibration))]
public sealed partial class OnlineJsonContext : JsonSerializerContext;
