using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Coach.Native.OnnxRuntime;

namespace Coach.Engine.Deployment;

/// <summary>
/// The edge device's configuration, <c>/etc/coach/edge.json</c> on a Jetson (installed by
/// <c>scripts/jetson/install.sh</c>): where the cloud is, where the plan lives, which execution providers to try
/// and how TensorRT builds its engines, and whether to sample the device's telemetry. Loaded with
/// <see cref="Load"/>, which validates every field and names each problem.
/// </summary>
public sealed class EdgeConfiguration
{
    // Settable (not init) properties: the JSON source generator sets init-only properties missing from the
    // file to default(T), which would lose the defaults below for a partial file.

    /// <summary>Where the installed edge reads its configuration.</summary>
    public const string DefaultPath = "/etc/coach/edge.json";

    /// <summary>The coach-cloud to talk to, <c>host:port</c> (IPv6 as <c>[addr]:port</c>).</summary>
    public string Cloud { get; set; } = "";

    /// <summary>Folder with <c>plan.json</c>, <c>head.onnx</c> and <c>tail.onnx</c> (written by <c>coach plan --out</c>).</summary>
    public string PlanDirectory { get; set; } = "/opt/coach/plan";

    /// <summary>Pre-shared key file for the cloud handshake; a path only, the key never appears in this file. Null: no key.</summary>
    public string? KeyFile { get; set; }

    /// <summary>Execution providers in order of preference: <c>tensorrt</c>, <c>cuda</c>, <c>cpu</c>. Each is used only
    /// if ONNX Runtime accepts it on this device; the edge logs which one runs and why the others were refused.</summary>
    public IReadOnlyList<string> ExecutionProviders { get; set; } = ["tensorrt", "cuda", "cpu"];

    /// <summary>GPU index for TensorRT and CUDA (0 on a Jetson).</summary>
    public int DeviceId { get; set; }

    /// <summary>ONNX Runtime intra-op threads; 0 = one per core.</summary>
    public int IntraOpThreads { get; set; }

    public TensorRtConfiguration TensorRt { get; set; } = new();

    /// <summary>TLS to the cloud (CA bundle, server name, client certificate for mutual TLS); off by default.</summary>
    public TlsConfiguration Tls { get; set; } = new();

    public TelemetryConfiguration Telemetry { get; set; } = new();

    /// <summary>Status output and start trigger lines; none by default.</summary>
    public GpioConfiguration Gpio { get; set; } = new();

