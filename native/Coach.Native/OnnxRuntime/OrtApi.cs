namespace Coach.Native.OnnxRuntime;

/// <summary>
/// The slice of ONNX Runtime's <c>OrtApi</c> function table that Coach calls, read once into typed
/// function pointers. Slot numbers are the member positions in <c>struct OrtApi</c> of
/// <c>onnxruntime_c_api.h</c>; the table is append-only, so a slot never moves between releases.
/// </summary>
/// <remarks>
/// The highest slots used are the CUDA V2 provider-option functions (204–208), added in ORT 1.11,
/// so <see cref="RequiredApiVersion"/> is 11: JetPack builds from ORT 1.11 on load, and newer
/// libraries (1.30 here) hand out the same table for that version.
/// All pointers are opaque (<c>nint</c>), strings are UTF-8 <c>byte*</c>; every function that returns
/// <c>OrtStatus*</c> is typed as returning <c>nint</c> (0 = success).
/// </remarks>
internal static unsafe class OrtApi
{
    /// <summary>Lowest ORT_API_VERSION whose table holds every slot bound below (ORT 1.11).</summary>
    public const uint RequiredApiVersion = 11;

    // OrtStatus
    public static delegate* unmanaged[Cdecl]<nint, int> GetErrorCode;                               // 1
    public static delegate* unmanaged[Cdecl]<nint, byte*> GetErrorMessage;                          // 2

    // OrtEnv, sessions, run
    public static delegate* unmanaged[Cdecl]<int, byte*, nint*, nint> CreateEnv;                    // 3
    public static delegate* unmanaged[Cdecl]<nint, byte*, nint, nint*, nint> CreateSession;         // 7
    public static delegate* unmanaged[Cdecl]<nint, void*, nuint, nint, nint*, nint> CreateSessionFromArray; // 8
    public static delegate* unmanaged[Cdecl]<nint, nint, byte**, nint*, nuint, byte**, nuint, nint*, nint> Run; // 9

    // OrtSessionOptions
    public static delegate* unmanaged[Cdecl]<nint*, nint> CreateSessionOptions;                     // 10
    public static delegate* unmanaged[Cdecl]<nint, byte*, nint> EnableProfiling;                    // 14
    public static delegate* unmanaged[Cdecl]<nint, int, nint> SetSessionGraphOptimizationLevel;     // 23
    public static delegate* unmanaged[Cdecl]<nint, int, nint> SetIntraOpNumThreads;                 // 24
    public static delegate* unmanaged[Cdecl]<nint, int, nint> SetInterOpNumThreads;                 // 25

    // Session metadata
    public static delegate* unmanaged[Cdecl]<nint, nuint*, nint> SessionGetInputCount;              // 30
    public static delegate* unmanaged[Cdecl]<nint, nuint*, nint> SessionGetOutputCount;             // 31
    public static delegate* unmanaged[Cdecl]<nint, nuint, nint*, nint> SessionGetInputTypeInfo;     // 33
    public static delegate* unmanaged[Cdecl]<nint, nuint, nint*, nint> SessionGetOutputTypeInfo;    // 34
    public static delegate* unmanaged[Cdecl]<nint, nuint, nint, byte**, nint> SessionGetInputName;  // 36
    public static delegate* unmanaged[Cdecl]<nint, nuint, nint, byte**, nint> SessionGetOutputName; // 37

    // OrtValue
    public static delegate* unmanaged[Cdecl]<nint, void*, nuint, long*, nuint, int, nint*, nint> CreateTensorWithDataAsOrtValue; // 49
    public static delegate* unmanaged[Cdecl]<nint, void**, nint> GetTensorMutableData;             // 51

    // Type information
    public static delegate* unmanaged[Cdecl]<nint, nint*, nint> CastTypeInfoToTensorInfo;          // 55
    public static delegate* unmanaged[Cdecl]<nint, int*, nint> GetOnnxTypeFromTypeInfo;            // 56
    public static delegate* unmanaged[Cdecl]<nint, int*, nint> GetTensorElementType;               // 60
    public static delegate* unmanaged[Cdecl]<nint, nuint*, nint> GetDimensionsCount;               // 61
    public static delegate* unmanaged[Cdecl]<nint, long*, nuint, nint> GetDimensions;              // 62
    public static delegate* unmanaged[Cdecl]<nint, nint*, nint> GetTensorTypeAndShape;             // 65

