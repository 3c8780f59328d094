using System.Globalization;
using SkiaSharp;

namespace Coach.Engine.Data.Media;

/// <summary>
/// Writes frames as real media, so that what the bundled data holds can go through the same decoders as a user's
/// data: image files in class subfolders, or an H.264 video with its <c>.labels</c> file (docs/data.md).
/// </summary>
public static class MediaExport
{
    /// <summary>Writes the first <paramref name="count"/> frames as images in class subfolders of <paramref name="directory"/>
    /// (<c>DIR/&lt;class&gt;/000123.jpg</c>); returns the bytes written.</summary>
    public static long WriteImages(FrameSet frames, int count, string directory, SKEncodedImageFormat format, int quality)
    {
        ArgumentNullException.ThrowIfNull(frames);
        CheckCount(frames, count);
        var extension = format switch
        {
            SKEncodedImageFormat.Jpeg => ".jpg",
            SKEncodedImageFormat.Png => ".png",
            SKEncodedImageFormat.Webp => ".webp",
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, "write JPEG, PNG or WebP"),
        };
        foreach (var name in frames.ClassNames)
        {
            Directory.CreateDirectory(Path.Combine(directory, DecodedFrames.FolderName(name)));
        }
        long bytes = 0;
        Parallel.For(0, count, () => 0L, (i, _, total) =>
        {
            var planar = new byte[FrameRenderer.PixelCount];
            frames.RenderFrame(i, planar.AsSpan());
            var path = Path.Combine(directory, DecodedFrames.FolderName(frames.ClassNames[frames.Label(i)]),
                i.ToString("D6", CultureInfo.InvariantCulture) + extension);
            ImageFolder.Encode(planar, FrameRenderer.Size, FrameRenderer.Size, format, quality, path);
            return total + new FileInfo(path).Length;
        }, total => Interlocked.Add(ref bytes, total));
        return bytes;
    }

    /// <summary>Writes the first <paramref name="count"/> frames as an H.264 video (libx264, constant rate factor
    /// <paramref name="crf"/>, chroma <paramref name="pixelFormat"/>, more x264 options such as
    /// <c>-preset ultrafast -tune zerolatency</c>) and its label file; returns the video's bytes.</summary>
    public static long WriteVideo(FrameSet frames, int count, string path, int crf, int framesPerSecond, string pixelFormat,
        IReadOnlyList<string>? encoderOptions = null)
    {
        ArgumentNullException.ThrowIfNull(frames);
        CheckCount(frames, count);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var size = FrameRenderer.Size;
        using (var ffmpeg = Ffmpeg.Start(
        [
            "-nostdin", "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", $"{size}x{size}",
            "-r", framesPerSecond.ToString(CultureInfo.InvariantCulture), "-i", "-",
            "-c:v", "libx264", "-crf", crf.ToString(CultureInfo.InvariantCulture), "-pix_fmt", pixelFormat,
            .. encoderOptions ?? [], full,
        ], writeInput: true))
        {
            var errors = ffmpeg.StandardError.ReadToEndAsync();
            var planar = new byte[FrameRenderer.PixelCount];
            var interleaved = new byte[FrameRenderer.PixelCount];
            var pixels = size * size;
            try
            {
                for (var i = 0; i < count; i++)
                {
                    frames.RenderFrame(i, planar.AsSpan());
                    for (var p = 0; p < pixels; p++)
                    {
                        interleaved[3 * p] = planar[p];
                        interleaved[(3 * p) + 1] = planar[pixels + p];
                        interleaved[(3 * p) + 2] = planar[(2 * pixels) + p];
                    }
                    ffmpeg.StandardInput.BaseStream.Write(interleaved);
                }
                ffmpeg.StandardInput.Close();
            }
            catch (IOException)
            {
                // ffmpeg stopped reading: its own message says why (Finish throws it).
            }
            Ffmpeg.Finish(ffmpeg, errors, $"writing {full}");
        }
        File.WriteAllLines(VideoFile.LabelPath(full),
            Enumerable.Range(0, count).Select(i => DecodedFrames.FolderName(frames.ClassNames[frames.Label(i)])));
        return new FileInfo(full).Length;
    }

    private static void CheckCount(FrameSet frames, int count)
    {
        if (count < 1 || count > frames.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"{frames.Source} holds {frames.Count} frames; export 1 to {frames.Count}");
        }
    }
}
