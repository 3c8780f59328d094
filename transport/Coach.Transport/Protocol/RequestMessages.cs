using System.Buffers;
using Coach.Engine.DataPlane;

namespace Coach.Transport.Protocol;

/// <summary>The fixed part of a Request payload (docs/protocol.md §4.4).</summary>
public readonly record struct RequestHeader(ulong RequestId, long EdgeCaptureMicros, long EdgeSendMicros, int TensorCount)
{
    public const int Size = 8 + 8 + 8 + 2 + 2;
}

/// <summary>
/// Writes one Request frame straight into the connection's <see cref="IBufferWriter{T}"/>: the
/// descriptors and the UAQ-packed tensor bytes are produced in place in the writer's span
/// (<see cref="Uaq.QuantizePack(ReadOnlySpan{float}, int, Span{byte})"/> packs into it), so the steady-state
/// send path allocates nothing.
/// </summary>
public ref struct RequestFrameWriter
{
    private FrameBuilder _frame;
    private WireSpanWriter _payload;
    private readonly int _declaredTensors;
    private int _writtenTensors;

    private RequestFrameWriter(FrameBuilder frame, int declaredTensors)
    {
        _frame = frame;
        _payload = new WireSpanWriter(frame.Payload);
        _declaredTensors = declaredTensors;
        _writtenTensors = 0;
    }

    /// <summary>Room a tensor of this rank, size and bit width needs in a payload.</summary>
    public static int TensorCapacity(int rank, long elementCount, int bits) =>
        checked(WireTensor.DescriptorSize(rank) + (int)WireTensor.EncodedByteCount(elementCount, bits));

    /// <summary>
    /// Starts a Request frame for <paramref name="tensorCount"/> tensors whose
    /// <see cref="TensorCapacity"/> sum to at most <paramref name="tensorBytesCapacity"/>.
    /// </summary>
    public static RequestFrameWriter Begin(IBufferWriter<byte> output, in RequestHeader header, int tensorBytesCapacity, FrameFlags flags = FrameFlags.None)
    {
        if (header.TensorCount is < 0 or > ushort.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(header), header.TensorCount, "tensor count must fit a u16");
        }

        var frame = FrameBuilder.Begin(output, FrameType.Request, flags, RequestHeader.Size + tensorBytesCapacity);
        var writer = new RequestFrameWriter(frame, header.TensorCount);
        writer._payload.WriteUInt64(header.RequestId);
        writer._payload.WriteInt64(header.EdgeCaptureMicros);
        writer._payload.WriteInt64(header.EdgeSendMicros);
        writer._payload.WriteUInt16((ushort)header.TensorCount);
        writer._payload.WriteUInt16(0);
        return writer;
    }

    /// <summary>Fits UAQ parameters to <paramref name="values"/> (min/max) and packs them at <paramref name="bits"/> (1…8).</summary>
    public QuantizationParameters AddQuantized(int ordinal, ReadOnlySpan<float> values, ReadOnlySpan<int> shape, int bits)
    {
        Span<byte> data = BeginTensor(ordinal, shape, values.Length, bits, out Span<byte> parameters);
        QuantizationParameters p = Uaq.QuantizePack(values, bits, data);
        WriteParameters(parameters, p.Scale, p.ZeroPoint);
        return p;
    }

    /// <summary>Packs <paramref name="values"/> with fixed parameters (e.g. an 8-bit frame: scale 1/255, zero 0).</summary>
    public void AddQuantized(int ordinal, ReadOnlySpan<float> values, ReadOnlySpan<int> shape, QuantizationParameters parameters)
    {
        Span<byte> data = BeginTensor(ordinal, shape, values.Length, parameters.Bits, out Span<byte> slot);
        Uaq.QuantizePack(values, parameters, data);
        WriteParameters(slot, parameters.Scale, parameters.ZeroPoint);
    }

    /// <summary>
    /// Fits UAQ parameters, packs at <paramref name="bits"/> into <paramref name="scratch"/> (at least the packed size), and
    /// sends the packed bytes as one zstd frame (compression code 2) when that is shorter, else as they are. Needs no more
    /// room than <see cref="AddQuantized(int, ReadOnlySpan{float}, ReadOnlySpan{int}, int)"/>; allocates nothing.
    /// </summary>
    public QuantizationParameters AddQuantizedCoded(int ordinal, ReadOnlySpan<float> values, ReadOnlySpan<int> shape, int bits, Native.Compression.Zstd coder, Span<byte> scratch)
    {
        ArgumentNullException.ThrowIfNull(coder);
        if (bits is not (>= 1 and <= 8))
        {
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "coded tensors are UAQ codes of 1 … 8 bits");
        }

        int packedLength = Uaq.PackedByteCount(values.Length, bits);
        if (scratch.Length < packedLength)
        {
            throw new ArgumentException($"the scratch buffer holds {scratch.Length} bytes; {values.Length} values at {bits} bits pack into {packedLength}", nameof(scratch));
        }

        Span<byte> packed = scratch[..packedLength];
        QuantizationParameters p = Uaq.QuantizePack(values, bits, packed);
        Span<byte> lengthSlot = WriteDescriptor(ordinal, shape, values.Length, bits, out Span<byte> parameters, out Span<byte> compression);
        WriteParameters(parameters, p.Scale, p.ZeroPoint);
        // A coding that would not be shorter is not sent: it must fit in one byte less than the packed bytes.
        if (packedLength > 1 && coder.TryCompress(packed, _payload.Remaining[..(packedLength - 1)], out int coded) && coded < packedLength)
        {
            compression[0] = (byte)TensorCompression.Zstd;
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(lengthSlot, coded);
            _payload.Reserve(coded);
        }
        else
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(lengthSlot, packedLength);
            packed.CopyTo(_payload.Reserve(packedLength));
        }

        return p;
    }

    /// <summary>Room a JPEG frame of <paramref name="height"/>×<paramref name="width"/> needs in a payload (its descriptor and
    /// the codec's worst case, tjBufSize); <see cref="Complete"/> then says how much it took.</summary>
    public static int JpegFrameCapacity(int height, int width) =>
        checked(WireTensor.DescriptorSize(4) + Native.Imaging.TurboJpeg.MaxEncodedLength(width, height));

    /// <summary>
    /// Sends the model's input frame [1,3,H,W] (values k/255, as the edge's preprocessing makes them) as one JPEG at
    /// <paramref name="quality"/> (compression code 3, bits 8, scale 1/255, zero point 0; docs/protocol.md §4.4). The frame is
    /// rounded to 8-bit interleaved RGB in <paramref name="rgbScratch"/> (H·W·3 bytes) and encoded straight into the payload;
    /// the frame needs <see cref="JpegFrameCapacity"/>. Allocates nothing. Returns the JPEG's length.
    /// </summary>
    public int AddJpegFrame(int ordinal, ReadOnlySpan<float> values, ReadOnlySpan<int> shape, int quality, Native.Imaging.TurboJpeg codec, Span<byte> rgbScratch)
    {
        ArgumentNullException.ThrowIfNull(codec);
        if (shape.Length != 4 || shape[0] != 1 || shape[1] != 3)
        {
            throw new ArgumentException($"a JPEG frame has shape [1,3,H,W]; got [{string.Join(',', shape.ToArray())}]", nameof(shape));
        }

        int height = shape[2];
        int width = shape[3];
        int pixels = height * width;
        if (values.Length != 3 * pixels)
        {
            throw new ArgumentException($"shape [1,3,{height},{width}] holds {3 * pixels} values but {values.Length} were given", nameof(values));
        }

        if (rgbScratch.Length < 3 * pixels)
        {
            throw new ArgumentException($"the RGB buffer holds {rgbScratch.Length} bytes; a {width}×{height} frame needs {3 * pixels}", nameof(rgbScratch));
        }

        Span<byte> rgb = rgbScratch[..(3 * pixels)];
        Native.Imaging.TurboJpeg.ToInterleaved(values, rgb);

        Span<byte> lengthSlot = WriteDescriptor(ordinal, shape, values.Length, 8, out Span<byte> parameters, out Span<byte> compression);
        WriteParameters(parameters, 1f / 255f, 0);
        compression[0] = (byte)TensorCompression.Jpeg;
        int coded = codec.Encode(rgb, width, height, quality, _payload.Remaining);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(lengthSlot, coded);
        _payload.Reserve(coded);
        return coded;
    }

    /// <summary>Room an H.264 frame of <paramref name="height"/>×<paramref name="width"/> needs in a payload (its descriptor
    /// and the encoder's worst case).</summary>
    public static int H264FrameCapacity(int height, int width) =>
        checked(WireTensor.DescriptorSize(4) + Native.Imaging.H264Encoder.MaxEncodedLength(width, height));

    /// <summary>
    /// Sends the model's input frame [1,3,H,W] (values k/255) as the stream's next H.264 access unit (compression code 4, bits
    /// 8, scale 1/255, zero point 0; docs/protocol.md §4.4): rounded to 8-bit interleaved RGB in <paramref name="rgbScratch"/>
    /// and encoded by <paramref name="encoder"/> (whose frame size it must be) straight into the payload; the frame needs
    /// <see cref="H264FrameCapacity"/>. Allocates nothing. Returns the access unit's length.
    /// </summary>
    public int AddH264Frame(int ordinal, ReadOnlySpan<float> values, ReadOnlySpan<int> shape, Native.Imaging.H264Encoder encoder, Span<byte> rgbScratch)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        if (shape.Length != 4 || shape[0] != 1 || shape[1] != 3)
        {
            throw new ArgumentException($"an H.264 frame has shape [1,3,H,W]; got [{string.Join(',', shape.ToArray())}]", nameof(shape));
        }

        int pixels = shape[2] * shape[3];
        if (values.Length != 3 * pixels || rgbScratch.Length < 3 * pixels)
        {
            throw new ArgumentException($"shape [1,3,{shape[2]},{shape[3]}] holds {3 * pixels} values; {values.Length} were given and the RGB buffer holds {rgbScratch.Length} bytes", nameof(values));
        }

        Span<byte> rgb = rgbScratch[..(3 * pixels)];
        Native.Imaging.TurboJpeg.ToInterleaved(values, rgb);

        Span<byte> lengthSlot = WriteDescriptor(ordinal, shape, values.Length, 8, out Span<byte> parameters, out Span<byte> compression);
        WriteParameters(parameters, 1f / 255f, 0);
        compression[0] = (byte)TensorCompression.H264;
        int coded = encoder.Encode(rgb, _payload.Remaining);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(lengthSlot, coded);
        _payload.Reserve(coded);
        return coded;
    }

    /// <summary>
    /// Copies a tensor as it was received (its encoding, parameters, shape and bytes) under a new ordinal: what a relay
    /// forwards for a value a later stage reads (docs/edgepipe.md §1), without quantizing it a second time.
    /// </summary>
    public void AddEncoded(int ordinal, in WireTensor received, ReadOnlySpan<byte> data)
    {
        int[] shape = new int[received.Rank];
        for (int d = 0; d < shape.Length; d++)
        {
            shape[d] = received.Dims[d];
        }

        var lengthSlot = WriteDescriptor(ordinal, shape, checked((int)received.ElementCount), received.Bits, out Span<byte> parameters, out Span<byte> compression);
        compression[0] = (byte)received.Compression;
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(lengthSlot, data.Length);
        data.CopyTo(_payload.Reserve(data.Length));
        WriteParameters(parameters, received.Scale, received.ZeroPoint);
    }

    /// <summary>Sends <paramref name="values"/> unquantized (raw little-endian float32, bits = 32).</summary>
    public void AddRaw(int ordinal, ReadOnlySpan<float> values, ReadOnlySpan<int> shape)
    {
        Span<byte> data = BeginTensor(ordinal, shape, values.Length, WireTensor.RawFloatBits, out Span<byte> slot);
        if (BitConverter.IsLittleEndian)
        {
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(values).CopyTo(data);
        }
        else
        {
            for (int i = 0; i < values.Length; i++)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(data[(i * 4)..], values[i]);
            }
        }

        WriteParameters(slot, 1f, 0);
    }

    /// <summary>Seals the frame (CRCs) and commits it to the writer; the caller flushes. Returns the payload's length (coded
    /// tensors make it shorter than the capacity asked for).</summary>
    public int Complete()
    {
        if (_writtenTensors != _declaredTensors)
        {
            throw new InvalidOperationException($"the request declared {_declaredTensors} tensors but {_writtenTensors} were added");
        }

        _frame.Complete(_payload.Position);
        return _payload.Position;
    }

    private Span<byte> BeginTensor(int ordinal, ReadOnlySpan<int> shape, int valueCount, int bits, out Span<byte> parameterSlot)
    {
        int dataLength = checked((int)WireTensor.EncodedByteCount(valueCount, bits));
        var lengthSlot = WriteDescriptor(ordinal, shape, valueCount, bits, out parameterSlot, out _);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(lengthSlot, dataLength);
        return _payload.Reserve(dataLength);
    }

    /// <summary>Writes a tensor's descriptor up to its data length, which (like the compression byte) the caller fills in.</summary>
    private Span<byte> WriteDescriptor(int ordinal, ReadOnlySpan<int> shape, int valueCount, int bits, out Span<byte> parameterSlot, out Span<byte> compressionSlot)
    {
        if (_writtenTensors == _declaredTensors)
        {
            throw new InvalidOperationException($"the request declared {_declaredTensors} tensors");
        }

        if (shape.Length is 0 or > WireLimits.RankCapacity)
        {
            throw new ArgumentException($"tensor rank {shape.Length} is outside 1 … {WireLimits.RankCapacity}", nameof(shape));
        }

        if (bits is not (>= 1 and <= 8) and not WireTensor.RawFloatBits)
        {
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "bits must be 1 … 8 (UAQ) or 32 (raw float)");
        }

        long elements = 1;
        foreach (int d in shape)
        {
            elements *= d;
        }

        if (elements != valueCount)
        {
            throw new ArgumentException($"shape holds {elements} elements but {valueCount} values were given", nameof(shape));
        }

        _payload.WriteUInt16(checked((ushort)ordinal));
        _payload.WriteByte((byte)WireElementType.Float32);
        _payload.WriteByte((byte)bits);
        compressionSlot = _payload.Reserve(1);
        compressionSlot[0] = (byte)TensorCompression.None;
        _payload.WriteByte((byte)shape.Length);
        _payload.WriteUInt16(0);
        parameterSlot = _payload.Reserve(8);
        foreach (int d in shape)
        {
            _payload.WriteInt32(d);
        }

        _writtenTensors++;
        return _payload.Reserve(4);
    }

    private static void WriteParameters(Span<byte> slot, float scale, int zeroPoint)
    {
        System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(slot, scale);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(slot[4..], zeroPoint);
    }
}

