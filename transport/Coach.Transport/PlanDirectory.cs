using System.Security.Cryptography;
using System.Text.Json;

namespace Coach.Transport;

/// <summary>One cut tensor as the transport sees it: name, shape (batch dimension first), bits.</summary>
public sealed record CutTensorSpec(string Name, long[] Shape, int Bits)
{
    /// <summary>Elements of one frame's tensor (the batch dimension, whatever it says, counts as 1).</summary>
    public long ElementsPerFrame
    {
        get
        {
            long count = 1;
            for (int i = 1; i < Shape.Length; i++)
            {
                count *= Math.Max(1, Shape[i]);
            }

            return Shape.Length == 0 ? 0 : count;
        }
    }

    /// <summary>Shape of one frame's tensor with batch 1 (as int dims for the wire).</summary>
    public int[] FrameShape()
    {
        int[] dims = new int[Shape.Length];
        for (int i = 0; i < dims.Length; i++)
        {
            dims[i] = i == 0 ? 1 : checked((int)Math.Max(1, Shape[i]));
        }

        return dims;
    }
}

/// <summary>
/// A plan directory as written by the planner: <c>plan.json</c> plus <c>head.onnx</c> and/or
/// <c>tail.onnx</c>. The transport reads only what it needs — id, model hash, cut tensor names,
/// shapes and bits — and is tolerant of naming (snake_case or camelCase, a few synonyms) and of
/// fields it does not know. The plan hash, the key the cloud loads tails by, is the SHA-256 of
/// <c>tail.onnx</c>: the edge and the cloud compute it from the same bytes, so it needs no agreement
/// with the planner.
/// </summary>
public sealed class PlanDirectory
{
    public const string PlanFileName = "plan.json";
    public const string HeadFileName = "head.onnx";
    public const string TailFileName = "tail.onnx";

    private PlanDirectory(string path, JsonElement root)
    {
        DirectoryPath = path;
        Root = root;
    }

    public string DirectoryPath { get; }

    /// <summary>The whole plan.json (a detached copy), for readers that need more than the transport.</summary>
    public JsonElement Root { get; }

    /// <summary>Plan id from plan.json (<c>id</c>, <c>plan_id</c>, <c>name</c>), else the folder name.</summary>
    public string Id { get; private init; } = string.Empty;

    /// <summary>Planning method (<c>coach</c>, <c>neurosurgeon</c>, …) when plan.json says it.</summary>
    public string Method { get; private init; } = string.Empty;

    /// <summary>Name of the full model the plan was cut from, when known.</summary>
    public string? ModelName { get; private init; }

    /// <summary>SHA-256 of the full model (32 bytes; all zero when plan.json does not give it).</summary>
    public byte[] ModelSha256 { get; private init; } = new byte[32];

    /// <summary>SHA-256 of tail.onnx (32 bytes; all zero for an edge-only plan).</summary>
    public byte[] PlanHash { get; private init; } = new byte[32];

    public string PlanHashHex => Convert.ToHexStringLower(PlanHash);

    public string? HeadPath { get; private init; }

    /// <summary>The full model the plan was cut from (plan.json <c>model.path</c>), when it exists: the edge's fallback while the cloud is away.</summary>
    public string? ModelPath { get; private init; }

    public string? TailPath { get; private init; }

    /// <summary>Cut tensors in wire order (ordinal = index).</summary>
    public IReadOnlyList<CutTensorSpec> CutTensors { get; private init; } = [];

    /// <summary>No cut: the whole model runs on the edge (head.onnx is the full model).</summary>
    public bool IsEdgeOnly => TailPath is null || CutTensors.Count == 0;

    /// <summary>Cut at the input: there is no head; the frame itself is sent.</summary>
    public bool IsCloudOnly => !IsEdgeOnly && HeadPath is null;

    /// <summary>Reads a plan directory; throws <see cref="InvalidDataException"/> saying what is missing.</summary>
    public static PlanDirectory Load(string directory)
    {
        string path = Path.GetFullPath(directory);
        string planFile = Path.Combine(path, PlanFileName);
        if (!File.Exists(planFile))
        {
            throw new InvalidDataException($"{path} is not a plan directory: it has no {PlanFileName} (write one with `coach plan`)");
        }

        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(planFile), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            root = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{planFile} is not valid JSON: {e.Message}", e);
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException($"{planFile} must hold a JSON object");
        }

        string? head = ExistingFile(path, StringField(root, "head", "head_path", "headPath", "head_model"), HeadFileName);
        string? tail = ExistingFile(path, StringField(root, "tail", "tail_path", "tailPath", "tail_model"), TailFileName);
        var cuts = ReadCutTensors(root, planFile);

        JsonElement model = Field(root, "model");
        string? modelName = StringField(root, "model_name", "modelName")
            ?? (model.ValueKind == JsonValueKind.String ? model.GetString() : StringField(model, "name"));
        string? modelHash = StringField(root, "model_sha256", "modelSha256", "model_hash", "modelHash")
            ?? StringField(model, "sha256", "hash");

