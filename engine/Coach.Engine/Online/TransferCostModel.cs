namespace Coach.Engine.Online;

/// <summary>
/// What eq. 11 needs from the plan: the expected edge and cloud stage times and the size of the cut, so that the transmission
/// time at Q bits over bandwidth B̂ is <c>T'_t(Q, B̂) = (Σ_k ceil(n_k·Q/8) + header) / B̂ + overhead</c>.
/// </summary>
public sealed class TransferCostModel
{
    private readonly int[] _cutTensorLengths;

    /// <param name="edgeSeconds">T_e: the head's compute time per frame.</param>
    /// <param name="cloudSeconds">T_c: the tail's compute time per frame.</param>
    /// <param name="cutTensorLengths">Element count of each cut tensor (batch 1).</param>
    /// <param name="headerBytesPerFrame">Frame header and per-tensor metadata bytes.</param>
    /// <param name="overheadSeconds">Fixed per-frame transmission overhead (round trip, syscalls).</param>
    public TransferCostModel(double edgeSeconds, double cloudSeconds, IReadOnlyList<int> cutTensorLengths, int headerBytesPerFrame = 64, double overheadSeconds = 0)
    {
        if (!(edgeSeconds >= 0) || !(cloudSeconds >= 0) || !(overheadSeconds >= 0))
        {
            throw new ArgumentOutOfRangeException(nameof(edgeSeconds), "Stage times must be non-negative seconds.");
        }

        ArgumentNullException.ThrowIfNull(cutTensorLengths);
        if (cutTensorLengths.Count == 0 || cutTensorLengths.Any(n => n < 1))
        {
            throw new ArgumentException("A cut has at least one tensor, each with at least one value.", nameof(cutTensorLengths));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(headerBytesPerFrame);
        EdgeSeconds = edgeSeconds;
        CloudSeconds = cloudSeconds;
        _cutTensorLengths = [.. cutTensorLengths];
        HeaderBytesPerFrame = headerBytesPerFrame;
        OverheadSeconds = overheadSeconds;
    }

    public double EdgeSeconds { get; }

    public double CloudSeconds { get; }

    public IReadOnlyList<int> CutTensorLengths => _cutTensorLengths;

    public int HeaderBytesPerFrame { get; }

    public double OverheadSeconds { get; }

    /// <summary>Bytes on the wire for one frame at <paramref name="bits"/> per value (32 = unquantized float).</summary>
    public long FrameBytes(int bits)
    {
        long total = HeaderBytesPerFrame;
        foreach (int n in _cutTensorLengths)
        {
            total += (((long)n * bits) + 7) >> 3;
        }

        return total;
    }

    /// <summary>T'_t(Q, B̂).</summary>
    public double TransmissionSeconds(int bits, double bytesPerSecond) => (FrameBytes(bits) / bytesPerSecond) + OverheadSeconds;
}
