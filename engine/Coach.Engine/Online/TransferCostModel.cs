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
    private readonly double[]?[] _codedRatios;

    /// <param name="edgeSeconds">T_e: the head's compute time per frame.</param>
    /// <param name="cloudSeconds">T_c: the tail's compute time per frame.</param>
    /// <param name="cutTensorLengths">Element count of each cut tensor (batch 1).</param>
    /// <param name="cutTensorRanks">Rank of each cut tensor on the wire, batch dimension included (its descriptor grows with it).</param>
    /// <param name="overheadSeconds">Fixed per-frame transmission overhead (round trip, syscalls).</param>
    /// <param name="codedRatios">When the plan codes its cut tensors (plan.json <c>wire_coding</c>): per cut tensor, its coded /
    /// packed bytes at 2…8 bits (null for a tensor sent packed); the same byte model as the planner's (docs/entropy.md).</param>
    /// <param name="encodeSecondsPerPackedByte">The edge's coding time per packed byte, part of the send stage's time.</param>
    public TransferCostModel(double edgeSeconds, double cloudSeconds, IReadOnlyList<int> cutTensorLengths, IReadOnlyList<int> cutTensorRanks, double overheadSeconds = 0,
        IReadOnlyList<double[]?>? codedRatios = null, double encodeSecondsPerPackedByte = 0)
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

        if (codedRatios is not null && (codedRatios.Count != cutTensorLengths.Count || codedRatios.Any(r => r is not null && r.Length != 7)))
        {
            throw new ArgumentException($"Coded ratios are 7 values (2…8 bits) for each of the {cutTensorLengths.Count} cut tensors.", nameof(codedRatios));
        }

        if (!(encodeSecondsPerPackedByte >= 0))
        {
            throw new ArgumentOutOfRangeException(nameof(encodeSecondsPerPackedByte), "The coding time is non-negative seconds per byte.");
        }

        EdgeSeconds = edgeSeconds;
        CloudSeconds = cloudSeconds;
        _cutTensorLengths = [.. cutTensorLengths];
        _codedRatios = codedRatios is null ? new double[]?[cutTensorLengths.Count] : [.. codedRatios];
        EncodeSecondsPerPackedByte = codedRatios is null ? 0 : encodeSecondsPerPackedByte;
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

    /// <summary>The edge's coding time per packed byte (0 when the tensors go packed).</summary>
    public double EncodeSecondsPerPackedByte { get; }

    /// <summary>Bytes on the wire for one frame at <paramref name="bits"/> per value (32 = unquantized float); coded tensors at
    /// their measured coded share.</summary>
    public long FrameBytes(int bits) => (long)Math.Ceiling(CodedFrameBytes(bits));

    /// <summary>The frame's bytes before rounding to whole bytes (coded sizes are expectations).</summary>
    private double CodedFrameBytes(int bits)
    {
        double total = HeaderBytesPerFrame;
        for (int t = 0; t < _cutTensorLengths.Length; t++)
        {
            long packed = DataPlane.FrameBytes.PayloadBytes(_cutTensorLengths[t], bits);
            total += _codedRatios[t] is { } r && bits is >= 2 and <= 8 ? packed * r[bits - 2] : packed;
        }

        return total;
    }

    /// <summary>T'_t(Q, B̂): the frame's bytes over B̂, the overhead, and the coding of coded tensors' packed bytes.</summary>
    public double TransmissionSeconds(int bits, double bytesPerSecond)
    {
        double seconds = (CodedFrameBytes(bits) / bytesPerSecond) + OverheadSeconds;
        if (EncodeSecondsPerPackedByte > 0 && bits is >= 2 and <= 8)
        {
            for (int t = 0; t < _cutTensorLengths.Length; t++)
            {
                seconds += _codedRatios[t] is null ? 0 : DataPlane.FrameBytes.PayloadBytes(_cutTensorLengths[t], bits) * EncodeSecondsPerPackedByte;
            }
        }

        return seconds;
    }
}
