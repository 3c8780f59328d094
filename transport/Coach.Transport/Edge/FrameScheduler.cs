using Coach.Native.OnnxRuntime;

namespace Coach.Transport.Edge;

/// <summary>What the online stage decided for one frame.</summary>
public readonly record struct SchedulingDecision(bool EarlyExit, int Label, int Bits)
{
    /// <summary>Send the cut tensors at <paramref name="bits"/> (0 = each tensor's planned bits).</summary>
    public static SchedulingDecision Send(int bits) => new(false, -1, bits);

    public static SchedulingDecision Exit(int label) => new(true, label, 0);
}

/// <summary>
/// The per-frame online decision of the edge (paper §III-C, docs/online.md): early exit or the bits to send
/// with, given the head's cut tensors; fed back with the labels the cloud returns and with
/// bandwidth samples. Called from one pipeline stage at a time; must not allocate per frame.
/// </summary>
public interface IFrameScheduler
{
    /// <summary>Short name for summaries ("fixed", "coach-online", …).</summary>
    string Name { get; }

    /// <param name="frameId">Task index (stable; also used in <see cref="OnCloudLabel"/>).</param>
    /// <param name="cutTensors">The head's outputs for this frame, in plan order.</param>
    /// <param name="headSeconds">How long the head took for this frame (T_e).</param>
    SchedulingDecision Decide(int frameId, IReadOnlyList<PinnedTensor> cutTensors, double headSeconds);

    /// <summary>The cloud answered <paramref name="frameId"/> with <paramref name="label"/> (semantic centre update, eq. 7).</summary>
    void OnCloudLabel(int frameId, int label);

    /// <summary>A request of <paramref name="bytes"/> took <paramref name="seconds"/> to arrive at the cloud.</summary>
    void OnTransferSample(long bytes, double seconds);

    /// <summary>
    /// Before <see cref="Decide"/>: whether the frame had to queue for the edge (always true when frames are offered as fast
    /// as the pipeline takes them). A scheduler may spend spare link time on more bits only while frames queue.
    /// </summary>
    void OnLoad(bool saturated)
    {
    }

    /// <summary>The cloud's smoothed queueing per request, from its Results (docs/fleet.md §7); a scheduler may count it in T_c.</summary>
    void OnCloudQueue(double seconds)
    {
    }
}

/// <summary>No online adaptation: every frame goes to the cloud at the plan's bits (the baselines' behaviour).</summary>
public sealed class FixedBitsScheduler : IFrameScheduler
{
    public string Name => "fixed";

    public SchedulingDecision Decide(int frameId, IReadOnlyList<PinnedTensor> cutTensors, double headSeconds) => SchedulingDecision.Send(0);

    public void OnCloudLabel(int frameId, int label)
    {
    }

    public void OnTransferSample(long bytes, double seconds)
    {
    }
}
