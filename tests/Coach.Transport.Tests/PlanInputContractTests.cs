using System.Buffers.Binary;
using Coach.Engine.Data;
using Coach.Engine.Data.Media;
using Coach.Transport.Edge;

namespace Coach.Transport.Tests;

/// <summary>The edge preprocesses its frames by the contract plan.json carries (written by coach plan from the model's card).</summary>
public sealed class PlanInputContractTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"coach-plan-input-{Guid.NewGuid():N}");

    public PlanInputContractTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private PlanDirectory EdgeOnlyPlan(string? input)
    {
        File.Copy(ModelCatalog.Get("resnet-fm112").Path, Path.Combine(_folder, "head.onnx"), overwrite: true);
        File.WriteAllText(Path.Combine(_folder, "plan.json"),
            $$"""{"id":"card","method":"coach","cut_tensors":[]{{(input is null ? "" : $",\"input\":{input}")}}}""");
        return PlanDirectory.Load(_folder);
    }

    [Fact]
    public void FramesGoThroughThePlansContract()
    {
        var plan = EdgeOnlyPlan("""{"input_size":[3,112,112],"channel_order":"bgr","scale":255,"mean":[0.485,0.456,0.406],"std":[0.229,0.224,0.225]}""");
        var pixels = new byte[2 * 3 * 40 * 30];
        new Random(4).NextBytes(pixels);
        var npy = WriteUint8Npy([2, 3, 40, 30], pixels);

        var source = FrameSources.Open("tensors:" + npy, plan, frames: 10, runLength: 1, seed: 1, out var notes);

        var contract = FrameSources.Contract(plan);
        Assert.Equal(ChannelOrder.Bgr, contract.ChannelOrder);
        Assert.Contains(notes, n => n.Contains("mean 0.485,0.456,0.406"));
        var expected = new float[3 * 112 * 112];
        var actual = new float[3 * 112 * 112];
        new FramePreprocessor(PixelFormat.PlanarRgb, 40, 30, contract).Run(pixels.AsSpan(3 * 40 * 30), expected);
        source.RenderFrame(1, actual);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void APlanWithoutInputKeepsValueOver255()
    {
        Assert.True(FrameSources.Contract(EdgeOnlyPlan(null)).IsDefaultPreprocessing);
    }

    [Fact]
    public void AnInputOfAnotherSizeThanTheModelIsRefused()
    {
        var plan = EdgeOnlyPlan("""{"input_size":[3,224,224]}""");

        var error = Assert.Throws<InvalidDataException>(() => FrameSources.Contract(plan));

        Assert.Contains("224×224", error.Message);
        Assert.Contains("112×112", error.Message);
        Assert.Contains("coach plan", error.Message);
    }

    private string WriteUint8Npy(int[] shape, byte[] data)
    {
        var header = $"{{'descr': '|u1', 'fortran_order': False, 'shape': ({string.Join(", ", shape)}), }}".PadRight(117) + "\n";
        var path = Path.Combine(_folder, "frames.npy");
        using var file = File.Create(path);
        file.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
        var length = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(length, (ushort)header.Length);
        file.Write(length);
        file.Write(System.Text.Encoding.ASCII.GetBytes(header));
        file.Write(data);
        return path;
    }
}
