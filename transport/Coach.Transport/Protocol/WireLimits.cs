namespace Coach.Transport.Protocol;

/// <summary>
/// Upper bounds checked against every length read from the wire before anything is allocated.
/// The defaults admit every bundled plan (an unquantized 3×112×112 frame is 150 KB) with room.
/// </summary>
public sealed record WireLimits
{
    /// <summary>Hard cap on <see cref="MaxRank"/>: tensor shapes are held in a fixed inline buffer.</summary>
    public const int RankCapacity = 8;

    public static WireLimits Default { get; } = new();

    /// <summary>Largest payload of one frame, in bytes (the header is not counted).</summary>
    public int MaxFrameBytes { get; init; } = 16 << 20;

    /// <summary>Most tensors one Request may carry (cut tensors of a plan); the planner's default limit is the same constant.</summary>
    public int MaxTensorsPerFrame { get; init; } = Coach.Engine.Planning.CutConstraints.MaxTensorsPerFrame;

    /// <summary>Most dimensions of one tensor (at most <see cref="RankCapacity"/>).</summary>
    public int MaxRank { get; init; } = 6;

    /// <summary>Largest product of a tensor's dimensions (element count).</summary>
    public long MaxElementsPerTensor { get; init; } = 1L << 24;

    /// <summary>Longest UTF-8 string field (client id, plan id, tail name, error message).</summary>
    public int MaxStringBytes { get; init; } = 1024;

    /// <summary>Longest authentication field of the Hello (filled by the authentication exchange).</summary>
    public int MaxAuthBytes { get; init; } = 4096;

    /// <summary>Most logits one Result may carry.</summary>
    public int MaxLogits { get; init; } = 65536;

    /// <summary>Most requests one connection may have outstanding at the cloud.</summary>
    public int MaxInFlightPerConnection { get; init; } = 256;

    /// <summary>Checks the limits themselves; a misconfiguration is reported before any connection is made.</summary>
    public void Validate()
    {
        if (MaxFrameBytes < 1024 || MaxFrameBytes > int.MaxValue - FrameHeader.Size)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxFrameBytes), MaxFrameBytes, "max frame bytes must be in 1 KiB … 2 GiB");
        }

        if (MaxRank < 1 || MaxRank > RankCapacity)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxRank), MaxRank, $"max rank must be in 1 … {RankCapacity}");
        }

        if (MaxTensorsPerFrame < 1 || MaxTensorsPerFrame > ushort.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxTensorsPerFrame), MaxTensorsPerFrame, "max tensors per frame must be in 1 … 65535");
        }

        if (MaxStringBytes < 16 || MaxStringBytes > ushort.MaxValue || MaxAuthBytes < 0 || MaxAuthBytes > ushort.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxStringBytes), "string and auth limits must fit a u16 length prefix");
        }

        if (MaxElementsPerTensor < 1 || MaxInFlightPerConnection < 1 || MaxLogits < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxElementsPerTensor), "element, logit and in-flight limits must be positive");
        }
    }
}
