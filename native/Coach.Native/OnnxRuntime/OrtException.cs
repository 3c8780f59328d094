using Ort = Microsoft.ML.OnnxRuntime;

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

    /// <summary>ORT's failure as raised by the managed API, with what Coach was doing in front of ORT's own text
    /// (the managed API's "[ErrorCode:…]" prefix is dropped: <see cref="CodeName"/> carries it).</summary>
    /// <summary>The managed API's names of <c>OrtErrorCode</c> 0–11, in code order (it still calls 11, ORT_EP_FAIL, by an older name).</summary>
    private static readonly string[] ManagedCodeNames =
    [
        "Ok", "Fail", "InvalidArgument", "NoSuchFile", "NoModel", "EngineError", "RuntimeException",
        "InvalidProtobuf", "ModelLoaded", "NotImplemented", "InvalidGraph", "ShapeInferenceNotRegistered",
    ];

    internal static OrtException From(Ort.OnnxRuntimeException error, string context)
    {
        const string Prefix = "[ErrorCode:";
        var text = error.Message;
        var end = text.StartsWith(Prefix, StringComparison.Ordinal) ? text.IndexOf("] ", StringComparison.Ordinal) : -1;
        var code = 1;
        if (end > 0)
        {
            var index = Array.IndexOf(ManagedCodeNames, text[Prefix.Length..end]);
            code = index > 0 ? index : 1;
            text = text[(end + 2)..];
        }
        return new OrtException(code, context.Length == 0 ? text : $"{context}: {text}", error);
    }
}
