namespace Coach.Cli.Experiments;

/// <summary>The methods an experiment compares: COACH and the baselines, keyed as in reports.</summary>
internal sealed record MethodSpec(string Key, string PlannerMethod, string Title);

internal static class Methods
{
    public static readonly MethodSpec Coach = new("coach", "coach", "COACH");
    public static readonly MethodSpec Neurosurgeon = new("neurosurgeon", "ns", "Neurosurgeon");
    public static readonly MethodSpec Dads = new("dads", "dads", "DADS");
    public static readonly MethodSpec Spinn = new("spinn", "spinn", "SPINN");
    public static readonly MethodSpec Jps = new("jps", "jps", "JPS");
    public static readonly MethodSpec CloudOnly = new("cloud_only", "cloud", "cloud-only");
    public static readonly MethodSpec EdgeOnly = new("edge_only", "edge", "edge-only");

    public static IReadOnlyList<MethodSpec> Demo { get; } = [Coach, Neurosurgeon, Jps, CloudOnly, EdgeOnly];

    public static IReadOnlyList<MethodSpec> All { get; } = [Coach, Neurosurgeon, Dads, Spinn, Jps, CloudOnly, EdgeOnly];
}
