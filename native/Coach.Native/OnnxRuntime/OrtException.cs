namespace Coach.Native.OnnxRuntime;

/// <summary>
/// A failed ONNX Runtime call: <see cref="Code"/> is ORT's <c>OrtErrorCode</c>, the message is
/// ORT's own text, prefixed with what Coach was doing (for example the model file it was loading).
/// </summary>
public sealed class OrtException : Exception
{
    public OrtException()
        : this(1, "ONNX Runtime call failed")
    {
    }

    public OrtException(string message)
        : this(1, message)
    {
    }

    public OrtException(string message, Exception innerException)
        : base(message, innerException)
    {
        Code = innerException is OrtException ort ? ort.Code : 1;
    }

    public OrtException(int code, string message)
        : base(message)
    {
        Code = code;
    }

    public OrtException(int code, string message, Exception? innerException)
        : base(message, innerException)
    {
        Code = code;
    }

    /// <summary>ORT's <c>OrtErrorCode</c>: 1 FAIL, 2 INVALID_ARGUMENT, 3 NO_SUCHFILE, 4 NO_MODEL,
    /// 5 ENGINE_ERROR, 6 RUNTIME_EXCEPTION, 7 INVALID_PROTOBUF, 8 MODEL_LOADED, 9 NOT_IMPLEMENTED,
    /// 10 INVALID_GRAPH, 11 EP_FAIL.</summary>
    public int Code { get; }

    /// <summary>The name of <see cref="Code"/> as in <c>onnxruntime_c_api.h</c>.</summary>
    public string CodeName => Code switch
    {
        0 => "ORT_OK",
        1 => "ORT_FAIL",
        2 => "ORT_INVALID_ARGUMENT",
        3 => "ORT_NO_SUCHFILE",
        4 => "ORT_NO_MODEL",
        5 => "ORT_ENGINE_ERROR",
        6 => "ORT_RUNTIME_EXCEPTION",
        7 => "ORT_INVALID_PROTOBUF",
        8 => "ORT_MODEL_LOADED",
        9 => "ORT_NOT_IMPLEMENTED",
        10 => "ORT_INVALID_GRAPH",
        11 => "ORT_EP_FAIL",
        _ => $"ORT error {Code}",
    };
}
