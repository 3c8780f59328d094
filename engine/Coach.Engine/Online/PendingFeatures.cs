namespace Coach.Engine.Online;

/// <summary>
/// Task features of frames sent to the cloud and not answered yet, keyed by frame id, so that eq. 7 can update the semantic
/// centre of frame k with the label the cloud returns for k, whenever that arrives (answers come back out of order and
/// several frames later in a pipelined edge).
/// </summary>
/// <remarks>
/// A ring of <see cref="Capacity"/> slots indexed by <c>frameId mod Capacity</c>, preallocated, so storing and taking a
/// feature allocates nothing. The capacity must cover the frames that can be unanswered at once (pipeline slots plus the
/// requests in flight); a frame whose slot was reused before its answer came is forgotten (counted in <see cref="Overwritten"/>)
/// rather than learnt with another frame's feature.
/// </remarks>
public sealed class PendingFeatures
{
    private readonly float[] _features;
    private readonly long[] _frameIds;

    public PendingFeatures(int capacity, int featureLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(featureLength, 1);
        Capacity = capacity;
        FeatureLength = featureLength;
        _features = new float[checked(capacity * featureLength)];
        _frameIds = new long[capacity];
        _frameIds.AsSpan().Fill(-1);
    }

    public int Capacity { get; }

    public int FeatureLength { get; }

    /// <summary>Stored features lost because a newer frame needed their slot before the answer came.</summary>
    public long Overwritten { get; private set; }

    /// <summary>Keeps <paramref name="feature"/> for <paramref name="frameId"/> (≥ 0).</summary>
    public void Store(long frameId, ReadOnlySpan<float> feature)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(frameId);
        if (feature.Length < FeatureLength)
        {
            throw new ArgumentException($"A task feature has {FeatureLength} values; got {feature.Length}.", nameof(feature));
        }

        int slot = (int)(frameId % Capacity);
        if (_frameIds[slot] >= 0 && _frameIds[slot] != frameId)
        {
            Overwritten++;
        }

        _frameIds[slot] = frameId;
        feature[..FeatureLength].CopyTo(_features.AsSpan(slot * FeatureLength, FeatureLength));
    }

    /// <summary>The feature stored for <paramref name="frameId"/>, removed from the store; false when there is none.</summary>
    /// <remarks>The span stays valid until the next <see cref="Store"/> into the same slot.</remarks>
    public bool TryTake(long frameId, out ReadOnlySpan<float> feature)
    {
        int slot = frameId < 0 ? -1 : (int)(frameId % Capacity);
        if (slot < 0 || _frameIds[slot] != frameId)
        {
            feature = default;
            return false;
        }

        _frameIds[slot] = -1;
        feature = _features.AsSpan(slot * FeatureLength, FeatureLength);
        return true;
    }
}
