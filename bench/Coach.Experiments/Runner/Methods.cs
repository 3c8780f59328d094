namespace Coach.Experiments;

/// <summary>The methods an experiment compares: COACH and the baselines, keyed as in reports.</summary>
/// <param name="BandwidthRange">Link rates COACH is planned for, comma-separated (<c>coach plan --bandwidth-range</c>); null = the run's one rate.</param>
internal sealed record MethodSpec(string Key, string PlannerMethod, string Title, string? BandwidthRange = null)
{
    /// <summary>COACH's offline and online components (calibrated scheduler), in any variant.</summary>
    public bool IsCoach => PlannerMethod == "coach";
}

internal static class Methods
{
    public static readonly MethodSpec Coach = new("coach", "coach", "COACH");
    public static readonly MethodSpec Neurosurgeon = new("neurosurgeon", "ns", "Neurosurgeon");
    public static readonly MethodSpec Dads = new("dads", "dads", "DADS");
    public static readonly MethodSpec Spinn = new("spinn", "spinn", "SPINN");
    public static readonly MethodSpec Jps = new("jps", "jps", "JPS");
    public static readonly MethodSpec CloudOnly = new("cloud_only", "cloud", "cloud-only");
    public static readonly MethodSpec EdgeOnly = new("edge_only", "edge", "edge-only");
    /// <summary>Cloud-only with the frame sent as JPEG at the quality the codec calibration chose within ε: what users run today
    /// (docs/baselines.md).</summary>
    public static readonly MethodSpec CloudJpeg = new("cloud_jpeg", "cloud-jpeg", "cloud-jpeg");
    /// <summary>Cloud-only with the frames sent as one low-latency H.264 stream at the x264 rate factor the codec calibration
    /// chose within ε (docs/baselines.md).</summary>
    public static readonly MethodSpec CloudH264 = new("cloud_h264", "cloud-h264", "cloud-h264");

    /// <summary>COACH planned for a link that moves between <paramref name="rates"/> (<c>coach plan --bandwidth-range</c>).</summary>
    public static MethodSpec CoachForRange(IReadOnlyList<string> rates) =>
        new("coach-range-" + string.Join('-', rates), "coach", $"COACH (planned for {string.Join(", ", rates)})", string.Join(',', rates));

    public static IReadOnlyList<MethodSpec> Demo { get; } = [Coach, Neurosurgeon, Jps, CloudOnly, CloudJpeg, CloudH264, EdgeOnly];

    public static IReadOnlyList<MethodSpec> All { get; } = [Coach, Neurosurgeon, Dads, Spinn, Jps, CloudOnly, CloudJpeg, CloudH264, EdgeOnly];
}
