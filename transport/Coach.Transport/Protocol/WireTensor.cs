using System.Runtime.CompilerServices;
using Coach.Engine.DataPlane;

namespace Coach.Transport.Protocol;

/// <summary>Element type of a tensor on the wire, numbered as ONNX's TensorProto.DataType.</summary>
public enum WireElementType : byte
{
    Float32 = 1,
    UInt8 = 2,
}

/// <summary>How a tensor's bytes are compressed on the wire.</summary>
public enum TensorCompression : byte
{
    None = 0,
    /// <summary>LZ4 block over the packed bytes (docs/protocol.md §4.4).</summary>
    Lz4 = 1,
    /// <summary>One zstd frame over the packed bytes, sent only when it is shorter than they are (docs/protocol.md §4.4).</summary>
    Zstd = 2,
    /// <summary>The model's input frame [1,3,H,W] as one baseline JPEG (RGB, three components) of exactly H×W, bits = 8,
    /// scale 1/255, zero point 0: the cloud decodes it and feeds value/255 (docs/protocol.md §4.4; the cloud-jpeg plan).</summary>
    Jpeg = 3,
    /// <summary>The model's input frame [1,3,H,W] as the next H.264 access unit (Annex B) of the connection's stream of this
    /// plan, exactly one picture of H×W, bits = 8, scale 1/255, zero point 0: the cloud decodes the connection's requests in
    /// arrival order and feeds value/255; a stream starts with an IDR frame (docs/protocol.md §4.4; the cloud-h264 plan).</summary>
    H264 = 4,
}

/// <summary>The dimensions of a wire tensor, inline (no array).</summary>
[InlineArray(WireLimits.RankCapacity)]
public struct TensorDims
{
    private int _element0;
}

/// <summary>
/// Descriptor of one tensor inside a Request payload: which cut tensor (ordinal in the plan), its
/// logical element type and shape, how it is encoded (bits 1…8 = UAQ bit-packed with
/// <see cref="Scale"/>/<see cref="ZeroPoint"/>; 32 = raw little-endian float32), and where its bytes lie.
/// </summary>
public struct WireTensor
{
    /// <summary>Bits value that means "raw float32, not quantized".</summary>
    public const int RawFloatBits = 32;

    public ushort Ordinal;
    public WireElementType ElementType;
    public byte Bits;
    public TensorCompression Compression;
    public byte Rank;
    public TensorDims Dims;
    public float Scale;
    public int ZeroPoint;

    /// <summary>Offset of the tensor's bytes from the start of the payload.</summary>
    public int DataOffset;

    /// <summary>Number of bytes on the wire.</summary>
    public int DataLength;

    /// <summary>Product of the dimensions (checked against the limits when read).</summary>
    public readonly long ElementCount
    {
        get
        {
            long count = 1;
            for (int i = 0; i < Rank; i++)
            {
                count *= Dims[i];
            }

            return count;
        }
    }

    public readonly QuantizationParameters Quantization => new(Scale, ZeroPoint, Bits);

    /// <summary>Bytes of an uncompressed encoding of <paramref name="elementCount"/> values at <paramref name="bits"/>.</summary>
    public static long EncodedByteCount(long elementCount, int bits) =>
        bits == RawFloatBits ? elementCount * sizeof(float) : Uaq.PackedByteCount(checked((int)elementCount), bits);

    /// <summary>Size of a tensor's descriptor on the wire.</summary>
    public static int DescriptorSize(int rank) => 2 + 1 + 1 + 1 + 1 + 2 + 4 + 4 + (4 * rank) + 4;
}
