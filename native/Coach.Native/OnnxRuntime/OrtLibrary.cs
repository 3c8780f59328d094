using System.Runtime.InteropServices;
using Ort = Microsoft.ML.OnnxRuntime;

namespace Coach.Native.OnnxRuntime;

/// <summary>
/// Finds, loads and describes the ONNX Runtime shared library. Loaded once per process, on first use.
/// </summary>
/// <remarks>
/// Search order: <c>$COACH_ORT_LIBRARY</c> (when set, the only candidate: an explicit choice must not
/// silently fall back to another build); <c>runtimes/&lt;rid&gt;/native/libonnxruntime.so</c> (and
/// <c>.so.1</c>) under the application folder, where a build copies the NuGet package's library; the
/// application (binary) folder itself, where a publish puts it; finally the dynamic loader's own search
/// for <c>libonnxruntime.so.1</c> and <c>libonnxruntime.so</c> (a system or JetPack install).
/// Sessions run through ONNX Runtime's own managed API (Microsoft.ML.OnnxRuntime.Managed); the library found here
/// is handed to it as its <c>onnxruntime</c> import, so the search and its errors stay Coach's (docs/onnxruntime.md).
/// </remarks>
public static unsafe class OrtLibrary
{
    /// <summary>The ONNX Runtime release Coach restores from NuGet (Directory.Packages.props) and is tested against.</summary>
    public const string BundledVersion = "1.30.0";

    /// <summary>Environment variable naming the library file to load instead of searching.</summary>
    public const string LibraryPathVariable = "COACH_ORT_LIBRARY";

    private const string Soname = "libonnxruntime.so.1";
    private const string DevName = "libonnxruntime.so";

    /// <summary>The ORT_API_VERSION the managed API asks for: ONNX Runtime 1.14 is the oldest it runs on.</summary>
    private const uint ManagedApiVersion = 14;

    private static readonly Lock Gate = new();
    private static LoadedRuntime? s_runtime;
    private static bool s_resolverSet;

    /// <summary>The ORT_API_VERSION a library must offer (ONNX Runtime 1.14 or newer).</summary>
    public static uint ApiVersion => ManagedApiVersion;

    /// <summary>Version string of the loaded library, e.g. "1.30.0". Loads the library if needed.</summary>
    public static string Version => Runtime.Version;

    /// <summary>Absolute path of the loaded library (or the soname the loader resolved).</summary>
    public static string LoadedPath => Runtime.Path;

    /// <summary>Execution providers compiled into the loaded library (ORT's GetAvailableProviders).
    /// Listed does not mean usable: a GPU provider still needs CUDA/TensorRT at append time.</summary>
    public static IReadOnlyList<string> AvailableProviders => Runtime.AvailableProviders;

    /// <summary>True once the library has been loaded in this process.</summary>
    public static bool IsLoaded => Volatile.Read(ref s_runtime) is not null;


    private static LoadedRuntime Runtime => Volatile.Read(ref s_runtime) ?? LoadOrThrow();

    /// <summary>Loads the library now (if not yet); throws <see cref="DllNotFoundException"/> naming
    /// every path tried and how to install ONNX Runtime.</summary>
    public static void EnsureLoaded() => _ = Runtime;

    /// <summary>Loads the library now if possible; on failure <paramref name="error"/> says why.</summary>
    public static bool TryLoad(out string error)
    {
        try
        {
            EnsureLoaded();
            error = "";
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or OrtException)
        {
            error = e.Message;
            return false;
        }
    }

    /// <summary>
    /// Checks whether <paramref name="path"/> is a loadable ONNX Runtime offering
    /// <see cref="ApiVersion"/>, without touching the library this process uses.
    /// </summary>
    public static bool TryLoadFrom(string path, out string error) => TryLoadFrom(path, out _, out error);