/// <summary>Parses a Request payload into its header and tensor descriptors, checking every length first.</summary>
public static class RequestReader
{
    /// <summary>
    /// Reads the header and fills <paramref name="tensors"/> (at least <see cref="WireLimits.MaxTensorsPerFrame"/>
    /// long). Throws <see cref="ProtocolViolationException"/> for structural faults (counts, ranks,
    /// sizes over the limits, lengths that do not add up); semantic checks against the tail (bits,
    /// compression, shapes) are the server's and are answered with an Error frame instead.
    /// </summary>
    public static RequestHeader Read(ReadOnlySpan<byte> payload, WireLimits limits, Span<WireTensor> tensors)
    {
        var r = new WireSpanReader(payload, FrameType.Request);
        ulong id = r.ReadUInt64();
        if (id == 0)
        {
            // Id 0 names the connection in Error frames (docs/protocol.md §3): a request carrying it could never be settled.
            throw new ProtocolViolationException(ReasonCode.MalformedPayload, "request id 0 is reserved for connection-level errors; request ids start at 1");
        }

        long capture = r.ReadInt64();
        long send = r.ReadInt64();
        int count = r.ReadUInt16();
        _ = r.ReadUInt16();
        if (count > limits.MaxTensorsPerFrame || count > tensors.Length)
        {
            throw new ProtocolViolationException(ReasonCode.TooManyTensors, $"request {id} carries {count} tensors; the limit is {Math.Min(limits.MaxTensorsPerFrame, tensors.Length)}");
        }

        for (int t = 0; t < count; t++)
        {
            ref WireTensor tensor = ref tensors[t];
            tensor.Ordinal = r.ReadUInt16();
            tensor.ElementType = (WireElementType)r.ReadByte();
            tensor.Bits = r.ReadByte();
            tensor.Compression = (TensorCompression)r.ReadByte();
            tensor.Rank = r.ReadByte();
            _ = r.ReadUInt16();
            tensor.Scale = r.ReadSingle();
            tensor.ZeroPoint = r.ReadInt32();
            for (int earlier = 0; earlier < t; earlier++)
            {
                if (tensors[earlier].Ordinal == tensor.Ordinal)
                {
                    // Structural, whatever the tail: one request names each cut tensor once (docs/protocol.md §4.4).
                    throw new ProtocolViolationException(ReasonCode.MalformedPayload, $"tensors {earlier} and {t} of request {id} both carry cut tensor ordinal {tensor.Ordinal}");
                }
            }

            if (tensor.Bits is >= 1 and <= 8 && !(float.IsFinite(tensor.Scale) && tensor.Scale > 0f))
            {
                // UAQ's dequantizer needs s > 0 (x = s·(q − z), docs/protocol.md §4.4); checked here, before any tail sees it.
                throw new ProtocolViolationException(ReasonCode.MalformedPayload, $"tensor {t} of request {id} is {tensor.Bits}-bit UAQ with scale {tensor.Scale.ToString(System.Globalization.CultureInfo.InvariantCulture)}; the scale must be finite and positive");
            }
            if (tensor.Rank == 0 || tensor.Rank > limits.MaxRank)
            {
                throw new ProtocolViolationException(ReasonCode.RankTooLarge, $"tensor {t} of request {id} has rank {tensor.Rank}; allowed 1 … {limits.MaxRank}");
            }

            long elements = 1;
            for (int d = 0; d < tensor.Rank; d++)
            {
                int dim = r.ReadInt32();
                if (dim <= 0)
                {
                    throw new ProtocolViolationException(ReasonCode.MalformedPayload, $"tensor {t} of request {id} has dimension {d} = {dim}; dimensions must be positive");
                }

                elements *= dim; // cannot overflow: checked against the limit after every factor
                if (elements > limits.MaxElementsPerTensor)
                {
                    throw new ProtocolViolationException(ReasonCode.TensorTooLarge, $"tensor {t} of request {id} has more than {limits.MaxElementsPerTensor} elements");
                }

                tensor.Dims[d] = dim;
            }

            int length = r.ReadInt32();
            if (length < 0 || length > r.RemainingCount)
            {
                throw new ProtocolViolationException(ReasonCode.TruncatedPayload, $"tensor {t} of request {id} declares {length} bytes but only {r.RemainingCount} remain in the frame");
            }

            if (tensor.Compression == TensorCompression.None && tensor.Bits is (>= 1 and <= 8) or WireTensor.RawFloatBits
                && length != WireTensor.EncodedByteCount(elements, tensor.Bits))
            {
                throw new ProtocolViolationException(ReasonCode.MalformedPayload, $"tensor {t} of request {id}: {elements} values at {tensor.Bits} bits take {WireTensor.EncodedByteCount(elements, tensor.Bits)} bytes, the frame says {length}");
            }

            tensor.DataOffset = r.Position;
            tensor.DataLength = length;
            _ = r.ReadBytes(length);
        }

        r.EnsureConsumed();
        return new RequestHeader(id, capture, send, count);
    }
}
