namespace Coach.Engine.Planning.MultiStage;

/// <summary>
/// The link from one device to the next in the chain (docs/edgepipe.md §1): its rate and what every frame costs on
/// it besides the cut tensors — a fixed time (syscalls, first-byte latency) and fixed bytes beyond the frame and
/// Request headers that <see cref="PipelineCostModel"/>'s byte model already counts (a relay's own framing, say).
/// </summary>
public sealed record DeviceLink(double BitsPerSecond, double FrameOverheadSeconds = 0.0005, long FrameOverheadBytes = 0)
{
    /// <summary>The per-frame cost of the link in seconds: its time plus its bytes at the link's rate.</summary>
    public double FrameSeconds => FrameOverheadSeconds + (FrameOverheadBytes * 8.0 / BitsPerSecond);
}

/// <summary>
/// One device of the chain: its time for every layer (seconds, by topological index, t_i of eq. 2 on this device),
/// its own work per frame besides the layers, the memory its stage may take (weights and activations; null =
/// unbounded) and its link to the next device (null for the cloud, the chain's last device).
/// </summary>
public sealed record PipelineDevice(
    string Name,
    double[] LayerSeconds,
    long? MemoryBudgetBytes = null,
    DeviceLink? Uplink = null,
    double FrameOverheadSeconds = 0);

/// <summary>
/// The devices a model is pipelined across (docs/edgepipe.md §1): edge devices in chain order (the first one takes
/// the frames), then the cloud. With <see cref="OrderIsFree"/> the planner chooses the edge devices' order too; each
/// keeps its own uplink. <see cref="LatencyBudgetSeconds"/> bounds one frame's serial latency: every stage's
/// compute plus every link's transfer.
/// </summary>
public sealed record DeviceChain(
    IReadOnlyList<PipelineDevice> EdgeDevices,
    PipelineDevice Cloud,
    bool OrderIsFree = false,
    double? LatencyBudgetSeconds = null)
{
    /// <summary>Number of stages k: the edge devices and the cloud.</summary>
    public int StageCount => EdgeDevices.Count + 1;

    /// <summary>
    /// COACH's two stages as a chain: the problem's edge (its layer times, per-frame work and link) and its cloud,
    /// memory unbounded. With k = 2 the multi-stage plan is COACH's partition (docs/edgepipe.md §3).
    /// </summary>
    public static DeviceChain EdgeAndCloud(PlanningProblem problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        var s = problem.Settings;
        var edge = new PipelineDevice("edge", problem.EdgeSeconds, null, new DeviceLink(s.BandwidthBitsPerSecond, s.FrameOverheadSeconds), s.EdgeFrameOverheadSeconds);
        return new DeviceChain([edge], new PipelineDevice("cloud", problem.CloudSeconds));
    }

    /// <summary>Throws when the chain does not describe <paramref name="layerCount"/> layers or lacks a link.</summary>
    public void Validate(int layerCount)
    {
        if (EdgeDevices.Count == 0)
        {
            throw new ArgumentException("the chain has no edge device: at least one device must take the frames before the cloud");
        }
        foreach (var d in EdgeDevices.Append(Cloud))
        {
            if (d.LayerSeconds.Length != layerCount)
            {
                throw new ArgumentException($"device '{d.Name}' has {d.LayerSeconds.Length} layer times; the model has {layerCount} layers");
            }
            if (d.MemoryBudgetBytes is < 0)
            {
                throw new ArgumentException($"device '{d.Name}' has a negative memory budget ({d.MemoryBudgetBytes} bytes)");
            }
        }
        foreach (var d in EdgeDevices)
        {
            if (d.Uplink is not { } link || !(link.BitsPerSecond > 0) || double.IsInfinity(link.BitsPerSecond))
            {
                throw new ArgumentException($"edge device '{d.Name}' needs a link to the next device with a positive rate");
            }
        }
        if (EdgeDevices.Select(d => d.Name).Append(Cloud.Name).Distinct(StringComparer.Ordinal).Count() != StageCount)
        {
            throw new ArgumentException("device names must be distinct: the plan names each stage by its device");
        }
    }
}
