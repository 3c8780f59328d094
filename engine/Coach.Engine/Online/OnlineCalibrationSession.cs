using System.Diagnostics;
using Coach.Engine.Data;

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

    /// <summary>Calibrates the plan in <paramref name="planDirectory"/> on <paramref name="frames"/> and saves scheduler.json there.</summary>
    public static OnlineCalibrationResult Run(string planDirectory, FrameSet frames, OnlineEvaluationOptions options, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(planDirectory);
        var clock = Stopwatch.StartNew();
        var state = PlanOnlineCalibration.Run(planDirectory, frames, options, progress);
        string path = state.Save(planDirectory);
        return new OnlineCalibrationResult(state, path, clock.Elapsed);
    }
}