        return new PlanDirectory(path, root)
        {
            Id = StringField(root, "id", "plan_id", "planId", "name") ?? Path.GetFileName(path),
            Method = StringField(root, "method", "planner") ?? string.Empty,
            ModelName = modelName,
            ModelSha256 = ParseDigest(modelHash),
            HeadPath = head,
            TailPath = tail,
            PlanHash = tail is null ? new byte[32] : SHA256.HashData(File.ReadAllBytes(tail)),
            CutTensors = cuts,
            ModelPath = ResolveModelPath(path, StringField(root, "model_path", "modelPath") ?? StringField(model, "path")),
        };
    }

    private static string? ResolveModelPath(string planDirectory, string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return null;
        }

        // Relative paths: to the plan directory, else to the working directory (plans name models/… of the repository).
        string[] candidates = Path.IsPathRooted(path) ? [path] : [Path.GetFullPath(Path.Combine(planDirectory, path)), Path.GetFullPath(path)];
        return candidates.FirstOrDefault(File.Exists);
    }

    /// <summary>Plan directories under <paramref name="directory"/>: itself if it is one, else each subfolder that is.</summary>
    public static IReadOnlyList<PlanDirectory> LoadAll(string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"plans directory {Path.GetFullPath(directory)} does not exist");
        }

        if (File.Exists(Path.Combine(directory, PlanFileName)))
        {
            return [Load(directory)];
        }

        var plans = new List<PlanDirectory>();
        foreach (string sub in Directory.EnumerateDirectories(directory).Order(StringComparer.Ordinal))
        {
            if (File.Exists(Path.Combine(sub, PlanFileName)))
            {
                plans.Add(Load(sub));
            }
        }

        return plans;
    }

    public override string ToString() =>
        $"plan {Id} ({(IsEdgeOnly ? "edge-only" : IsCloudOnly ? "cloud-only" : $"{CutTensors.Count} cut tensor(s)")}, {DirectoryPath})";

    private static IReadOnlyList<CutTensorSpec> ReadCutTensors(JsonElement root, string planFile)
    {
        JsonElement list = Field(root, "cut_tensors", "cutTensors", "cut", "cuts");
        if (list.ValueKind != JsonValueKind.Array)
        {
            return [];
        }

        JsonElement bitsList = Field(root, "bits");
        int defaultBits = Field(root, "bits") is { ValueKind: JsonValueKind.Number } b && b.TryGetInt32(out int single) ? single : 32;
        var cuts = new List<CutTensorSpec>();
        int index = 0;
        foreach (JsonElement item in list.EnumerateArray())
        {
            string? name = item.ValueKind == JsonValueKind.String ? item.GetString() : StringField(item, "name", "tensor");
            if (string.IsNullOrEmpty(name))
            {
                throw new InvalidDataException($"{planFile}: cut tensor {index} has no name");
            }

            int bits = defaultBits;
            if (IntField(item, "bits") is int own)
            {
                bits = own;
            }
            else if (bitsList.ValueKind == JsonValueKind.Array && index < bitsList.GetArrayLength() && bitsList[index].TryGetInt32(out int listed))
            {
                bits = listed;
            }

            long[] shape = [];
            JsonElement shapeElement = Field(item, "shape", "dims");
            if (shapeElement.ValueKind == JsonValueKind.Array)
            {
                shape = shapeElement.EnumerateArray().Select(d => d.TryGetInt64(out long v) ? v : -1).ToArray();
            }

            if (bits is not ((>= 1 and <= 8) or 32))
            {
                throw new InvalidDataException($"{planFile}: cut tensor {name} has {bits} bits; expected 1 … 8 or 32");
            }

            cuts.Add(new CutTensorSpec(name, shape, bits));
            index++;
        }

        return cuts;
    }

    private static string? ExistingFile(string directory, string? named, string fallback)
    {
        if (!string.IsNullOrEmpty(named))
        {
            string candidate = Path.IsPathRooted(named) ? named : Path.Combine(directory, named);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        string standard = Path.Combine(directory, fallback);
        return File.Exists(standard) ? standard : null;
    }

    private static byte[] ParseDigest(string? hex)
    {
        if (hex is { Length: 64 })
        {
            try
            {
                return Convert.FromHexString(hex);
            }
            catch (FormatException)
            {
            }
        }

        return new byte[32];
    }

    internal static JsonElement Field(JsonElement element, params string[] names)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            return default;
        }

        foreach (string name in names)
        {
            if (element.TryGetProperty(name, out JsonElement value) && value.ValueKind != JsonValueKind.Null)
            {
                return value;
            }
        }

        return default;
    }

    internal static string? StringField(JsonElement element, params string[] names) =>
        Field(element, names) is { ValueKind: JsonValueKind.String } s ? s.GetString() : null;

    internal static int? IntField(JsonElement element, params string[] names) =>
        Field(element, names) is { ValueKind: JsonValueKind.Number } n && n.TryGetInt32(out int v) ? v : null;
}