    // Memory
    public static delegate* unmanaged[Cdecl]<int, int, nint*, nint> CreateCpuMemoryInfo;           // 69
    public static delegate* unmanaged[Cdecl]<nint, void*, nint> AllocatorFree;                     // 76
    public static delegate* unmanaged[Cdecl]<nint*, nint> GetAllocatorWithDefaultOptions;          // 78

    // Release functions
    public static delegate* unmanaged[Cdecl]<nint, void> ReleaseEnv;                               // 92
    public static delegate* unmanaged[Cdecl]<nint, void> ReleaseStatus;                            // 93
    public static delegate* unmanaged[Cdecl]<nint, void> ReleaseMemoryInfo;                        // 94
    public static delegate* unmanaged[Cdecl]<nint, void> ReleaseSession;                           // 95
    public static delegate* unmanaged[Cdecl]<nint, void> ReleaseValue;                             // 96
    public static delegate* unmanaged[Cdecl]<nint, void> ReleaseTypeInfo;                          // 98
    public static delegate* unmanaged[Cdecl]<nint, void> ReleaseTensorTypeAndShapeInfo;            // 99
    public static delegate* unmanaged[Cdecl]<nint, void> ReleaseSessionOptions;                    // 100

    // Profiling, providers
    public static delegate* unmanaged[Cdecl]<nint, nint, byte**, nint> SessionEndProfiling;        // 110
    public static delegate* unmanaged[Cdecl]<byte***, int*, nint> GetAvailableProviders;           // 125
    public static delegate* unmanaged[Cdecl]<byte**, int, nint> ReleaseAvailableProviders;         // 126

    // TensorRT (V2 options)
    public static delegate* unmanaged[Cdecl]<nint, nint, nint> SessionOptionsAppendExecutionProvider_TensorRT_V2; // 170
    public static delegate* unmanaged[Cdecl]<nint*, nint> CreateTensorRTProviderOptions;           // 171
    public static delegate* unmanaged[Cdecl]<nint, byte**, byte**, nuint, nint> UpdateTensorRTProviderOptions; // 172
    public static delegate* unmanaged[Cdecl]<nint, void> ReleaseTensorRTProviderOptions;           // 174

    // CUDA (V2 options, ORT 1.11)
    public static delegate* unmanaged[Cdecl]<nint, nint, nint> SessionOptionsAppendExecutionProvider_CUDA_V2; // 204
    public static delegate* unmanaged[Cdecl]<nint*, nint> CreateCUDAProviderOptions;               // 205
    public static delegate* unmanaged[Cdecl]<nint, byte**, byte**, nuint, nint> UpdateCUDAProviderOptions; // 206
    public static delegate* unmanaged[Cdecl]<nint, void> ReleaseCUDAProviderOptions;               // 208

