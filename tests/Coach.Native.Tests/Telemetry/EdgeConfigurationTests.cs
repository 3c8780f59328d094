using Coach.Engine.Deployment;
using Coach.Native.OnnxRuntime;

namespace Coach.Native.Tests.Telemetry;

/// <summary>The edge configuration (/etc/coach/edge.json): the shipped example loads, maps to session settings, and bad files say what is wrong.</summary>
public sealed class EdgeConfigurationTests
{
    [Fact]
    public void ShippedExampleLoadsWithTensorRtDefaults()
    {
        var configuration = EdgeConfiguration.Load(ShippedExample());

        Assert.Equal(("192.168.55.100", 7700), configuration.CloudEndpoint);
        Assert.Equal(["tensorrt", "cuda", "cpu"], configuration.ExecutionProviders);
        Assert.True(configuration.TensorRt.Fp16);
        Assert.False(configuration.TensorRt.Int8);
        Assert.Equal("/var/cache/coach/trt", configuration.TensorRt.EngineCachePath);
        Assert.Equal(-1, configuration.TensorRt.DlaCore);
        Assert.True(configuration.Telemetry.Enabled);
        Assert.Equal("/", configuration.Telemetry.SysfsRoot);
        Assert.False(configuration.Gpio.IsUsed); // the example names the keys but drives no line
    }

    [Fact]
    public void MapsToSessionSettingsInTheFilesProviderOrder()
    {
        var configuration = EdgeConfiguration.Parse("""
            {
              "cloud": "[fd00::2]:7701",
              "planDirectory": "/opt/coach/plan",
              "executionProviders": ["cuda", "TensorRT", "cpu"],
              "deviceId": 0,
              "intraOpThreads": 4,
              // Xavier NX: run the head on DLA core 1 in INT8
              "tensorRt": { "fp16": false, "int8": true, "engineCachePath": "/var/cache/coach/trt", "workspaceBytes": 268435456, "dlaCore": 1 },
              "telemetry": { "enabled": false },
            }
            """);

        var settings = configuration.ToSessionSettings();

        Assert.Equal(("fd00::2", 7701), configuration.CloudEndpoint);
        Assert.Equal([ExecutionProvider.Cuda, ExecutionProvider.TensorRt, ExecutionProvider.Cpu], settings.Providers);
        Assert.Equal(4, settings.IntraOpThreads);
        Assert.False(settings.TensorRt.Fp16);
        Assert.True(settings.TensorRt.Int8);
        Assert.Equal("/var/cache/coach/trt", settings.TensorRt.EngineCachePath);
        Assert.Equal(256L << 20, settings.TensorRt.WorkspaceBytes);
        Assert.Equal(1, settings.TensorRt.DlaCore);
        Assert.False(configuration.Telemetry.Enabled);
        Assert.Equal(TimeSpan.FromMilliseconds(50), configuration.Telemetry.Interval);
    }

    [Fact]
    public void RoundTripsThroughItsOwnJson()
    {
        var original = EdgeConfiguration.Load(ShippedExample());

        var again = EdgeConfiguration.Parse(original.ToJson(), "round trip");

        Assert.Equal(original.ToJson(), again.ToJson());
        Assert.Contains("\"engineCachePath\": \"/var/cache/coach/trt\"", again.ToJson(), StringComparison.Ordinal);
    }