    /// <summary>Reads, parses and validates a configuration file.</summary>
    /// <exception cref="EdgeConfigurationException">The file is missing, not JSON, has unknown fields or invalid values; the message lists each problem.</exception>
    public static EdgeConfiguration Load(string path = DefaultPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new EdgeConfigurationException(path,
                [$"cannot read it ({e.Message}); install one with scripts/jetson/install.sh or copy scripts/jetson/edge.json there"]);
        }
        return Parse(json, path);
    }

    /// <summary>Parses and validates configuration text; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="EdgeConfigurationException">Not JSON, unknown fields, or invalid values.</exception>
    public static EdgeConfiguration Parse(string json, string source = "edge.json")
    {
        ArgumentNullException.ThrowIfNull(json);
        EdgeConfiguration? configuration;
        try
        {
            configuration = JsonSerializer.Deserialize(json, EdgeConfigurationJsonContext.Default.EdgeConfiguration);
        }
        catch (JsonException e)
        {
            var where = e.LineNumber is { } line ? $"line {line + 1}" + (e.BytePositionInLine is { } column ? $", column {column + 1}" : "") : "";
            var field = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "" : $" at {e.Path}";
            throw new EdgeConfigurationException(source, [$"not valid edge configuration JSON ({where}{field}): {FirstSentence(e.Message)}"]);
        }
        if (configuration is null)
        {
            throw new EdgeConfigurationException(source, ["the file holds JSON null; it must be an object like scripts/jetson/edge.json"]);
        }
        var problems = configuration.Validate();
        if (problems.Count > 0)
        {
            throw new EdgeConfigurationException(source, problems);
        }
        return configuration;
    }

    /// <summary>Every problem with the values, as sentences naming the field, the value and what is expected. Empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (!TryParseCloud(Cloud, out _, out _, out var cloudProblem))
        {
            problems.Add($"cloud: {cloudProblem}");
        }
        if (string.IsNullOrWhiteSpace(PlanDirectory) || !Path.IsPathRooted(PlanDirectory))
        {
            problems.Add($"planDirectory must be an absolute path (the folder coach plan --out wrote), got '{PlanDirectory}'");
        }
        if (KeyFile is not null && (KeyFile.Length == 0 || !Path.IsPathRooted(KeyFile)))
        {
            problems.Add($"keyFile must be an absolute path or null, got '{KeyFile}'");
        }
        if (ExecutionProviders is null || ExecutionProviders.Count == 0)
        {
            problems.Add("executionProviders must list at least one of tensorrt, cuda, cpu");
        }
        else
        {
            var seen = new HashSet<ExecutionProvider>();
            foreach (var name in ExecutionProviders)
            {
                if (name is null || !ExecutionProviderExtensions.TryParse(name, out var provider))
                {
                    problems.Add($"executionProviders: unknown provider '{name}'; use tensorrt, cuda or cpu");
                }
                else if (!seen.Add(provider))
                {
                    problems.Add($"executionProviders lists '{name}' twice");
                }
            }
        }
        if (DeviceId < 0)
        {
            problems.Add($"deviceId must be 0 or more (0 on a Jetson), got {DeviceId}");
        }
        if (IntraOpThreads < 0)
        {
            problems.Add($"intraOpThreads must be 0 (one per core) or a thread count, got {IntraOpThreads}");
        }
        if (TensorRt is null)
        {
            problems.Add("tensorRt must be an object (or left out for the defaults), not null");
        }
        else
        {
            TensorRt.Validate(problems);
        }
        if (Tls is null)
        {
            problems.Add("tls must be an object (or left out for plain TCP), not null");
        }
        else
        {
            Tls.Validate(problems);
        }
        if (Telemetry is null)
        {
            problems.Add("telemetry must be an object (or left out for the defaults), not null");
        }
        else
        {
            Telemetry.Validate(problems);
        }
        if (Gpio is null)
        {
            problems.Add("gpio must be an object (or left out for no GPIO), not null");
        }
        else
        {
            Gpio.Validate(problems);
        }
        return problems;
    }

    /// <summary>The cloud's host and port from <see cref="Cloud"/> (validated by <see cref="Load"/>).</summary>
    public (string Host, int Port) CloudEndpoint =>
        TryParseCloud(Cloud, out var host, out var port, out var problem) ? (host, port) : throw new EdgeConfigurationException("edge configuration", [$"cloud: {problem}"]);

    /// <summary>
    /// ONNX Runtime session settings for the edge's head: the providers in this file's order, the TensorRT options
    /// (fp16, INT8, engine cache, workspace, DLA core), the device and thread counts.
    /// </summary>
    public SessionSettings ToSessionSettings()
    {
        var problems = Validate();
        if (problems.Count > 0)
        {
            throw new EdgeConfigurationException("edge configuration", problems);
        }
        var providers = new ExecutionProvider[ExecutionProviders.Count];
        for (int i = 0; i < providers.Length; i++)
        {
            _ = ExecutionProviderExtensions.TryParse(ExecutionProviders[i], out providers[i]); // validated above
        }
        return new SessionSettings
        {
            Providers = providers,
            DeviceId = DeviceId,
            IntraOpThreads = IntraOpThreads,
            TensorRt = new TensorRtSettings
            {
                Fp16 = TensorRt.Fp16,
                Int8 = TensorRt.Int8,
                EngineCachePath = TensorRt.EngineCachePath,
                WorkspaceBytes = TensorRt.WorkspaceBytes,
                DlaCore = TensorRt.DlaCore,
            },
        };
    }

    /// <summary>This configuration as indented JSON, in the file's own field names.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, EdgeConfigurationJsonContext.Default.EdgeConfiguration);

    private static bool TryParseCloud(string? text, out string host, out int port, out string problem)
    {
        host = "";
        port = 0;
        if (string.IsNullOrWhiteSpace(text))
        {
            problem = "required: the coach-cloud address as host:port, e.g. 192.168.55.100:7700";
            return false;
        }
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            problem = $"'{text}' is not host:port (e.g. 10.0.0.2:7700 or [fd00::2]:7700)";
            return false;
        }
        host = text[..colon];
        if (host.StartsWith('['))
        {
            if (!host.EndsWith(']') || host.Length < 3)
            {
                problem = $"'{text}': an IPv6 address goes in brackets, e.g. [fd00::2]:7700";
                return false;
            }
            host = host[1..^1];
        }
        else if (host.Contains(':', StringComparison.Ordinal))
        {
            problem = $"'{text}': an IPv6 address goes in brackets, e.g. [fd00::2]:7700";
            return false;
        }
        if (!int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            problem = $"'{text}': the port must be a number from 1 to 65535";
            return false;
        }
        problem = "";
        return true;
    }

    private static string FirstSentence(string message)
    {
        int end = message.IndexOf(". ", StringComparison.Ordinal);
        return end > 0 ? message[..(end + 1)] : message;
    }
}

