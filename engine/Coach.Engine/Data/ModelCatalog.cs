using System.Security.Cryptography;
using System.Text.Json;

namespace Coach.Engine.Data;

/// <summary>One bundled model as <c>models/manifest.json</c> describes it.</summary>
/// <param name="Path">Absolute path of the ONNX file.</param>
/// <param name="InputShape">Input dimensions; -1 for the dynamic batch dimension.</param>
public sealed record ModelEntry(
    string Name,
    string Path,
    string Sha256,
    double TestAccuracy,
    string InputName,
    IReadOnlyList<long> InputShape,
    string OutputName,
    IReadOnlyList<string> ClassNames,
    string Architecture,
    long Parameters,
    string Command)
{
    /// <summary>True when the file's SHA-256 equals the manifest's.</summary>
    public bool FileMatchesManifest()
    {
        using var stream = File.OpenRead(Path);
        return string.Equals(Convert.ToHexStringLower(SHA256.HashData(stream)), Sha256, StringComparison.OrdinalIgnoreCase);
    }
}

/// <summary>
/// The bundled models: <c>models/manifest.json</c> under the repository root, found through the environment
/// variable <c>COACH_ROOT</c> or by walking up from the application's folder.
/// </summary>
public static class ModelCatalog
{
    public const string ManifestRelativePath = "models/manifest.json";

    private static readonly Lazy<string> Root = new(FindRepositoryRoot);
    private static readonly Lazy<IReadOnlyList<ModelEntry>> Entries = new(() => ReadManifest(ManifestPath));

    public static string RepositoryRoot => Root.Value;

    public static string ManifestPath => System.IO.Path.Combine(RepositoryRoot, "models", "manifest.json");

    public static IReadOnlyList<ModelEntry> All => Entries.Value;

    public static ModelEntry Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (var entry in All)
        {
            if (string.Equals(entry.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return entry;
            }
        }

        throw new KeyNotFoundException(
            $"no model named '{name}' in {ManifestPath}; bundled models: {string.Join(", ", All.Select(e => e.Name))}");
    }

    public static bool TryGet(string name, out ModelEntry? entry)
    {
        entry = All.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase));
        return entry is not null;
    }

    /// <summary>Parses a manifest file; ONNX paths are resolved against the folder above <c>models/</c>.</summary>
    public static IReadOnlyList<ModelEntry> ReadManifest(string manifestPath)
    {
        if (!File.Exists(manifestPath))
        {
            throw new FileNotFoundException($"{manifestPath}: model manifest not found (models are trained by scripts/models/train.py)", manifestPath);
        }

        string root = System.IO.Path.GetFullPath(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(manifestPath)!, ".."));
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(manifestPath));
            var list = new List<ModelEntry>();
            foreach (var m in doc.RootElement.GetProperty("models").EnumerateArray())
            {
                var input = m.GetProperty("input");
                var shape = input.GetProperty("shape").EnumerateArray()
                    .Select(d => d.ValueKind == JsonValueKind.Number ? d.GetInt64() : -1L).ToArray();
                var classes = m.GetProperty("class_names").EnumerateArray().Select(c => c.GetString() ?? "").ToArray();
                list.Add(new ModelEntry(
                    Name: m.GetProperty("name").GetString()!,
                    Path: System.IO.Path.GetFullPath(System.IO.Path.Combine(root, m.GetProperty("file").GetString()!)),
                    Sha256: m.GetProperty("sha256").GetString()!,
                    TestAccuracy: m.GetProperty("test_accuracy").GetDouble(),
                    InputName: input.GetProperty("name").GetString()!,
                    InputShape: shape,
                    OutputName: m.GetProperty("output").GetProperty("name").GetString()!,
                    ClassNames: classes,
                    Architecture: m.TryGetProperty("architecture", out var a) ? a.GetString() ?? "" : "",
                    Parameters: m.TryGetProperty("parameters", out var p) ? p.GetInt64() : 0,
                    Command: m.TryGetProperty("command", out var c) ? c.GetString() ?? "" : ""));
            }

            return list;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{manifestPath}: malformed model manifest ({e.Message})", e);
        }
    }

    private static string FindRepositoryRoot()
    {
        if (Environment.GetEnvironmentVariable("COACH_ROOT") is { Length: > 0 } env)
        {
            if (!File.Exists(System.IO.Path.Combine(env, ManifestRelativePath)))
            {
                throw new DirectoryNotFoundException($"COACH_ROOT={env} holds no {ManifestRelativePath}; point it at the Coach repository root");
            }

            return System.IO.Path.GetFullPath(env);
        }

        foreach (string start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(System.IO.Path.Combine(dir.FullName, ManifestRelativePath)))
                {
                    return dir.FullName;
                }
            }
        }

        throw new DirectoryNotFoundException(
            $"cannot find {ManifestRelativePath} above {AppContext.BaseDirectory} or {Environment.CurrentDirectory}; " +
            "run from inside the Coach repository or set COACH_ROOT to its root");
    }
}
