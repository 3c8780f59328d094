using System.Runtime.InteropServices;
using Coach.Engine.Onnx.Proto;
using Coach.Native.OnnxRuntime;

namespace Coach.Engine.Onnx;

/// <summary>
/// Turns an ONNX <see cref="TensorProto"/> (an initializer, or a serialized <c>.pb</c> test vector)
/// into a <see cref="DenseTensor"/>. Reads <c>raw_data</c> and the typed repeated fields ONNX uses
/// for each element type: float_data (float), int32_data (int32 and every narrower integer, bool and
/// float16 bits), int64_data (int64), double_data (double), uint64_data (uint32, uint64).
/// </summary>
public static class OnnxTensorReader
{
    /// <summary>Reads a file holding one serialized TensorProto (e.g. <c>test_data_set_0/input_0.pb</c>).</summary>
    public static DenseTensor ReadFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"tensor file not found: {Path.GetFullPath(path)}", path);
        }
        TensorProto proto;
        try
        {
            proto = TensorProto.Parser.ParseFrom(File.ReadAllBytes(path));
        }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"{Path.GetFullPath(path)} is not a serialized ONNX TensorProto: {e.Message}", e);
        }
        return Read(proto, path);
    }

    /// <summary>Reads one TensorProto; <paramref name="source"/> (file or model) names it in errors.</summary>
    public static DenseTensor Read(TensorProto tensor, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var label = Describe(tensor, source);
        if (tensor.DataLocation == TensorProto.Types.DataLocation.External || tensor.ExternalData.Count > 0)
        {
            throw new NotSupportedException(
                $"{label} keeps its data in an external file; Coach reads tensors stored inside the model " +
                "(re-save the model with onnx.save_model(model, path, save_as_external_data=False))");
        }

        var elementType = ToElementType(tensor.DataType, label);
        var shape = tensor.Dims.ToArray();
        foreach (var dimension in shape)
        {
            if (dimension < 0)
            {
                throw new InvalidDataException($"{label} has a negative dimension in [{string.Join(',', shape)}]");
            }
        }
        var result = DenseTensor.Create(elementType, shape);
        var count = result.ElementCount;

        if (tensor.HasRawData)
        {
            var raw = tensor.RawData.Span;
            if (raw.Length != result.Data.Length)
            {
                throw new InvalidDataException(
                    $"{label}: raw_data holds {raw.Length} bytes, shape [{string.Join(',', shape)}] of {elementType.DisplayName()} needs {result.Data.Length}");
            }
            raw.CopyTo(result.Data);
            if (!BitConverter.IsLittleEndian)
            {
                // ONNX raw_data is little-endian whatever the host.
                ReverseElementBytes(result);
            }
            return result;
        }

        switch (elementType)
        {
            case TensorElementType.Float:
                CheckCount(tensor.FloatData.Count, count, "float_data", label);
                CopyValues(tensor.FloatData, result.AsSpan<float>());
                break;
            case TensorElementType.Double:
                CheckCount(tensor.DoubleData.Count, count, "double_data", label);
                CopyValues(tensor.DoubleData, result.AsSpan<double>());
                break;
            case TensorElementType.Int64:
                CheckCount(tensor.Int64Data.Count, count, "int64_data", label);
                CopyValues(tensor.Int64Data, result.AsSpan<long>());
                break;
            case TensorElementType.UInt64:
                CheckCount(tensor.Uint64Data.Count, count, "uint64_data", label);
                CopyValues(tensor.Uint64Data, result.AsSpan<ulong>());
                break;
            case TensorElementType.UInt32:
                CheckCount(tensor.Uint64Data.Count, count, "uint64_data", label);
                var unsigned = result.AsSpan<uint>();
                for (var i = 0; i < unsigned.Length; i++)
                {
                    unsigned[i] = checked((uint)tensor.Uint64Data[i]);
                }
                break;
            case TensorElementType.Int32:
                CheckCount(tensor.Int32Data.Count, count, "int32_data", label);
                CopyValues(tensor.Int32Data, result.AsSpan<int>());
                break;
            case TensorElementType.Int16:
                ReadNarrowIntegers<short>(tensor, result, label, v => checked((short)v));
                break;
            case TensorElementType.UInt16:
                ReadNarrowIntegers<ushort>(tensor, result, label, v => checked((ushort)v));
                break;
            case TensorElementType.Float16:
                // float16 travels as its 16 bit pattern in int32_data.
                ReadNarrowIntegers<ushort>(tensor, result, label, v => unchecked((ushort)v));
                break;
            case TensorElementType.Int8:
                ReadNarrowIntegers<sbyte>(tensor, result, label, v => checked((sbyte)v));
                break;
            case TensorElementType.UInt8:
                ReadNarrowIntegers<byte>(tensor, result, label, v => checked((byte)v));
                break;
            case TensorElementType.Bool:
                ReadNarrowIntegers<byte>(tensor, result, label, v => v != 0 ? (byte)1 : (byte)0);
                break;
            default:
                throw new NotSupportedException($"{label}: element type {elementType.DisplayName()} is not supported");
        }
        return result;
    }

    private static void ReadNarrowIntegers<T>(TensorProto tensor, DenseTensor result, string label, Func<int, T> convert)
        where T : unmanaged
    {
        var count = result.ElementCount;
        CheckCount(tensor.Int32Data.Count, count, "int32_data", label);
        var span = MemoryMarshal.Cast<byte, T>(result.Data.AsSpan());
        try
        {
            for (var i = 0; i < count; i++)
            {
                span[i] = convert(tensor.Int32Data[i]);
            }
        }
        catch (OverflowException e)
        {
            throw new InvalidDataException($"{label}: an int32_data value does not fit {result.ElementType.DisplayName()}", e);
        }
    }

    private static TensorElementType ToElementType(int dataType, string label) => dataType switch
    {
        1 => TensorElementType.Float,
        2 => TensorElementType.UInt8,
        3 => TensorElementType.Int8,
        4 => TensorElementType.UInt16,
        5 => TensorElementType.Int16,
        6 => TensorElementType.Int32,
        7 => TensorElementType.Int64,
        9 => TensorElementType.Bool,
        10 => TensorElementType.Float16,
        11 => TensorElementType.Double,
        12 => TensorElementType.UInt32,
        13 => TensorElementType.UInt64,
        8 => throw new NotSupportedException($"{label} is a string tensor; Coach reads numeric tensors only"),
        0 => throw new InvalidDataException($"{label} has no data_type (UNDEFINED)"),
        _ => throw new NotSupportedException(
            $"{label} has element type {dataType} (complex or bfloat16), which Coach does not read"),
    };

    private static void CopyValues<T>(IReadOnlyList<T> values, Span<T> destination)
    {
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = values[i];
        }
    }

    private static void CheckCount(int actual, long expected, string field, string label)
    {
        if (actual != expected)
        {
            throw new InvalidDataException($"{label}: {field} holds {actual} values, the shape needs {expected}");
        }
    }

    private static void ReverseElementBytes(DenseTensor tensor)
    {
        var size = tensor.ElementType.ByteSize();
        for (var offset = 0; offset < tensor.Data.Length; offset += size)
        {
            tensor.Data.AsSpan(offset, size).Reverse();
        }
    }

    private static string Describe(TensorProto tensor, string? source)
    {
        var name = tensor.HasName && tensor.Name.Length > 0 ? $"tensor '{tensor.Name}'" : "tensor";
        return source is null ? name : $"{name} in {source}";
    }
}
