using System.Security.Cryptography;
using Coach.Engine.Data;
using Coach.Engine.Planning;

namespace Coach.Engine.Online;

/// <summary>
/// The one-time online calibration of a plan directory (paper §III-C, "initially established using the calibration dataset D
/// … which only execute one-time prior to running"): runs the plan's head.onnx and tail.onnx over calibration frames, fits
/// S_ext and S_adj so the accuracy loss against the full model stays ≤ ε, warms the label semantic centres, and returns what
/// <c>scheduler.json</c> stores.
/// </summary>
public static class PlanOnlineCalibration
{
    /// <param name="planDirectory">A folder written by <c>coach plan --out</c>.</param>
    /// <param name="calibrationFrames">Calibration frames: the bundled calibration split, or the user's images or video labelled by the full model's top-1 (docs/data.md).</param>
    /// <param name="options">ε, budget share, bit range, centre window; <see cref="OnlineEvaluationOptions.PlanBits"/> is taken from the plan.</param>
    /// <param name="adaptiveBitsOnly">Force <see cref="SchedulerState.AdaptiveBitsMode"/> (an embedding model whose [N, D] output looks like class scores); a tail whose output is not [N, classes] gets it anyway.</param>
    public static SchedulerState Run(string planDirectory, ILabelledFrames calibrationFrames, OnlineEvaluationOptions? options = null, Action<int, int>? progress = null, bool adaptiveBitsOnly = false)
    {
        ArgumentNullException.ThrowIfNull(planDirectory);
        ArgumentNullException.ThrowIfNull(calibrationFrames);
        options ??= new OnlineEvaluationOptions();
        var plan = PlanDocument.Load(planDirectory);
        string headPath = Path.Combine(planDirectory, plan.Head?.File ?? "head.onnx");
        string tailPath = Path.Combine(planDirectory, plan.Tail?.File ?? "tail.onnx");
        if (plan.Head is null || plan.Tail is null || !File.Exists(headPath) || !File.Exists(tailPath))
        {
            throw new InvalidDataException($"plan {plan.Id} in {planDirectory} is {(plan.Head is null ? "cloud-only" : "edge-only")}: the online scheduler needs a head and a tail (a cut inside the model).");
        }

        int planBits = PlanBits(plan);
        var effective = options with
        {
            PlanBits = planBits,
            MinBits = Math.Min(options.MinBits, planBits),
            MaxBits = Math.Max(options.MaxBits, plan.Bits.Where(b => b is >= 1 and <= 8).DefaultIfEmpty(planBits).Max()),
            BandwidthBytesPerSecond = plan.BandwidthBps > 0 ? plan.BandwidthBps / 8 : options.BandwidthBytesPerSecond,
        };

        byte[] tail = File.ReadAllBytes(tailPath);
        using var inference = new OnnxSplitInference(File.ReadAllBytes(headPath), tail);
        // A cut after global pooling has one value per channel: it can only be pooled into one band.
        int fewestValuesPerChannel = inference.CutTensors.Min(t => t.Length / Math.Max(1, t.Channels));
        if (effective.FeatureBands > fewestValuesPerChannel)
        {
            effective = effective with { FeatureBands = Math.Max(1, fewestValuesPerChannel) };
        }

        string? notClassifier = adaptiveBitsOnly ? "--adaptive-bits-only: the user says the model's output is not class scores"
            : ModelOutputKind.Classes(inference.OutputShape) is null ? ModelOutputKind.NotClassScores(inference.OutputShape) : null;
        if (notClassifier is not null)
        {
            var adaptive = AdaptiveBits(inference, calibrationFrames, effective, notClassifier, progress);
            adaptive.PlanId = plan.Id;
            adaptive.TailSha256 = Convert.ToHexStringLower(SHA256.HashData(tail));
            adaptive.CalibrationSource = calibrationFrames.Source;
            return adaptive;
        }

        var evaluation = new OnlineEvaluation(inference, effective);
        evaluation.Calibrate(calibrationFrames, progress);
        var state = evaluation.CreateState(calibrationFrames.Source);
        state.PlanId = plan.Id;
        state.TailSha256 = Convert.ToHexStringLower(SHA256.HashData(tail));
        return state;
    }

