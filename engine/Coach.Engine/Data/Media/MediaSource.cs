namespace Coach.Engine.Data.Media;

/// <summary>Parses a data specification, <c>images:DIR</c>, <c>video:FILE</c> or <c>tensors:FILE</c>, and loads it (docs/data.md).</summary>
public static class MediaSource
{
    public const string ImagesPrefix = "images:";
    public const string VideoPrefix = "video:";
    public const string TensorsPrefix = "tensors:";

    /// <summary>True when <paramref name="spec"/> names the user's frames rather than a bundled split or stream.</summary>
    public static bool IsMedia(string spec) =>
        spec.StartsWith(ImagesPrefix, StringComparison.Ordinal) || spec.StartsWith(VideoPrefix, StringComparison.Ordinal)
        || spec.StartsWith(TensorsPrefix, StringComparison.Ordinal);

    /// <summary>
    /// Loads up to <paramref name="maxFrames"/> frames for a model of <paramref name="contract"/>: images and video decoded at
    /// its input size, tensors as stored; all rendered through the contract (float32 tensors as they are). Class names are
    /// the contract's when its card has them, else <paramref name="classNames"/>.
    /// </summary>
    public static ILabelledFrames Load(string spec, InputContract contract, IReadOnlyList<string> classNames,
        out IReadOnlyList<string> notes, int maxFrames = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(contract);
        if (spec.StartsWith(TensorsPrefix, StringComparison.Ordinal) && spec.Length > TensorsPrefix.Length)
        {
            var path = spec[TensorsPrefix.Length..];
            var tensors = TensorFile.Load(path, contract, classNames, maxFrames);
            notes = File.Exists(VideoFile.LabelPath(Path.GetFullPath(path))) ? [] : [$"no {VideoFile.LabelPath(path)}: the frames are unlabelled"];
            return tensors;
        }
        return Open(spec, contract.Height, contract.Width, classNames, out notes, maxFrames).WithContract(contract, classNames);
    }

    /// <summary>Decodes up to <paramref name="maxFrames"/> images or video frames as planar RGB at <paramref name="height"/>×<paramref name="width"/>;
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
        throw new FormatException(spec.StartsWith("camera:", StringComparison.Ordinal)
            ? $"{spec}: a camera is a live source for coach-edge run --source; here give images:DIR (a folder of JPEG/PNG images), video:FILE (any video ffmpeg decodes) or tensors:FILE (.npy or IDX)"
            : $"{spec}: expected images:DIR (a folder of JPEG/PNG images), video:FILE (any video ffmpeg decodes) or tensors:FILE (.npy or IDX)");
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
