namespace Coach.Engine.Graph;

/// <summary>Sizes and names of ONNX tensor element types (TensorProto.DataType numbering).</summary>
public static class OnnxElementTypes
{
    public const int Float = 1;

    /// <summary>Bytes of one element, or 0 for types without a fixed size (string, undefined).</summary>
    public static int ByteSize(int elementType) => elementType switch
    {
        1 => 4, 2 => 1, 3 => 1, 4 => 2, 5 => 2, 6 => 4, 7 => 8, 9 => 1, 10 => 2, 11 => 8, 12 => 4, 13 => 8,
        14 => 8, 15 => 16, 16 => 2,
        _ => 0,
    };

    public static string Name(int elementType) => elementType switch
    {
        1 => "float32", 2 => "uint8", 3 => "int8", 4 => "uint16", 5 => "int16", 6 => "int32", 7 => "int64",
        8 => "string", 9 => "bool", 10 => "float16", 11 => "float64", 12 => "uint32", 13 => "uint64",
        14 => "complex64", 15 => "complex128", 16 => "bfloat16",
        _ => $"type{elementType}",
    };
}
