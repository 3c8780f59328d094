using Coach.Engine.DataPlane;

namespace Coach.Engine.Online;

/// <summary>
/// What eq. 11 needs from the plan: the expected edge and cloud stage times and the size of the cut, so that the transmission
/// time at Q bits over bandwidth B̂ is <c>T'_t(Q, B̂) = FrameBytes(Q) / B̂ + overhead</c>, with the bytes of the Request frame
/// the edge sends (<see cref="DataPlane.FrameBytes"/>: headers, a descriptor per cut tensor, ceil(n_k·Q/8) packed bytes each).
/// </summary>
public sealed class TransferCostModel
{
    private readonly int[] _cutTensorLengths;

    /// <param name="edgeSeconds">T_e: the head's compute time per frame.</param>
    /// <param name="cloudSeconds">T_c: the tail's compute time per frame.</param>
    /// <param name="cutTensorLengths">Element count of each cut tensor (batch 1).</param>
    /// <param name="cutTensorRanks">Rank of each cut tensor on the wire, batch dimension included (its descriptor grows with it).</param>
    /// <param name="overheadSeconds">Fixed per-frame transmission overhead (round trip, syscalls).</param>
    public TransferCostModel(double edgeSeconds, double cloudSeconds, IReadOnlyList<int> cutTensorLengths, IReadOnlyList<int> cutTensorRanks, double overheadSeconds = 0)
    {
        if (!(edgeSeconds >= 0) || !(cloudSeconds >= 0) || !(overheadSeconds >= 0))
        {
            throw new ArgumentOutOfRangeException(nameof(edgeSeconds), "Stage times must be non-negative seconds.");
        }

        ArgumentNullException.ThrowIfNull(cutTensorLengths);
        ArgumentNullException.ThrowIfNull(cutTensorRanks);
        if (cutTensorLengths.Count == 0 || cutTensorLengths.Any(n => n < 1))
        {
            throw new ArgumentException("A cut has at least one tensor, each with at least one value.", nameof(cutTensorLengths));
        }

        if (cutTensorRanks.Count != cutTensorLengths.Count || cutTensorRanks.Any(r => r < 1))
        {
            throw new ArgumentException($"Each of the {cutTensorLengths.Count} cut tensors needs a rank of at least 1.", nameof(cutTensorRanks));
        }

        EdgeSeconds = edgeSeconds;
        CloudSeconds = cloudSeconds;
        _cutTensorLengths = [.. cutTensorLengths];
        int header = DataPlane.FrameBytes.RequestFixedBytes;
        foreach (int rank in cutTensorRanks)
        {
            header += DataPlane.FrameBytes.TensorHeaderBytes(rank);
        }

        HeaderBytesPerFrame = header;
        OverheadSeconds = overheadSeconds;
    }

    public double EdgeSeconds { get; }

    public double CloudSeconds { get; }

    public IReadOnlyList<int> CutTensorLengths => _cutTensorLengths;

    /// <summary>Bytes of every frame whatever its bits: the frame and Request headers and the tensors' descriptors.</summary>
    public int HeaderBytesPerFrame { get; }

    public double OverheadSeconds { get; }

    /// <summary>Bytes on the wire for one frame at <paramref name="bits"/> per value (32 = unquantized float).</summary>
    public long FrameBytes(int bits)
    {
        long total = HeaderBytesPerFrame;
        foreach (int n in _cutTensorLengths)
        {
            total += DataPlane.FrameBytes.PayloadBytes(n, bits);
        }

        return total;
    }

    /// <summary>T'_t(Q, B̂).</summary>
    public double TransmissionSeconds(int bits, double bytesPerSecond) => (FrameBytes(bits) / bytesPerSecond) + OverheadSeconds;
}
