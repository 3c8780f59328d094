using SkiaSharp;

namespace Coach.Engine.Data.Media;

/// <summary>
/// A folder of images (JPEG, PNG, WebP, BMP, GIF) decoded with Skia at the model's input size. Images in a subfolder
/// named like one of the model's classes (<see cref="DecodedFrames.FolderName"/>, or the label's number) carry that
/// label; images directly in the folder, or in a subfolder that names no class, are unlabelled.
/// </summary>
public static class ImageFolder
{
    /// <summary>File endings decoded as images.</summary>
    public static readonly IReadOnlyList<string> Extensions = [".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"];

    /// <summary>Decodes up to <paramref name="maxFrames"/> images (in path order) into 3×<paramref name="height"/>×<paramref name="width"/> frames.</summary>
    /// <param name="unmatchedFolders">Subfolders that name no class (their images are unlabelled), for the caller to report.</param>
    public static DecodedFrames Load(string directory, int height, int width, IReadOnlyList<string> classNames,
        out IReadOnlyList<string> unmatchedFolders, int maxFrames = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(classNames);
        var root = Path.GetFullPath(directory);
        if (!Directory.Exists(root))
        {
            throw new DirectoryNotFoundException($"images:{directory}: no such folder ({root}); give a folder of JPEG/PNG images, optionally in class subfolders");
        }

        var files = new List<(string Path, int Label)>();
        var unmatched = new List<string>();
        AddImages(root, -1, files);
        foreach (var folder in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(folder);
            var label = DecodedFrames.LabelOf(name, classNames);
            if (label < 0)
            {
                unmatched.Add(name);
            }
            AddImages(folder, label, files);
        }
        unmatchedFolders = unmatched;
        if (files.Count == 0)
        {
            throw new InvalidDataException($"images:{directory}: no image files ({string.Join(", ", Extensions)}) in {root} or its subfolders");
        }
        if (files.Count > maxFrames)
        {
            files.RemoveRange(maxFrames, files.Count - maxFrames);
        }

        var frameBytes = 3 * height * width;
        var pixels = GC.AllocateUninitializedArray<byte>(checked(frameBytes * files.Count));
        try
        {
            Parallel.For(0, files.Count, i => Decode(files[i].Path, height, width, pixels.AsSpan(i * frameBytes, frameBytes)));
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            // The first file that failed, with its own message, rather than the parallel loop's wrapper.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
        }
        return new DecodedFrames(pixels, files.Select(f => f.Label).ToArray(), height, width, classNames,
            $"images:{directory} ({files.Count} images, {files.Count(f => f.Label >= 0)} labelled, decoded at {width}×{height})");
    }

    /// <summary>Decodes one image file into planar RGB at <paramref name="height"/>×<paramref name="width"/>.</summary>
    public static void Decode(string path, int height, int width, Span<byte> planar)
    {
        using var decoded = SKBitmap.Decode(path)
            ?? throw new InvalidDataException($"{path}: not a decodable image (JPEG, PNG, WebP, BMP or GIF); remove or replace it");
        ImageCodec.ToPlanar(decoded, height, width, planar, path);
    }

    /// <summary>Encodes planar RGB as <paramref name="format"/> (quality 0–100 for lossy formats) into <paramref name="path"/>.</summary>
    public static void Encode(ReadOnlySpan<byte> planar, int height, int width, SKEncodedImageFormat format, int quality, string path)
    {
        using var data = ImageCodec.Encode(planar, height, width, format, quality);
        using var file = File.Create(path);
        data.SaveTo(file);
    }

    private static void AddImages(string folder, int label, List<(string Path, int Label)> files)
    {
        foreach (var file in Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal))
        {
            if (Extensions.Contains(Path.GetExtension(file).ToLowerInvariant()))
            {
                files.Add((file, label));
            }
        }
    }
}
