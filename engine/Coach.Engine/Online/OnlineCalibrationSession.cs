using System.Diagnostics;
using Coach.Engine.Data;
using Coach.Engine.Data.Media;
using Coach.Engine.Planning;
using Coach.Native.OnnxRuntime;

namespace Coach.Engine.Online;

/// <summary>The online scheduler's one-time calibration of a plan, stored: what <see cref="OnlineCalibrationSession.Run"/> wrote and how long it took.</summary>
public sealed record OnlineCalibrationResult(SchedulerState State, string Path, TimeSpan Elapsed);

/// <summary>
/// <c>coach calibrate-online</c> without the command line (paper §III-C): S_ext, S_adj and warm semantic centres of a plan's
/// online scheduler fitted on calibration frames, written to <c>scheduler.json</c> beside plan.json, which
/// <c>coach-edge run</c> loads.
/// </summary>
public static class OnlineCalibrationSession
{
    /// <summary>Default number of calibration frames, evenly spaced over the calibration split.</summary>
    public const int DefaultFrames = 1000;

    /// <summary><paramref name="count"/> frames evenly spaced over the bundled calibration split (0 = all of it).</summary>
    public static FrameSet CalibrationFrames(int count = DefaultFrames) => PlanOnlineCalibration.EvenSubset(BundledData.Load(DataSplit.Calibration), count);

    /// <summary>
    /// The user's frames (<c>images:DIR</c> or <c>video:FILE</c>, docs/data.md) decoded at the plan's input size, at most
    /// <paramref name="maxFrames"/> (0 = all), labelled by the full model's top-1 (<see cref="FullModelLabels"/>: the semantic
    /// centres then learn what the cloud answers). A tail whose output is not class scores needs no labels: the frames only
    /// time the head and tail (<see cref="PlanOnlineCalibration"/>'s adaptive-bits mode).
    /// </summary>
    /// <param name="fullModelPath">The full model the plan was cut from; null: plan.json's model path.</param>
    public static ILabelledFrames UserFrames(string planDirectory, string spec, string? fullModelPath, int maxFrames, bool adaptiveBitsOnly, Action<string>? note = null)
    {
        ArgumentNullException.ThrowIfNull(planDirectory);
        ArgumentNullException.ThrowIfNull(spec);
        if (!MediaSource.IsMedia(spec))
        {
            throw new FormatException($"--data {spec}: expected calib (the bundled calibration split), images:DIR or video:FILE");
        }

        var plan = PlanDocument.Load(planDirectory);
        string headPath = Path.Combine(planDirectory, plan.Head?.File ?? "head.onnx");
        string tailPath = Path.Combine(planDirectory, plan.Tail?.File ?? "tail.onnx");
        if (!File.Exists(headPath) || !File.Exists(tailPath))
        {
            throw new InvalidDataException($"plan {plan.Id} in {planDirectory} has no head.onnx and tail.onnx: the online scheduler needs a cut inside the model.");
        }

        var settings = new SessionSettings { Providers = [ExecutionProvider.Cpu] };
        long[] inputShape;
        long[] outputShape;
        using (var head = InferenceSession.Open(File.ReadAllBytes(headPath), settings, "head"))
        using (var tail = InferenceSession.Open(File.ReadAllBytes(tailPath), settings, "tail"))
        {
            inputShape = head.Inputs[0].Shape;
            outputShape = tail.Outputs[0].Shape;
        }

        if (inputShape.Length != 4 || inputShape[1] != 3 || inputShape[2] < 1 || inputShape[3] < 1)
        {
            throw new InvalidDataException($"--data {spec}: the plan's input is [{string.Join(", ", inputShape)}], not image frames [N, 3, H, W] of a fixed size");
        }

        // Class subfolders and label files are not read: the centres must learn the labels the cloud will answer, which are
        // the model's own classes, so the frames are labelled by the full model (MediaSource's notes about them do not apply).
        var frames = MediaSource.Open(spec, (int)inputShape[2], (int)inputShape[3], LabelFileNames(spec), out _, maxFrames > 0 ? maxFrames : int.MaxValue);
        if (adaptiveBitsOnly || ModelOutputKind.Classes(outputShape) is null)
        {
            note?.Invoke($"{frames.Count} frames of {spec} at {inputShape[3]}×{inputShape[2]}, unlabelled (adaptive bits only: they time the head and tail)");
            return frames;
        }

        string? modelPath = fullModelPath ?? plan.Model?.Path;
        if (modelPath is null || !File.Exists(modelPath))
        {
            throw new FileNotFoundException($"--data {spec} is labelled by the full model's top-1, but {(modelPath is null ? "plan.json names no model file" : $"the model {modelPath} is not there")}; give it with --model FILE (the ONNX file `coach plan --model` was given)");
        }

        note?.Invoke($"{frames.Count} frames of {spec} at {inputShape[3]}×{inputShape[2]}, labelled by the top-1 of {modelPath} (label-free; class folders and label files are not used)");
        using var full = InferenceSession.Open(File.ReadAllBytes(modelPath), settings, Path.GetFileName(modelPath));
        return FullModelLabels.Apply(full, frames);
    }

    /// <summary>
    /// The names a video's label file uses, so that decoding it does not stop at a name the model's classes lack: the labels
    /// are replaced by the full model's answers anyway. Empty for an image folder or a video without a label file.
    /// </summary>
    private static IReadOnlyList<string> LabelFileNames(string spec)
    {
        string labels = spec.StartsWith(MediaSource.VideoPrefix, StringComparison.Ordinal) ? VideoFile.LabelPath(spec[MediaSource.VideoPrefix.Length..]) : string.Empty;
        if (labels.Length == 0 || !File.Exists(labels))
        {
            return [];
        }

        var lines = File.ReadAllLines(labels).Select(l => l.Trim()).Where(l => l.Length > 0 && l != "-").ToList();
        var names = lines.Where(l => !int.TryParse(l, out _)).Distinct(StringComparer.Ordinal).ToList();
        // Label numbers index the names: pad so that every number names a class.
        int highest = lines.Select(l => int.TryParse(l, out int n) ? n : -1).DefaultIfEmpty(-1).Max();
        while (names.Count <= highest)
        {
            names.Add($"label {names.Count}");
        }

        return names;
    }

    /// <summary>Calibrates the plan in <paramref name="planDirectory"/> on <paramref name="frames"/> and saves scheduler.json there.</summary>
    public static OnlineCalibrationResult Run(string planDirectory, ILabelledFrames frames, OnlineEvaluationOptions options, Action<int, int>? progress = null, bool adaptiveBitsOnly = false)
    {
        ArgumentNullException.ThrowIfNull(planDirectory);
        var clock = Stopwatch.StartNew();
        var state = PlanOnlineCalibration.Run(planDirectory, frames, options, progress, adaptiveBitsOnly);
        string path = state.Save(planDirectory);
        return new OnlineCalibrationResult(state, path, clock.Elapsed);
    }
}
