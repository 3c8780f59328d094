using System.CommandLine;
using System.Reflection;
using Coach.Native.OnnxRuntime;

namespace Coach.Edge.Commands;

/// <summary><c>coach-edge version</c> (same as <c>--version</c>): Coach's version, the ONNX Runtime
/// actually loaded, its execution providers and where it was loaded from.</summary>
internal static class VersionCommand
{
    public static Command Create()
    {
        var command = new Command("version", "print Coach's version, the ONNX Runtime loaded and its execution providers");
        command.SetAction(_ => Print());
        return command;
    }

    /// <summary>Coach's version without the source-revision suffix.</summary>
    public static string CoachVersion
    {
        get
        {
            var informational = typeof(VersionCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                                ?? typeof(VersionCommand).Assembly.GetName().Version?.ToString(3)
                                ?? "unknown";
            var plus = informational.IndexOf('+', StringComparison.Ordinal);
            return plus < 0 ? informational : informational[..plus];
        }
    }

    public static int Print()
    {
        if (!OrtLibrary.TryLoad(out var error))
        {
            Console.WriteLine($"coach-edge {CoachVersion} (onnxruntime not loaded)");
            Console.Error.WriteLine($"coach-edge: {error}");
            return 1;
        }
        Console.WriteLine(
            $"coach-edge {CoachVersion} (onnxruntime {OrtLibrary.Version}; providers: {string.Join(", ", OrtLibrary.AvailableProviders)}; " +
            $"library: {OrtLibrary.LoadedPath})");
        return 0;
    }
}
