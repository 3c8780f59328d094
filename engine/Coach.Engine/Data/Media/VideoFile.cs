using System.Globalization;

namespace Coach.Engine.Data.Media;

/// <summary>
/// A video file decoded by ffmpeg into frames at the model's input size (scaled, not cropped). Labels, when known,
/// come from a <c>FILE.labels</c> text file beside it: one line per frame, a class name (in any form
/// <see cref="DecodedFrames.LabelOf"/> accepts) or its number, or <c>-</c> for an unlabelled frame.
/// </summary>
public static class VideoFile
{
    /// <summary>The label file that belongs to <paramref name="videoPath"/>.</summary>
    public static string LabelPath(string videoPath) => videoPath + ".labels";

    /// <summary>Decodes up to <paramref name="maxFrames"/> frames of <paramref name="path"/>.</summary>
    public static DecodedFrames Load(string path, int height, int width, IReadOnlyList<string> classNames, int maxFrames = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"video:{path}: no such file ({full})", full);
        }
        if (maxFrames < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxFrames), maxFrames, "decode at least one frame");
        }

        var frameBytes = 3 * height * width;
        var arguments = new List<string> { "-nostdin", "-v", "error", "-i", full };
        if (maxFrames < int.MaxValue)
        {
            arguments.AddRange(["-frames:v", maxFrames.ToString(CultureInfo.InvariantCulture)]);
        }
        arguments.AddRange(["-vf", $"scale={width}:{height}:flags=bilinear", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]);
        using var ffmpeg = Ffmpeg.Start(arguments, writeInput: false);
        var errors = ffmpeg.StandardError.ReadToEndAsync();
        var frames = new List<byte[]>();
        var interleaved = new byte[frameBytes];
        var output = ffmpeg.StandardOutput.BaseStream;
        while (frames.Count < maxFrames && ReadFrame(output, interleaved))
        {
            var planar = new byte[frameBytes];
            DecodedFrames.ToPlanar(interleaved, 3, planar);
            frames.Add(planar);
        }
        output.CopyTo(Stream.Null);
        Ffmpeg.Finish(ffmpeg, errors, $"video:{path}");
        if (frames.Count == 0)
        {
            throw new InvalidDataException($"video:{path}: ffmpeg decoded no frame");
        }

        var labels = ReadLabels(full, frames.Count, classNames);
        var pixels = new byte[checked(frameBytes * frames.Count)];
        for (var i = 0; i < frames.Count; i++)
        {
            frames[i].CopyTo(pixels, i * frameBytes);
        }
        var labelled = labels.Count(l => l >= 0);
        return new DecodedFrames(pixels, labels, height, width, classNames,
            $"video:{path} ({frames.Count} frames, {labelled} labelled, decoded at {width}×{height})");
    }

    private static bool ReadFrame(Stream output, byte[] frame)
    {
        var filled = 0;
        while (filled < frame.Length)
        {
            var read = output.Read(frame, filled, frame.Length - filled);
            if (read == 0)
            {
                return false;
            }
            filled += read;
        }
        return true;
    }

    /// <summary>Labels from <c>FILE.labels</c> beside <paramref name="videoPath"/> (all -1 without one).</summary>
    internal static int[] ReadLabels(string videoPath, int frames, IReadOnlyList<string> classNames)
    {
        var labels = new int[frames];
        var labelPath = LabelPath(videoPath);
        if (!File.Exists(labelPath) || classNames.Count == 0) // no classes to name: label-free calibration ignores the file
        {
            Array.Fill(labels, -1);
            return labels;
        }
        var lines = File.ReadAllLines(labelPath);
        if (lines.Length < frames)
        {
            throw new InvalidDataException($"{labelPath}: {lines.Length} labels for {frames} decoded frames; give one line per frame ('-' for unlabelled)");
        }
        for (var i = 0; i < frames; i++)
        {
            var line = lines[i].Trim();
            labels[i] = line == "-" ? -1 : DecodedFrames.LabelOf(line, classNames);
            if (labels[i] < 0 && line != "-")
            {
                throw new InvalidDataException(
                    $"{labelPath}, line {i + 1}: '{line}' is none of the model's classes ({string.Join(", ", classNames)}) nor a label number; use '-' for unlabelled");
            }
        }
        return labels;
    }
}
