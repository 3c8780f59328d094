using Coach.Native.Telemetry;

namespace Coach.Transport.Edge;

/// <summary>
/// The Jetson's power rails, thermal zones and GPU load sampled in the background over one edge run, so the run's
/// summary carries energy per frame and the peak temperature. On a machine without those sensors nothing is started.
/// </summary>
public sealed class EdgeTelemetry : IDisposable
{
    private readonly TelemetrySampler _sampler;

    private EdgeTelemetry(TelemetrySampler sampler) => _sampler = sampler;

    /// <summary>What was found, one line per sensor group.</summary>
    public string Description => _sampler.Telemetry.Describe();

    /// <summary>Discovers the sensors under <paramref name="sysfsRoot"/> ("/" on a device) and starts sampling every
    /// <paramref name="interval"/>; null when there are none (then <paramref name="log"/> says so).</summary>
    public static EdgeTelemetry? Start(string sysfsRoot, TimeSpan interval, Action<string>? log = null)
    {
        var telemetry = JetsonTelemetry.Open(sysfsRoot);
        if (!telemetry.IsAvailable)
        {
            telemetry.Dispose();
            log?.Invoke($"no Jetson telemetry under {sysfsRoot} (power rails, thermal zones, GPU load): the summary has no energy figures");
            return null;
        }

        var sampler = new TelemetrySampler(telemetry, interval, ownsTelemetry: true);
        sampler.Start();
        sampler.BeginRun();
        var edge = new EdgeTelemetry(sampler);
        log?.Invoke("telemetry: " + edge.Description.Replace(Environment.NewLine, "; ", StringComparison.Ordinal));
        return edge;
    }

    /// <summary>Ends the run: the summary with the energy drawn per answered frame, mean power and peak temperature.</summary>
    public EdgeRunSummary Complete(EdgeRunSummary summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        return summary with { Energy = _sampler.EndRun(summary.FramesAnswered) };
    }

    public void Dispose() => _sampler.Dispose();
}