/// <summary>TensorRT execution-provider options in the edge configuration.</summary>
public sealed class TensorRtConfiguration
{
    /// <summary>Build FP16 engines (on by default: Jetson GPUs run FP16 at about twice FP32 speed).</summary>
    public bool Fp16 { get; set; } = true;

    /// <summary>Build INT8 engines; off by default: needs a calibration table or a QDQ model, else accuracy is not guaranteed.</summary>
    public bool Int8 { get; set; }

    /// <summary>Where built engines are cached. Building one takes minutes on a Jetson; the cache makes later starts fast.
    /// Null disables the cache (every start rebuilds).</summary>
    public string? EngineCachePath { get; set; } = "/var/cache/coach/trt";

    /// <summary>TensorRT's builder workspace limit in bytes (default 1 GiB).</summary>
    public long WorkspaceBytes { get; set; } = 1L << 30;

    /// <summary>DLA core to run on (Xavier and Orin AGX/NX have cores 0 and 1), or -1 for the GPU only.</summary>
    public int DlaCore { get; set; } = -1;

    internal void Validate(List<string> problems)
    {
        if (EngineCachePath is not null && (EngineCachePath.Length == 0 || !Path.IsPathRooted(EngineCachePath)))
        {
            problems.Add($"tensorRt.engineCachePath must be an absolute path (default /var/cache/coach/trt) or null, got '{EngineCachePath}'");
        }
        if (WorkspaceBytes < 1L << 20)
        {
            problems.Add($"tensorRt.workspaceBytes must be at least 1 MiB (1048576), got {WorkspaceBytes}");
        }
        if (DlaCore is < -1 or > 1)
        {
            problems.Add($"tensorRt.dlaCore must be -1 (GPU only), 0 or 1 (the DLA cores of Xavier and Orin), got {DlaCore}");
        }
    }
}

/// <summary>
/// TLS to the cloud in the edge configuration: file paths only (PEM), never key material. The same
/// settings as <c>coach-edge run --tls --tls-ca FILE --tls-server-name NAME --tls-cert FILE --tls-key FILE</c>.
/// </summary>
public sealed class TlsConfiguration
{
    /// <summary>Speak TLS to the cloud.</summary>
    public bool Enabled { get; set; }

    /// <summary>CA bundle (PEM) the cloud's certificate must chain to; null = the system's trust store.</summary>
    public string? CaFile { get; set; }

    /// <summary>Name the cloud's certificate must carry; null = the host of <c>cloud</c>.</summary>
    public string? ServerName { get; set; }

