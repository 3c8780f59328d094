namespace Coach.Native.OnnxRuntime;

/// <summary>Element type of a tensor, numbered as ONNX's <c>TensorProto.DataType</c> (and ORT's
/// <c>ONNXTensorElementDataType</c>).</summary>
public enum TensorElementType
{
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    UInt16 = 4,
    Int16 = 5,
    Int32 = 6,
    Int64 = 7,
    String = 8,
    Bool = 9,
    Float16 = 10,
    Double = 11,
    UInt32 = 12,
    UInt64 = 13,
}

/// <summary>Name, element type and shape of a model input or output; -1 marks a dynamic dimension.</summary>
public sealed record TensorMetadata(string Name, TensorElementType ElementType, long[] Shape)
{
    /// <summary>True when no dimension is dynamic.</summary>
    public bool IsFixedShape => Array.TrueForAll(Shape, d => d >= 0);

    /// <summary>The shape with every dynamic dimension replaced by <paramref name="dynamicDimension"/>.</summary>
    public long[] ConcreteShape(long dynamicDimension = 1) =>
        Array.ConvertAll(Shape, d => d < 0 ? dynamicDimension : d);

    public override string ToString() =>
        $"{Name} {ElementType.DisplayName()}[{string.Join(',', Array.ConvertAll(Shape, d => d < 0 ? "?" : d.ToString()))}]";
}

/// <summary>Sizes and names of <see cref="TensorElementType"/>s and shape arithmetic.</summary>
public static class TensorElementTypeExtensions
{
    /// <summary>Bytes per element; throws for <see cref="TensorElementType.String"/>, which has no fixed size.</summary>
    public static int ByteSize(this TensorElementType type) => type switch
    {
        TensorElementType.Float => 4,
        TensorElementType.UInt8 => 1,
        TensorElementType.Int8 => 1,
        TensorElementType.UInt16 => 2,
        TensorElementType.Int16 => 2,
        TensorElementType.Int32 => 4,
        TensorElementType.Int64 => 8,
        TensorElementType.Bool => 1,
        TensorElementType.Float16 => 2,
        TensorElementType.Double => 8,
        TensorElementType.UInt32 => 4,
        TensorElementType.UInt64 => 8,
        TensorElementType.String => throw new NotSupportedException(
            "string tensors have no fixed element size; Coach binds numeric tensors only"),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not an ONNX tensor element type Coach knows"),
    };

    /// <summary>Short name as in ONNX text form: float32, int64, uint8, bool, ...</summary>
    public static string DisplayName(this TensorElementType type) => type switch
    {
        TensorElementType.Float => "float32",
        TensorElementType.Float16 => "float16",
        TensorElementType.Double => "float64",
        _ => type.ToString().ToLowerInvariant(),
    };

    /// <summary>Number of elements of a concrete shape (an empty shape is a scalar: 1).</summary>
    public static long ElementCount(ReadOnlySpan<long> shape)
    {
        long count = 1;
        foreach (var dimension in shape)
        {
            if (dimension < 0)
            {
                throw new ArgumentException(
                    $"shape [{string.Join(',', shape.ToArray())}] has a dynamic or negative dimension; a tensor needs a concrete shape",
                    nameof(shape));
            }
            count = checked(count * dimension);
        }
        return count;
    }

    internal static string FormatShape(ReadOnlySpan<long> shape) => $"[{string.Join(',', shape.ToArray())}]";
}
