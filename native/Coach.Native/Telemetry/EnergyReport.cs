using System.Globalization;

namespace Coach.Native.Telemetry;

/// <summary>
/// Energy and device state over one run. Values that the device cannot measure are NaN (e.g. every field but
/// <see cref="Frames"/> and <see cref="Duration"/> on a machine without Jetson telemetry).
/// </summary>
/// <param name="Joules">Energy drawn by the module over the run: power integrated over time (trapezoidal rule).</param>
/// <param name="Frames">Frames processed in the run, as the caller counted them.</param>
/// <param name="JoulesPerFrame"><see cref="Joules"/> / <see cref="Frames"/>; NaN for zero frames.</param>
/// <param name="MeanPowerW">Time-weighted mean power in watts.</param>
/// <param name="PeakTempC">Hottest thermal-zone reading seen in the run, °C.</param>
/// <param name="MeanGpuLoad">Time-weighted mean GPU load, a fraction in [0, 1].</param>
/// <param name="Duration">Time from the run's first sample to its last.</param>
/// <param name="Samples">Samples taken in the run.</param>
public readonly record struct EnergyReport(
    double Joules,
    long Frames,
    double JoulesPerFrame,
    double MeanPowerW,
    double PeakTempC,
    double MeanGpuLoad,
    TimeSpan Duration,
    int Samples)
{
    /// <summary>True when energy was measured (the device has power rails and the run spanned two samples).</summary>
    public bool HasEnergy => !double.IsNaN(Joules);

    /// <summary>A one-line summary for the edge's report, e.g. <c>energy 10.00 J, 0.1000 J/frame, mean 5.00 W, peak 51.2 °C, GPU 43 %</c>.</summary>
    public override string ToString()
    {
        if (!HasEnergy && double.IsNaN(PeakTempC) && double.IsNaN(MeanGpuLoad))
        {
            return "energy: no Jetson telemetry on this machine";
        }
        return string.Create(CultureInfo.InvariantCulture,
            $"energy {Joules:F2} J, {JoulesPerFrame:F4} J/frame over {Frames} frames, mean {MeanPowerW:F2} W, peak {PeakTempC:F1} °C, GPU {MeanGpuLoad * 100:F0} % ({Samples} samples in {Duration.TotalSeconds:F2} s)");
    }
}
