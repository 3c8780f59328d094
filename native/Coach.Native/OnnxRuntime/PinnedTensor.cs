namespace Coach.Native.OnnxRuntime;

/// <summary>
/// A tensor in native, 64-byte-aligned memory that never moves: what a <see cref="SessionBinding"/>
/// hands to ORT as an input or output buffer on every run without copying or pinning.
/// </summary>
public sealed unsafe class PinnedTensor : IDisposable
{
    private readonly NativeBufferHandle _buffer;
    private int _disposed;

    private PinnedTensor(TensorElementType elementType, long[] shape)
    {
        ElementType = elementType;
        Shape = (long[])shape.Clone();
        ElementCount = TensorElementTypeExtensions.ElementCount(shape);
        ByteCount = checked(ElementCount * elementType.ByteSize());
        _buffer = new NativeBufferHandle((nuint)ByteCount);
    }

    public TensorElementType ElementType { get; }

    public long[] Shape { get; }

    public long ElementCount { get; }

    public long ByteCount { get; }

    internal NativeBufferHandle Buffer => _buffer;

    internal bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>A zero-filled tensor of a concrete shape.</summary>
    public static PinnedTensor Create(TensorElementType type, long[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return new PinnedTensor(type, shape);
    }

    /// <summary>A pinned copy of <paramref name="tensor"/>.</summary>
    public static PinnedTensor CopyOf(DenseTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var pinned = new PinnedTensor(tensor.ElementType, tensor.Shape);
        tensor.Data.CopyTo(pinned.AsSpan<byte>());
        return pinned;
    }

    /// <summary>The elements as <typeparamref name="T"/> (element-sized, or byte).</summary>
    public Span<T> AsSpan<T>()
        where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        TensorSpans.CheckView<T>(ElementType);
        var length = ByteCount / sizeof(T);
        if (length > int.MaxValue)
        {
            throw new InvalidOperationException($"{ByteCount} bytes do not fit one span; split the tensor");
        }
        return new Span<T>((void*)_buffer.DangerousGetHandle(), (int)length);
    }

    /// <summary>A managed copy.</summary>
    public DenseTensor ToDense()
    {
        var dense = DenseTensor.Create(ElementType, Shape);
        AsSpan<byte>().CopyTo(dense.Data);
        return dense;
    }

    /// <summary>Frees the memory once no <see cref="SessionBinding"/> uses it any more.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _buffer.Dispose();
        }
    }

    public override string ToString() =>
        $"{ElementType.DisplayName()}{TensorElementTypeExtensions.FormatShape(Shape)} (pinned)";
}
