using System.Runtime.InteropServices;

namespace Coach.Native.OnnxRuntime;

/// <summary>
/// A tensor on the managed heap: element type, concrete shape and the raw little-endian element
/// bytes (the layout of ONNX's raw_data). The allocating, easy-to-use form; the hot path uses
/// <see cref="PinnedTensor"/>.
/// </summary>
public sealed class DenseTensor
{
    public DenseTensor(TensorElementType elementType, long[] shape, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        ElementCount = TensorElementTypeExtensions.ElementCount(shape);
        var expected = checked(ElementCount * elementType.ByteSize());
        if (data.LongLength != expected)
        {
            throw new ArgumentException(
                $"a {elementType.DisplayName()} tensor of shape {TensorElementTypeExtensions.FormatShape(shape)} needs {expected} bytes, got {data.LongLength}",
                nameof(data));
        }
        ElementType = elementType;
        Shape = (long[])shape.Clone();
        Data = data;
    }

    public TensorElementType ElementType { get; }

    public long[] Shape { get; }

    /// <summary>Raw little-endian element bytes, row-major.</summary>
    public byte[] Data { get; }

    public long ElementCount { get; }

    /// <summary>The elements as <typeparamref name="T"/>; <typeparamref name="T"/> must have the element
    /// size (float for Float, long for Int64, ...) or be byte.</summary>
    public Span<T> AsSpan<T>()
        where T : unmanaged
    {
        TensorSpans.CheckView<T>(ElementType);
        return MemoryMarshal.Cast<byte, T>(Data.AsSpan());
    }

    /// <summary>A zero-filled tensor.</summary>
    public static DenseTensor Create(TensorElementType type, long[] shape) =>
        new(type, shape, new byte[checked(TensorElementTypeExtensions.ElementCount(shape) * type.ByteSize())]);

    /// <summary>A float32 tensor holding a copy of <paramref name="values"/>.</summary>
    public static DenseTensor FromFloats(float[] values, params long[] shape)
    {
        ArgumentNullException.ThrowIfNull(values);
        var tensor = Create(TensorElementType.Float, shape);
        if (tensor.ElementCount != values.Length)
        {
            throw new ArgumentException(
                $"shape {TensorElementTypeExtensions.FormatShape(shape)} holds {tensor.ElementCount} elements, got {values.Length} values",
                nameof(values));
        }
        values.AsSpan().CopyTo(tensor.AsSpan<float>());
        return tensor;
    }

    public override string ToString() =>
        $"{ElementType.DisplayName()}{TensorElementTypeExtensions.FormatShape(Shape)}";
}

internal static class TensorSpans
{
    public static unsafe void CheckView<T>(TensorElementType elementType)
        where T : unmanaged
    {
        if (sizeof(T) != 1 && sizeof(T) != elementType.ByteSize())
        {
            throw new InvalidOperationException(
                $"cannot view {elementType.DisplayName()} elements ({elementType.ByteSize()} bytes) as {typeof(T).Name} ({sizeof(T)} bytes)");
        }
    }
}
