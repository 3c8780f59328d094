using System.Buffers.Binary;
using System.IO.Compression;
using Coach.Engine.Data;
using Coach.Engine.Data.Media;

namespace Coach.Engine.Tests.Data.Media;

public sealed class TensorFileTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"coach-tensors-{Guid.NewGuid():N}");

    public TensorFileTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static readonly InputContract Model = InputContract.Default(32, 24) with
    {
        Mean = InputContract.ImageNetMean, Std = InputContract.ImageNetStd, ChannelOrder = ChannelOrder.Bgr, Origin = "test card",
    };

    [Fact]
    public void Uint8ChannelsLastFramesGoThroughTheContract()
    {
        var pixels = new byte[3 * 50 * 70 * 3];
        new Random(3).NextBytes(pixels);
        var path = WriteNpy("frames.npy", "|u1", [3, 50, 70, 3], pixels);
        File.WriteAllLines(path + ".labels", ["bag", "-", "7"]);

        var frames = MediaSource.Load("tensors:" + path, Model, FrameSet.FashionMnistClasses, out var notes);

        Assert.Empty(notes);
        Assert.Equal(3, frames.Count);
        Assert.Equal((3, 32, 24), frames.FrameShape);
        Assert.Equal([8, -1, 7], Enumerable.Range(0, 3).Select(frames.Label));
        var expected = new float[Model.FrameFloats];
        var actual = new float[Model.FrameFloats];
        new FramePreprocessor(PixelFormat.Rgb24, 50, 70, Model).Run(pixels.AsSpan(2 * 50 * 70 * 3, 50 * 70 * 3), expected);
        frames.RenderFrame(2, actual);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void LabelFreeLoadingIgnoresTheLabelFile()
    {
        var path = WriteNpy("two.npy", "|u1", [2, 3, 32, 24], new byte[2 * 3 * 32 * 24]);
        File.WriteAllLines(path + ".labels", ["bag", "coat"]);

        var frames = MediaSource.Load("tensors:" + path, Model, [], out _);

        Assert.Equal([-1, -1], Enumerable.Range(0, 2).Select(frames.Label));
    }

    [Fact]
    public void Float32FramesAreTheModelInputAsTheyAre()
    {
        var values = Enumerable.Range(0, 2 * 32 * 24 * 3).Select(i => (i % 97) * 0.25f - 3f).ToArray();
        var bytes = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        }
        var nchw = MediaSource.Load("tensors:" + WriteNpy("nchw.npy", "<f4", [2, 3, 32, 24], bytes), Model, [], out _);
        var nhwc = MediaSource.Load("tensors:" + WriteNpy("nhwc.npy", "<f4", [2, 32, 24, 3], bytes), Model, [], out _);

        var frame = new float[Model.FrameFloats];
        nchw.RenderFrame(1, frame);
        Assert.Equal(values.AsSpan(Model.FrameFloats, Model.FrameFloats).ToArray(), frame);
        nhwc.RenderFrame(1, frame);
        // Channel 2, row 5, column 7 of frame 1 sits at ((1·32 + 5)·24 + 7)·3 + 2 in the channels-last file.
        Assert.Equal(values[(((((1 * 32) + 5) * 24) + 7) * 3) + 2], frame[(2 * 32 * 24) + (5 * 24) + 7]);
        Assert.Contains("taken as the model's input", nhwc.Source);
    }

    [Fact]
    public void IdxFramesAreRead()
    {
        var pixels = new byte[2 * 3 * 32 * 24];
        new Random(9).NextBytes(pixels);
        var path = Path.Combine(_folder, "frames.idx.gz");
        using (var gzip = new GZipStream(File.Create(path), CompressionLevel.Fastest))
        {
            gzip.Write([0, 0, 8, 4]);
            foreach (var d in new[] { 2, 3, 32, 24 })
            {
                var dim = new byte[4];
                BinaryPrimitives.WriteInt32BigEndian(dim, d);
                gzip.Write(dim);
            }
            gzip.Write(pixels);
        }

        var frames = MediaSource.Load("tensors:" + path, InputContract.Default(32, 24), [], out var notes);

        var frame = new float[3 * 32 * 24];
        frames.RenderFrame(1, frame);
        Assert.Equal(pixels[(3 * 32 * 24) + 100] / 255f, frame[100]);
        Assert.Contains(notes, n => n.Contains("unlabelled"));
    }

    [Theory]
    [InlineData("<i8", "(1, 3, 32, 24)", "False", "'<i8'")]
    [InlineData("<f4", "(1, 3, 32, 24)", "True", "Fortran order")]
    [InlineData("|u1", "(4, 28, 28)", "False", "[N, 3, H, W] or [N, H, W, 3]")]
    [InlineData("<f4", "(1, 3, 16, 16)", "False", "the model takes 24×32")]
    public void WhatCannotBeFramesIsRefusedSayingWhy(string descr, string shape, string fortran, string hint)
    {
        var dims = shape.Trim('(', ')').Split(',', StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
        var size = dims.Aggregate(1, (a, d) => a * d) * (descr == "|u1" ? 1 : descr == "<i8" ? 8 : 4);
        var path = WriteNpy("bad.npy", descr, dims, new byte[size], fortran);

        var error = Assert.Throws<InvalidDataException>(() => MediaSource.Load("tensors:" + path, Model, [], out _));

        Assert.Contains("tensors:" + path, error.Message);
        Assert.Contains(hint, error.Message);
    }

    [Fact]
    public void NeitherNpyNorIdxIsRefused()
    {
        var path = Path.Combine(_folder, "notes.npy");
        File.WriteAllText(path, "just text, not an array");

        var error = Assert.Throws<InvalidDataException>(() => MediaSource.Load("tensors:" + path, Model, [], out _));

        Assert.Contains("neither an .npy file", error.Message);
    }

    /// <summary>An .npy file as numpy.save writes it (format 1.0: the header dict padded with spaces to a multiple of 64 bytes).</summary>
    private string WriteNpy(string name, string descr, int[] shape, byte[] data, string fortran = "False")
    {
        var tuple = shape.Length == 1 ? $"({shape[0]},)" : $"({string.Join(", ", shape)})";
        var header = $"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {tuple}, }}";
        var padded = header.PadRight(((10 + header.Length + 1 + 63) / 64 * 64) - 10 - 1) + "\n";
        var path = Path.Combine(_folder, name);
        using var file = File.Create(path);
        file.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
        var length = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(length, (ushort)padded.Length);
        file.Write(length);
        file.Write(System.Text.Encoding.ASCII.GetBytes(padded));
        file.Write(data);
        return path;
    }
}