    /// <inheritdoc cref="TryLoadFrom(string, out string)"/>
    public static bool TryLoadFrom(string path, out string version, out string error)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = Path.GetFullPath(path);
        if (TryOpen(full, isFileName: true, out _, out version, out var reason))
        {
            error = "";
            return true;
        }
        error = $"ONNX Runtime could not be loaded from {full}: {reason}. {FixAdvice()}";
        return false;
    }

    /// <summary>The candidate locations, in search order (for diagnostics and error messages).</summary>
    public static IReadOnlyList<string> SearchLocations()
    {
        var overridePath = System.Environment.GetEnvironmentVariable(LibraryPathVariable);
        if (!string.IsNullOrWhiteSpace(overridePath))
        {
            return [Path.GetFullPath(overridePath)];
        }

        var rid = RuntimeIdentifier;
        var candidates = new List<string>();
        void Add(string candidate)
        {
            if (!candidates.Contains(candidate))
            {
                candidates.Add(candidate);
            }
        }

        var baseDirectory = Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory);
        // The NuGet packages name the library libonnxruntime.so; a hand-built or JetPack copy may carry the soname.
        Add(Path.Combine(baseDirectory, "runtimes", rid, "native", DevName));
        Add(Path.Combine(baseDirectory, "runtimes", rid, "native", Soname));
        Add(Path.Combine(baseDirectory, DevName));
        Add(Path.Combine(baseDirectory, Soname));
        var processDirectory = Path.GetDirectoryName(System.Environment.ProcessPath);
        if (!string.IsNullOrEmpty(processDirectory) && !File.Exists(Path.Combine(processDirectory, "dotnet")))
        {
            Add(Path.Combine(processDirectory, Soname));
        }

        Add(Soname);
        Add(DevName);
        return candidates;
    }

    /// <summary>linux-x64 or linux-arm64: the runtimes/ folder a build copies the library into.</summary>
    public static string RuntimeIdentifier => RuntimeInformation.OSArchitecture switch
    {
        Architecture.Arm64 => "linux-arm64",
        Architecture.X64 => "linux-x64",
        var other => "linux-" + other.ToString().ToLowerInvariant(),
    };

    private static string FixAdvice() =>
        $"Fix: build or publish Coach with the .NET SDK (the Microsoft.ML.OnnxRuntime {BundledVersion} NuGet package puts " +
        $"libonnxruntime.so into runtimes/{RuntimeIdentifier}/native/ of a build and beside a published binary; keep it " +
        $"next to the binary when copying), or set {LibraryPathVariable}=/path/to/libonnxruntime.so; on a Jetson point it at " +
        "JetPack's TensorRT-enabled build, or put that build's libonnxruntime.so.1 on the loader path (docs/jetson.md).";

    private static LoadedRuntime LoadOrThrow()
    {
        lock (Gate)
        {
            if (s_runtime is not null)
            {
                return s_runtime;
            }

            var tried = new List<string>();
            foreach (var candidate in SearchLocations())
            {
                var isFileName = Path.IsPathRooted(candidate);
                if (TryOpen(candidate, isFileName, out var library, out var version, out var reason))
                {
                    HandToManagedApi(library);
                    var runtime = new LoadedRuntime(candidate, version);
                    Volatile.Write(ref s_runtime, runtime);
                    return runtime;
                }
                tried.Add($"  {candidate}: {reason}");
            }

            throw new DllNotFoundException(
                $"ONNX Runtime ({Soname}) could not be loaded. Tried, in order:{System.Environment.NewLine}" +
                string.Join(System.Environment.NewLine, tried) + System.Environment.NewLine + FixAdvice());
        }
    }

    /// <summary>Opens one candidate and checks it is an ONNX Runtime with the API version Coach needs.</summary>
    private static bool TryOpen(string candidate, bool isFileName, out nint library, out string version, out string reason)
    {
        library = 0;
        version = "";
        if (isFileName && !File.Exists(candidate))
        {
            reason = "no such file";
            return false;
        }

        try
        {
            // A bare soname goes straight to dlopen, i.e. the loader's own search (ld.so cache, LD_LIBRARY_PATH).
            library = NativeLibrary.Load(candidate);
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            reason = isFileName
                ? $"the dynamic loader refused it ({FirstLine(e.Message)})"
                : "not found by the dynamic loader (ld.so cache, LD_LIBRARY_PATH)";
            return false;
        }

        if (!NativeLibrary.TryGetExport(library, "OrtGetApiBase", out var getApiBase))
        {
            reason = "not an ONNX Runtime library (no OrtGetApiBase export)";
            return false;
        }

        // OrtApiBase { const OrtApi* (*GetApi)(uint32_t); const char* (*GetVersionString)(void); }
        var apiBase = ((delegate* unmanaged[Cdecl]<void**>)getApiBase)();
        if (apiBase == null)
        {
            reason = "OrtGetApiBase returned null";
            return false;
        }
        var getApi = (delegate* unmanaged[Cdecl]<uint, void**>)apiBase[0];
        var getVersionString = (delegate* unmanaged[Cdecl]<byte*>)apiBase[1];
        version = Marshal.PtrToStringUTF8((nint)getVersionString()) ?? "";
        if (getApi(ManagedApiVersion) == null)
        {
            reason = $"ONNX Runtime {version} does not offer C API version {ManagedApiVersion} " +
                     "(Coach needs ONNX Runtime 1.14 or newer)";
            return false;
        }

        reason = "";
        return true;
    }

    private static string FirstLine(string text)
    {
        var end = text.IndexOfAny(['\r', '\n']);
        return end < 0 ? text : text[..end];
    }

    /// <summary>
    /// Makes <paramref name="library"/> the managed API's <c>onnxruntime</c> import. Runs before any managed ORT type
    /// is touched: the package's own resolver (which would search on its own) is switched off first.
    /// </summary>
    private static void HandToManagedApi(nint library)
    {
        if (s_resolverSet)
        {
            return; // a resolver is set once per assembly; a retry after a failed environment keeps the first library
        }
        s_resolverSet = true;
        Ort.OrtEnv.DisableDllImportResolver = true;
        NativeLibrary.SetDllImportResolver(typeof(Ort.OrtEnv).Assembly, (name, _, _) =>
            name is "onnxruntime" or DevName or Soname ? library : 0);
    }

    /// <summary>Everything that exists once per process after a successful load.</summary>
    private sealed class LoadedRuntime
    {
        private IReadOnlyList<string>? _availableProviders;

        public LoadedRuntime(string path, string version)
        {
            Path = path;
            Version = version;
            // Process-wide: ORT wants one OrtEnv per process, and it must outlive every session.
            var options = new Ort.EnvironmentCreationOptions
            {
                logId = "coach",
                logLevel = Ort.OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
            };
            Environment = Ort.OrtEnv.CreateInstanceWithOptions(ref options);
        }

        public string Path { get; }

        public string Version { get; }

        public Ort.OrtEnv Environment { get; }

        public IReadOnlyList<string> AvailableProviders => _availableProviders ??= Environment.GetAvailableProviders();
    }
}