    /// <summary>This edge's certificate (PEM) for mutual TLS; its subject CN is the edge's client id.</summary>
    public string? CertificateFile { get; set; }

    /// <summary>The private key (PEM, unencrypted, chmod 600) of <see cref="CertificateFile"/>.</summary>
    public string? KeyFile { get; set; }

    internal void Validate(List<string> problems)
    {
        CheckPath(CaFile, "caFile", problems);
        CheckPath(CertificateFile, "certificateFile", problems);
        CheckPath(KeyFile, "keyFile", problems);
        if ((CertificateFile is null) != (KeyFile is null))
        {
            problems.Add("tls.certificateFile and tls.keyFile go together (mutual TLS needs the certificate and its key); give both or neither");
        }
        if (ServerName is not null && string.IsNullOrWhiteSpace(ServerName))
        {
            problems.Add("tls.serverName must be a host name or null");
        }
        if (!Enabled && (CaFile ?? ServerName ?? CertificateFile ?? KeyFile) is not null)
        {
            problems.Add("tls.enabled is false but TLS files or a server name are set; set \"enabled\": true or remove them");
        }
    }

    private static void CheckPath(string? path, string field, List<string> problems)
    {
        if (path is not null && (path.Length == 0 || !Path.IsPathRooted(path)))
        {
            problems.Add($"tls.{field} must be an absolute path or null, got '{path}'");
        }
    }
}

/// <summary>Sampling of the Jetson's power rails, thermal zones and GPU load during runs.</summary>
public sealed class TelemetryConfiguration
{
    /// <summary>Sample telemetry and report energy per frame (when the device has the sensors).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Root under which <c>sys/</c> is read: "/" on a device; another folder replays a recorded tree.</summary>
    public string SysfsRoot { get; set; } = "/";

    /// <summary>Sampling period in milliseconds.</summary>
    public int IntervalMs { get; set; } = 50;

    public TimeSpan Interval => TimeSpan.FromMilliseconds(IntervalMs);

    internal void Validate(List<string> problems)
    {
        if (string.IsNullOrEmpty(SysfsRoot) || !Path.IsPathRooted(SysfsRoot))
        {
            problems.Add($"telemetry.sysfsRoot must be an absolute path (\"/\" on a device), got '{SysfsRoot}'");
        }
        if (IntervalMs is < 1 or > 10_000)
        {
            problems.Add($"telemetry.intervalMs must be from 1 to 10000, got {IntervalMs}");
        }
    }
}

/// <summary>An edge configuration that cannot be used; <see cref="Exception.Message"/> lists every problem.</summary>
public sealed class EdgeConfigurationException : Exception
{
    public EdgeConfigurationException(string source, IReadOnlyList<string> problems)
        : base(Describe(source, problems))
    {
        ConfigurationSource = source;
        Problems = problems;
    }

    public EdgeConfigurationException()
    {
        Problems = [];
    }

    public EdgeConfigurationException(string message)
        : base(message)
    {
        Problems = [message];
    }

    public EdgeConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
        Problems = [message];
    }

    /// <summary>The file (or text) the configuration came from.</summary>
    public string? ConfigurationSource { get; }

    /// <summary>Each problem, one sentence each.</summary>
    public IReadOnlyList<string> Problems { get; }

    private static string Describe(string source, IReadOnlyList<string> problems)
    {
        var text = new StringBuilder();
        text.Append(source).Append(": invalid edge configuration");
        foreach (var problem in problems)
        {
            text.Append("\n  - ").Append(problem);
        }
        text.Append("\n(every setting is described in docs/jetson.md; scripts/jetson/edge.json is a working example)");
        return text.ToString();
    }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    ReadCommentHandling = JsonCommentHandling.Skip,
    AllowTrailingCommas = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    IgnoreReadOnlyProperties = true)]
[JsonSerializable(typeof(EdgeConfiguration))]
internal sealed partial class EdgeConfigurationJsonContext : JsonSerializerContext;