    /// <summary>Reads every slot above from <paramref name="table"/> (an <c>const OrtApi*</c>).</summary>
    public static void Bind(void** table)
    {
        GetErrorCode = (delegate* unmanaged[Cdecl]<nint, int>)table[1];
        GetErrorMessage = (delegate* unmanaged[Cdecl]<nint, byte*>)table[2];
        CreateEnv = (delegate* unmanaged[Cdecl]<int, byte*, nint*, nint>)table[3];
        CreateSession = (delegate* unmanaged[Cdecl]<nint, byte*, nint, nint*, nint>)table[7];
        CreateSessionFromArray = (delegate* unmanaged[Cdecl]<nint, void*, nuint, nint, nint*, nint>)table[8];
        Run = (delegate* unmanaged[Cdecl]<nint, nint, byte**, nint*, nuint, byte**, nuint, nint*, nint>)table[9];
        CreateSessionOptions = (delegate* unmanaged[Cdecl]<nint*, nint>)table[10];
        EnableProfiling = (delegate* unmanaged[Cdecl]<nint, byte*, nint>)table[14];
        SetSessionGraphOptimizationLevel = (delegate* unmanaged[Cdecl]<nint, int, nint>)table[23];
        SetIntraOpNumThreads = (delegate* unmanaged[Cdecl]<nint, int, nint>)table[24];
        SetInterOpNumThreads = (delegate* unmanaged[Cdecl]<nint, int, nint>)table[25];
        SessionGetInputCount = (delegate* unmanaged[Cdecl]<nint, nuint*, nint>)table[30];
        SessionGetOutputCount = (delegate* unmanaged[Cdecl]<nint, nuint*, nint>)table[31];
        SessionGetInputTypeInfo = (delegate* unmanaged[Cdecl]<nint, nuint, nint*, nint>)table[33];
        SessionGetOutputTypeInfo = (delegate* unmanaged[Cdecl]<nint, nuint, nint*, nint>)table[34];
        SessionGetInputName = (delegate* unmanaged[Cdecl]<nint, nuint, nint, byte**, nint>)table[36];
        SessionGetOutputName = (delegate* unmanaged[Cdecl]<nint, nuint, nint, byte**, nint>)table[37];
        CreateTensorWithDataAsOrtValue = (delegate* unmanaged[Cdecl]<nint, void*, nuint, long*, nuint, int, nint*, nint>)table[49];
        GetTensorMutableData = (delegate* unmanaged[Cdecl]<nint, void**, nint>)table[51];
        CastTypeInfoToTensorInfo = (delegate* unmanaged[Cdecl]<nint, nint*, nint>)table[55];
        GetOnnxTypeFromTypeInfo = (delegate* unmanaged[Cdecl]<nint, int*, nint>)table[56];
        GetTensorElementType = (delegate* unmanaged[Cdecl]<nint, int*, nint>)table[60];
        GetDimensionsCount = (delegate* unmanaged[Cdecl]<nint, nuint*, nint>)table[61];
        GetDimensions = (delegate* unmanaged[Cdecl]<nint, long*, nuint, nint>)table[62];
        GetTensorTypeAndShape = (delegate* unmanaged[Cdecl]<nint, nint*, nint>)table[65];
        CreateCpuMemoryInfo = (delegate* unmanaged[Cdecl]<int, int, nint*, nint>)table[69];
        AllocatorFree = (delegate* unmanaged[Cdecl]<nint, void*, nint>)table[76];
        GetAllocatorWithDefaultOptions = (delegate* unmanaged[Cdecl]<nint*, nint>)table[78];
        ReleaseEnv = (delegate* unmanaged[Cdecl]<nint, void>)table[92];
        ReleaseStatus = (delegate* unmanaged[Cdecl]<nint, void>)table[93];
        ReleaseMemoryInfo = (delegate* unmanaged[Cdecl]<nint, void>)table[94];
        ReleaseSession = (delegate* unmanaged[Cdecl]<nint, void>)table[95];
        ReleaseValue = (delegate* unmanaged[Cdecl]<nint, void>)table[96];
        ReleaseTypeInfo = (delegate* unmanaged[Cdecl]<nint, void>)table[98];
        ReleaseTensorTypeAndShapeInfo = (delegate* unmanaged[Cdecl]<nint, void>)table[99];
        ReleaseSessionOptions = (delegate* unmanaged[Cdecl]<nint, void>)table[100];
        SessionEndProfiling = (delegate* unmanaged[Cdecl]<nint, nint, byte**, nint>)table[110];
        GetAvailableProviders = (delegate* unmanaged[Cdecl]<byte***, int*, nint>)table[125];
        ReleaseAvailableProviders = (delegate* unmanaged[Cdecl]<byte**, int, nint>)table[126];
        SessionOptionsAppendExecutionProvider_TensorRT_V2 = (delegate* unmanaged[Cdecl]<nint, nint, nint>)table[170];
        CreateTensorRTProviderOptions = (delegate* unmanaged[Cdecl]<nint*, nint>)table[171];
        UpdateTensorRTProviderOptions = (delegate* unmanaged[Cdecl]<nint, byte**, byte**, nuint, nint>)table[172];
        ReleaseTensorRTProviderOptions = (delegate* unmanaged[Cdecl]<nint, void>)table[174];
        SessionOptionsAppendExecutionProvider_CUDA_V2 = (delegate* unmanaged[Cdecl]<nint, nint, nint>)table[204];
        CreateCUDAProviderOptions = (delegate* unmanaged[Cdecl]<nint*, nint>)table[205];
        UpdateCUDAProviderOptions = (delegate* unmanaged[Cdecl]<nint, byte**, byte**, nuint, nint>)table[206];
        ReleaseCUDAProviderOptions = (delegate* unmanaged[Cdecl]<nint, void>)table[208];
    }

    /// <summary>Throws <see cref="OrtException"/> for a non-null status, always releasing it.</summary>
    public static void Check(nint status)
    {
        if (status != 0)
        {
            throw TakeException(status);
        }
    }

    /// <summary>Converts a non-null status into an exception and releases the status.</summary>
    public static OrtException TakeException(nint status)
    {
        var code = 0;
        var message = "";
        try
        {
            code = GetErrorCode(status);
            message = Utf8.ToString(GetErrorMessage(status));
        }
        finally
        {
            ReleaseStatus(status);
        }
        return new OrtException(code, message);
    }
}
