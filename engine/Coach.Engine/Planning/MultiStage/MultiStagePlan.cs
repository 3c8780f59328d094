namespace Coach.Engine.Planning.MultiStage;

/// <summary>
/// What one device sends to the next per frame: the cut tensors of the ideal the stages up to it hold (values
/// produced there, or model inputs, that a later stage reads — relayed values included), with their bits.
/// </summary>
public sealed record StageTransfer(
    int[] CutTensors,
    int[] Bits,
    int[] MinimumBits,
    double Bytes,
    double Seconds);

/// <summary>One stage of a multi-stage plan: the device, its layers, its compute time and memory, and its uplink.</summary>
public sealed record PipelineStagePlan(
    string Device,
    int[] Layers,
    bool[] IdealThroughHere,
    double ComputeSeconds,
    long WeightBytes,
    long ActivationBytes,
    long? MemoryBudgetBytes,
    StageTransfer? Transfer)
{
    public long MemoryBytes => WeightBytes + ActivationBytes;
}

/// <summary>
/// A partition of the layer DAG into k downward-closed stages across a device chain (docs/edgepipe.md): the stages
/// in pipeline order, the bottleneck max over every stage's compute and every link's transfer, one frame's serial
/// latency, and what the search cost.
/// </summary>
public sealed class MultiStagePlan
{
    public required IReadOnlyList<PipelineStagePlan> Stages { get; init; }
    /// <summary>max over stages of compute and over links of transfer: the pipeline's period.</summary>
    public required double BottleneckSeconds { get; init; }
    /// <summary>Σ compute + Σ transfer: one frame through an empty pipeline.</summary>
    public required double SerialLatencySeconds { get; init; }
    /// <summary>Ideals (downward-closed layer sets) of the DAG.</summary>
    public required long Ideals { get; init; }
    /// <summary>Pairs of nested ideals I' ⊆ I: the stages the dynamic programme can form.</summary>
    public required long NestedPairs { get; init; }
    /// <summary>Device orders tried (1 unless the order is free).</summary>
    public required int OrdersTried { get; init; }
    /// <summary>Cuts whose minimum bits were asked of calibration.</summary>
    public required int CutsCalibrated { get; init; }
    /// <summary>Wall time of the search, calibration included.</summary>
    public double PlannerMilliseconds { get; set; }

    public double ThroughputPerSecond => BottleneckSeconds > 0 ? 1.0 / BottleneckSeconds : double.PositiveInfinity;

    /// <summary>The devices in the order the plan runs them.</summary>
    public IEnumerable<string> DeviceOrder => Stages.Select(s => s.Device);
}

/// <summary>No partition of the model fits the devices' memory budgets; the message says why.</summary>
public sealed class MemoryBudgetException : Exception
{
    public MemoryBudgetException() { }
    public MemoryBudgetException(string message) : base(message) { }
    public MemoryBudgetException(string message, Exception inner) : base(message, inner) { }
}
