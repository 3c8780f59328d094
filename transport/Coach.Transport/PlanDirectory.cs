using System.Security.Cryptography;
using Coach.Engine.Planning;

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
/// A plan directory as written by the planner: <c>plan.json</c> (read as the typed <see cref="PlanDocument"/>, schema
/// coach.plan/1, docs/planner.md §8) plus <c>head.onnx</c> and/or <c>tail.onnx</c>. What the transport derives from it —
/// the files that exist, the cut tensors in wire order, the digests — is here; everything else is read from
/// <see cref="Document"/>. The plan hash, the key the cloud loads tails by, is the SHA-256 of <c>tail.onnx</c>: the edge and
/// the cloud compute it from the same bytes, so it needs no agreement with the planner.
/// </summary>
public sealed class PlanDirectory
{
    public const string PlanFileName = "plan.json";
    public const string HeadFileName = "head.onnx";
    public const string TailFileName = "tail.onnx";

    private PlanDirectory(string path, PlanDocument document)
    {
        DirectoryPath = path;
        Document = document;
    }

    public string DirectoryPath { get; }

    /// <summary>plan.json as the planner wrote it.</summary>
    public PlanDocument Document { get; }

    /// <summary>Plan id from plan.json.</summary>
    public string Id => Document.Id;

    /// <summary>Planning method (<c>coach</c>, <c>neurosurgeon</c>, …).</summary>
    public string Method => Document.Method;

    /// <summary>Name of the full model the plan was cut from, when plan.json gives it.</summary>
    public string? ModelName => Document.Model?.Name;

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

    /// <summary>How the edge codes its cut tensors' packed codes on the wire (plan.json <c>wire_coding</c>).</summary>
    public Protocol.TensorCompression WireCoding => Document.WireCoding == "zstd" ? Protocol.TensorCompression.Zstd : Protocol.TensorCompression.None;

    /// <summary>The JPEG quality a cloud-only plan sends its frames at (plan.json <c>input_codec</c>); 0 = 8-bit pixels as they are.</summary>
    public int JpegQuality => Document.InputCodec is { Codec: "jpeg" } codec && IsCloudOnly ? codec.Quality : 0;

    /// <summary>The x264 rate factor a cloud-only plan streams its frames at as H.264 (plan.json <c>input_codec</c> "h264");
    /// null = not H.264.</summary>
    public int? H264RateFactor => Document.InputCodec is { Codec: "h264" } codec && IsCloudOnly ? codec.Quality : null;

    /// <summary>No cut: the whole model runs on the edge (head.onnx is the full model).</summary>
    public bool IsEdgeOnly => TailPath is null || CutTensors.Count == 0;

    /// <summary>Cut at the input: there is no head; the frame itself is sent.</summary>
    public bool IsCloudOnly => !IsEdgeOnly && HeadPath is null;

    /// <summary>Reads a plan directory; throws <see cref="InvalidDataException"/> naming the file and what is missing.</summary>
    public static PlanDirectory Load(string directory)
    {
        string path = Path.GetFullPath(directory);
        string planFile = Path.Combine(path, PlanFileName);
        if (!File.Exists(planFile))
        {
            throw new InvalidDataException($"{path} is not a plan directory: it has no {PlanFileName} (write one with `coach plan`)");
        }

        PlanDocument document = PlanDocument.Load(planFile);
        string? head = ExistingFile(path, document.Head?.File, HeadFileName);
        string? tail = ExistingFile(path, document.Tail?.File, TailFileName);
        return new PlanDirectory(path, document)
        {
            ModelSha256 = ParseDigest(document.ModelSha256 is { Length: > 0 } digest ? digest : document.Model?.Sha256),
            HeadPath = head,
            TailPath = tail,
            PlanHash = tail is null ? new byte[32] : SHA256.HashData(File.ReadAllBytes(tail)),
            CutTensors = [.. document.CutTensors.Select(c => new CutTensorSpec(c.Name, c.Shape ?? [], c.Bits))],
            ModelPath = ResolveModelPath(path, document.Model?.Path),
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
}
