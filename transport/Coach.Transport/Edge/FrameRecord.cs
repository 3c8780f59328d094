namespace Coach.Transport.Edge;

/// <summary>How a frame was answered.</summary>
public enum FrameDecision : byte
{
    /// <summary>Not finished (still in the pipeline).</summary>
    Pending = 0,
    /// <summary>Cut tensors sent; the cloud's tail answered.</summary>
    Cloud = 1,
    /// <summary>The online scheduler was confident enough to answer on the edge (eq. 9, S &gt; S_ext).</summary>
    EarlyExit = 2,
    /// <summary>The plan has no cut: the full model ran on the edge.</summary>
    EdgeOnly = 3,
    /// <summary>The frame ended with an explicit error (the cloud's Error frame or a lost connection).</summary>
    Failed = 4,
    /// <summary>The cloud was unreachable (or could not answer): the full model answered on the edge.</summary>
    Fallback = 5,
}

/// <summary>Everything measured about one frame (one CSV row). Times are microseconds.</summary>
public struct FrameRecord
{
    public int FrameId;
    public int TrueLabel;
    public int PredictedLabel;
    public FrameDecision Decision;
    public int Bits;
    public int WireBytes;

    /// <summary>Monotonic time the head stage started on the frame (render + head).</summary>
    public long StartMicros;

    /// <summary>Monotonic time the answer was known on the edge.</summary>
    public long EndMicros;
    public int HeadMicros;
    public int ScheduleMicros;
    public int SendMicros;
    public int CloudComputeMicros;
    public int CloudQueueMicros;
    public int CloudBatchSize;

    /// <summary>Last − first byte arrival at the cloud (0 when the frame arrived in one read).</summary>
    public int ArrivalSpreadMicros;
    public int Duplicates;

    public readonly bool IsAnswered => Decision is FrameDecision.Cloud or FrameDecision.EarlyExit or FrameDecision.EdgeOnly or FrameDecision.Fallback;

    public readonly double LatencyMilliseconds => (EndMicros - StartMicros) / 1000.0;
}
