using Coach.Engine.Data;
using Coach.Engine.Data.Media;

namespace Coach.Engine.Tests.Data;

public sealed class InputContractTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"coach-contract-{Guid.NewGuid():N}");

    public InputContractTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static readonly Dictionary<string, string> NoMetadata = [];

    [Fact]
    public void ABundledModelWithoutACardKeepsValueOver255()
    {
        var contract = InputContract.ForModel(ModelCatalog.Get("resnet-fm112").Path);

        Assert.True(contract.IsDefault);
        Assert.True(contract.IsDefaultPreprocessing);
        Assert.Equal((112, 112), (contract.Height, contract.Width));
        Assert.Null(contract.ClassNames);
    }

    [Fact]
    public void ModelsAddWritesACardThatFramesAreNormalisedBy()
    {
        var model = CopyModel();
        var labels = Path.Combine(_folder, "classes.txt");
        File.WriteAllLines(labels, FrameSet.FashionMnistClasses);

        var (cardPath, contract) = ModelRegistration.Add(model, new ModelCardRequest(Mean: "0.485,0.456,0.406", Std: "0.229,0.224,0.225", ChannelOrder: "bgr", LabelsPath: labels));

        Assert.Equal(Path.Combine(_folder, "model.card.json"), cardPath);
        var read = InputContract.ForModel(model);
        Assert.Equal(ChannelOrder.Bgr, read.ChannelOrder);
        Assert.Equal(InputContract.ImageNetStd, read.Std);
        Assert.Equal(FrameSet.FashionMnistClasses, read.ClassNames);
        Assert.Contains(cardPath, contract.Origin);

        // One pixel value per channel: the model input of channel c is (v_source(c)/255 − mean[c]) / std[c], BGR order.
        byte[] rgb = [10, 200, 90];
        var pixels = new byte[3 * 112 * 112];
        for (var c = 0; c < 3; c++)
        {
            pixels.AsSpan(c * 112 * 112, 112 * 112).Fill(rgb[c]);
        }
        var frames = new DecodedFrames(pixels, [-1], 112, 112, read.ClassNames!, "one frame").WithContract(read, read.ClassNames!);
        var input = new float[3 * 112 * 112];
        frames.RenderFrame(0, input);
        for (var c = 0; c < 3; c++)
        {
            var expected = ((rgb[2 - c] / 255f) - InputContract.ImageNetMean[c]) / InputContract.ImageNetStd[c];
            Assert.InRange(input[(c * 112 * 112) + 999], expected - 1e-5f, expected + 1e-5f);
        }
    }

    [Theory]
    [InlineData("--mean", "1,2", "three numbers")]
    [InlineData("--std", "0.2,0,0.2", "positive")]
    [InlineData("--channel-order", "gbr", "rgb or bgr")]
    [InlineData("--scale", "128", "255")]
    [InlineData("--input-size", "224", "HxW")]
    public void BadOptionsAreRefusedNamingTheOption(string option, string value, string hint)
    {
        var request = option switch
        {
            "--mean" => new ModelCardRequest(Mean: value),
            "--std" => new ModelCardRequest(Std: value),
            "--channel-order" => new ModelCardRequest(ChannelOrder: value),
            "--scale" => new ModelCardRequest(Scale: value),
            _ => new ModelCardRequest(InputSize: value),
        };

        var error = Assert.Throws<ArgumentException>(() => ModelRegistration.Add(CopyModel(), request));

        Assert.Contains($"{option} {value}", error.Message);
        Assert.Contains(hint, error.Message);
    }

    [Fact]
    public void LabelsThatDoNotMatchTheOutputAreRefused()
    {
        var labels = Path.Combine(_folder, "five.txt");
        File.WriteAllLines(labels, FrameSet.FashionMnistClasses.Take(5));

        var error = Assert.Throws<InvalidDataException>(() => ModelRegistration.Add(CopyModel(), new ModelCardRequest(LabelsPath: labels)));

        Assert.Contains("10 classes", error.Message);
        Assert.Contains("lists 5", error.Message);
    }

    [Fact]
    public void ChannelsLastIsRefusedWithWhatToDo()
    {
        var error = Assert.Throws<InvalidDataException>(() => InputContract.Resolve("m.onnx", "x", [1, 224, 224, 3], NoMetadata, null, null));
        Assert.Contains("NHWC", error.Message);
        Assert.Contains("--inputs-as-nchw", error.Message);
    }

    [Fact]
    public void ADynamicSizeNeedsTheCardOrInputSize()
    {
        var error = Assert.Throws<InvalidDataException>(() => InputContract.Resolve("m.onnx", "x", [-1, 3, -1, -1], NoMetadata, null, null));
        Assert.Contains("--input-size", error.Message);

        var fixedByCard = InputContract.Resolve("m.onnx", "x", [-1, 3, -1, -1], NoMetadata, new ModelCard { InputSize = [3, 160, 192] }, "m.card.json");
        Assert.Equal((160, 192), (fixedByCard.Height, fixedByCard.Width));
    }

    [Fact]
    public void OnnxImageMetadataIsReadAndTheCardHasTheLastWord()
    {
        var metadata = new Dictionary<string, string> { ["Image.BitmapPixelFormat"] = "Bgr8", ["Image.NominalPixelRange"] = "NominalRange_0_255" };

        var fromMetadata = InputContract.Resolve("m.onnx", "x", [1, 3, 64, 64], metadata, null, null);
        var overridden = InputContract.Resolve("m.onnx", "x", [1, 3, 64, 64], metadata, new ModelCard { ChannelOrder = "rgb" }, "m.card.json");

        Assert.Equal((ChannelOrder.Bgr, 1f), (fromMetadata.ChannelOrder, fromMetadata.ScaleDivisor));
        Assert.False(fromMetadata.IsDefault);
        Assert.Equal((ChannelOrder.Rgb, 1f), (overridden.ChannelOrder, overridden.ScaleDivisor));
    }

    [Fact]
    public void ABadCardFileIsRefusedNamingTheFileAndTheField()
    {
        var model = CopyModel();
        var card = ModelCard.PathFor(model);

        File.WriteAllText(card, """{"schema": "coach.card/1", "channelorder": "bgr"}""");
        var unknown = Assert.Throws<InvalidDataException>(() => InputContract.ForModel(model));
        Assert.Contains(card, unknown.Message);
        Assert.Contains("channelorder", unknown.Message);

        File.WriteAllText(card, """{"schema": "coach.card/1", "std": [0.2, 0, 0.2]}""");
        var std = Assert.Throws<InvalidDataException>(() => InputContract.ForModel(model));
        Assert.Contains("std", std.Message);
        Assert.Contains("positive", std.Message);
    }

    private string CopyModel()
    {
        var path = Path.Combine(_folder, "model.onnx");
        if (!File.Exists(path))
        {
            File.Copy(ModelCatalog.Get("resnet-fm112").Path, path);
        }
        return path;
    }
}