    /// <summary>Frames <see cref="AdaptiveBits"/> times the head and tail on (the stage times are all it measures).</summary>
    public const int AdaptiveBitsTimingFrames = 32;

    /// <summary>
    /// The online scheduler without labels: Q_r is the plan's calibrated safe floor (eq. 1) and eq. 11 raises it from the live
    /// bandwidth up to 8 bits; no semantic cache, no early exit. Only the head's and tail's times are measured here.
    /// </summary>
    private static SchedulerState AdaptiveBits(OnnxSplitInference inference, ILabelledFrames frames, OnlineEvaluationOptions options, string reason, Action<int, int>? progress)
    {
        int n = Math.Min(frames.Count, AdaptiveBitsTimingFrames);
        var frame = new float[inference.FrameLength];
        var cut = new float[inference.CutTensors.Sum(t => t.Length)];
        long headTicks = 0, tailTicks = 0;
        for (int i = 0; i < n; i++)
        {
            frames.RenderFrame(i, frame);
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            inference.RunHead(frame, cut);
            long t1 = System.Diagnostics.Stopwatch.GetTimestamp();
            inference.RunTail(cut);
            tailTicks += System.Diagnostics.Stopwatch.GetTimestamp() - t1;
            headTicks += t1 - t0;
            progress?.Invoke(i + 1, n);
        }

        var calibration = new SchedulerCalibration { PlanBits = options.PlanBits, MaxBits = Math.Max(options.PlanBits, Math.Min(8, options.MaxBits)), Epsilon = options.Epsilon, SampleCount = n };
        var state = SchedulerState.CreateAdaptiveBits(calibration, [.. inference.CutTensors.Select(t => new SchedulerCutTensor(t.Name, t.Channels))], reason);
        double ticksPerMs = System.Diagnostics.Stopwatch.Frequency / 1e3;
        state.CalibrationEdgeMs = n == 0 ? 0 : headTicks / ticksPerMs / n;
        state.CalibrationCloudMs = n == 0 ? 0 : tailTicks / ticksPerMs / n;
        return state;
    }

    /// <summary>
    /// Q_r without an S_adj threshold: the calibrated minimum safe bits of the plan's cut (eq. 1), the widest over its
    /// tensors — not the plan's own bits, which eq. 11 may have raised offline to fill the link at the planned rate (up to
    /// 32, raw floats). Online, eq. 11 raises Q_r again from the live bandwidth, so a slower link goes back down to the safe
    /// floor instead of stopping at the widths the faster planned rate allowed. The scheduler's bits reach every cut tensor,
    /// those planned raw included (RequestPacker), so a raw tensor counts with its calibrated minimum, or as 8 bits when
    /// the plan records none.
    /// </summary>
    public static int PlanBits(PlanDocument plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return plan.CutTensors.Select(t => t.Bits is >= 1 and <= 8
                ? (t.MinimumBits is >= 1 and <= 8 ? Math.Min(t.MinimumBits, t.Bits) : t.Bits)
                : (t.MinimumBits is >= 1 and <= 8 ? t.MinimumBits : 8))
            .DefaultIfEmpty(8).Max();
    }

    /// <summary><paramref name="count"/> evenly spaced frames of <paramref name="frames"/> (keeps the class balance of a shuffled split).</summary>
    public static FrameSet EvenSubset(FrameSet frames, int count)
    {
        ArgumentNullException.ThrowIfNull(frames);
        if (count <= 0 || count >= frames.Count)
        {
            return frames;
        }

        var sources = new byte[count * FrameRenderer.SourcePixels];
        var labels = new byte[count];
        for (int i = 0; i < count; i++)
        {
            int index = (int)((long)i * frames.Count / count);
            frames.SourceImage(index).CopyTo(sources.AsSpan(i * FrameRenderer.SourcePixels));
            labels[i] = (byte)frames.Label(index);
        }

        return new FrameSet(sources, labels, frames.Split, $"{frames.Source} ({count} of {frames.Count}, evenly spaced)", false, frames.ClassNames);
    }
}