    [Fact]
    public void EveryInvalidValueIsNamedInOneError()
    {
        var error = Assert.Throws<EdgeConfigurationException>(() => EdgeConfiguration.Parse("""
            {
              "cloud": "cloud-without-port",
              "planDirectory": "relative/plan",
              "executionProviders": ["tensorrt", "opencl", "tensorrt"],
              "tensorRt": { "workspaceBytes": 0, "dlaCore": 3, "engineCachePath": "trt" },
              "telemetry": { "intervalMs": 0, "sysfsRoot": "" }
            }
            """, "/etc/coach/edge.json"));

        Assert.Equal("/etc/coach/edge.json", error.ConfigurationSource);
        Assert.Equal(9, error.Problems.Count);
        Assert.Contains("cloud: 'cloud-without-port' is not host:port", error.Message, StringComparison.Ordinal);
        Assert.Contains("planDirectory must be an absolute path", error.Message, StringComparison.Ordinal);
        Assert.Contains("unknown provider 'opencl'", error.Message, StringComparison.Ordinal);
        Assert.Contains("lists 'tensorrt' twice", error.Message, StringComparison.Ordinal);
        Assert.Contains("tensorRt.workspaceBytes must be at least 1 MiB", error.Message, StringComparison.Ordinal);
        Assert.Contains("tensorRt.dlaCore must be -1 (GPU only), 0 or 1", error.Message, StringComparison.Ordinal);
        Assert.Contains("tensorRt.engineCachePath must be an absolute path", error.Message, StringComparison.Ordinal);
        Assert.Contains("telemetry.intervalMs must be from 1 to 10000", error.Message, StringComparison.Ordinal);
        Assert.Contains("telemetry.sysfsRoot must be an absolute path", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GpioLinesAreReadAndEveryBadOneIsNamed()
    {
        var configuration = EdgeConfiguration.Parse("""
            { "cloud": "10.0.0.2:7700", "gpio": { "chip": 0, "statusLine": 105, "triggerLine": 106, "triggerEdge": "falling", "triggerTimeoutS": 30 } }
            """);
        Assert.True(configuration.Gpio.IsUsed);
        Assert.Equal((105, 106, "falling", 30.0), (configuration.Gpio.StatusLine, configuration.Gpio.TriggerLine, configuration.Gpio.TriggerEdge, configuration.Gpio.TriggerTimeoutS));

        var error = Assert.Throws<EdgeConfigurationException>(() => EdgeConfiguration.Parse("""
            { "cloud": "10.0.0.2:7700", "gpio": { "chip": -1, "statusLine": 7, "triggerLine": 7, "triggerEdge": "both", "triggerTimeoutS": -2 } }
            """));
        Assert.Equal(4, error.Problems.Count);
        Assert.Contains("gpio.chip must be a chip number", error.Message, StringComparison.Ordinal);
        Assert.Contains("both line 7", error.Message, StringComparison.Ordinal);
        Assert.Contains("gpio.triggerEdge must be \"rising\" or \"falling\"", error.Message, StringComparison.Ordinal);
        Assert.Contains("gpio.triggerTimeoutS must be 0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FieldsLeftOutKeepTheirDefaults()
    {
        var configuration = EdgeConfiguration.Parse("""{ "cloud": "10.0.0.2:7700", "tensorRt": { "dlaCore": 0 }, "telemetry": { "enabled": false } }""");

        Assert.Equal("/opt/coach/plan", configuration.PlanDirectory);
        Assert.Equal(["tensorrt", "cuda", "cpu"], configuration.ExecutionProviders);
        Assert.True(configuration.TensorRt.Fp16);
        Assert.Equal("/var/cache/coach/trt", configuration.TensorRt.EngineCachePath);
        Assert.Equal(1L << 30, configuration.TensorRt.WorkspaceBytes);
        Assert.Equal(0, configuration.TensorRt.DlaCore);
        Assert.Equal("/", configuration.Telemetry.SysfsRoot);
        Assert.Equal(50, configuration.Telemetry.IntervalMs);
        Assert.Null(configuration.KeyFile);
        Assert.False(configuration.Gpio.IsUsed);
    }

    [Theory]
    [InlineData("{ \"cloud\": \"10.0.0.2:7700\", \"tensorRt\": { \"fp61\": true } }", "fp61")]
    [InlineData("{ \"cloud\": \"10.0.0.2:7700\", ", "line 1")]
    [InlineData("{ \"cloud\": \"10.0.0.2:7700\", \"deviceId\": \"zero\" }", "$.deviceId")]
    [InlineData("null", "JSON null")]
    [InlineData("{ \"cloud\": \"10.0.0.2:70000\" }", "port must be a number from 1 to 65535")]
    [InlineData("{ \"cloud\": \"fd00::2:7700\" }", "IPv6 address goes in brackets")]
    public void MalformedFilesSayWhereAndWhat(string json, string expected)
    {
        var error = Assert.Throws<EdgeConfigurationException>(() => EdgeConfiguration.Parse(json, "edge.json"));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.StartsWith("edge.json: invalid edge configuration", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingFileSaysHowToInstallOne()
    {
        var path = Path.Combine(Path.GetTempPath(), $"coach-no-such-{Guid.NewGuid():N}", "edge.json");

        var error = Assert.Throws<EdgeConfigurationException>(() => EdgeConfiguration.Load(path));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("scripts/jetson/install.sh", error.Message, StringComparison.Ordinal);
    }

    /// <summary>scripts/jetson/edge.json, the file install.sh puts at /etc/coach/edge.json.</summary>
    private static string ShippedExample([System.Runtime.CompilerServices.CallerFilePath] string sourceFile = "")
    {
        for (var dir = new DirectoryInfo(Path.GetDirectoryName(sourceFile) ?? "."); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "scripts", "jetson", "edge.json");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "scripts", "jetson", "edge.json");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new FileNotFoundException("scripts/jetson/edge.json not found above the test's source or output folder");
    }
}
