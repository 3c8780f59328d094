namespace Coach.Engine.Data.Media;

/// <summary>Parses a media data specification, <c>images:DIR</c> or <c>video:FILE</c>, and decodes it (docs/data.md).</summary>
public static class MediaSource
{
    public const string ImagesPrefix = "images:";
    public const string VideoPrefix = "video:";

    /// <summary>True when <paramref name="spec"/> names decoded media rather than a bundled split or stream.</summary>
    public static bool IsMedia(string spec) =>
        spec.StartsWith(ImagesPrefix, StringComparison.Ordinal) || spec.StartsWith(VideoPrefix, StringComparison.Ordinal);

    /// <summary>Decodes up to <paramref name="maxFrames"/> frames at <paramref name="height"/>×<paramref name="width"/>;
    /// <paramref name="notes"/> says what the caller should tell the user (for example subfolders that name no class).</summary>
    public static DecodedFrames Open(string spec, int height, int width, IReadOnlyList<string> classNames,
        out IReadOnlyList<string> notes, int maxFrames = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (height < 1 || width < 1)
        {
            throw new ArgumentException($"{spec}: the model's input size {width}×{height} is not a fixed image size; give a model with a fixed input height and width");
        }
        if (spec.StartsWith(ImagesPrefix, StringComparison.Ordinal) && spec.Length > ImagesPrefix.Length)
        {
            var frames = ImageFolder.Load(spec[ImagesPrefix.Length..], height, width, classNames, out var unmatched, maxFrames);
            notes = unmatched.Count == 0 ? [] :
            [
                $"subfolders naming none of the model's classes, read as unlabelled: {string.Join(", ", unmatched)} " +
                $"(class folder names: {string.Join(", ", classNames.Select(DecodedFrames.FolderName))})",
            ];
            return frames;
        }
        if (spec.StartsWith(VideoPrefix, StringComparison.Ordinal) && spec.Length > VideoPrefix.Length)
        {
            var path = spec[VideoPrefix.Length..];
            var frames = VideoFile.Load(path, height, width, classNames, maxFrames);
            notes = File.Exists(VideoFile.LabelPath(Path.GetFullPath(path))) ? [] :
                [$"no {VideoFile.LabelPath(path)}: the video's frames are unlabelled"];
            return frames;
        }
        throw new FormatException($"{spec}: expected images:DIR (a folder of JPEG/PNG images) or video:FILE (any video ffmpeg decodes)");
    }

    /// <summary>Class names from a text file, one per line in label order (blank lines skipped).</summary>
    public static IReadOnlyList<string> ReadClassNames(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"--labels {path}: no such file ({full}); give a text file with one class name per line, in label order", full);
        }
        var names = File.ReadAllLines(full).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        return names.Length > 0 ? names : throw new InvalidDataException($"--labels {path}: the file lists no class");
    }
}
