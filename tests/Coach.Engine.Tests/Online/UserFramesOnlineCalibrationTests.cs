using Coach.Engine.Data;
using Coach.Engine.Data.Media;
using Coach.Engine.Online;
using Coach.Engine.Onnx.Proto;
using Coach.Engine.Splitting;
using Coach.Native.OnnxRuntime;
using Google.Protobuf;
using SkiaSharp;

namespace Coach.Engine.Tests.Online;

/// <summary>
/// <c>coach calibrate-online --data images:DIR</c> without the command line: the bundled model's split, calibrated on JPEG
/// files decoded at its input size and labelled by its own top-1 (label-free), through ONNX Runtime.
/// </summary>
public sealed class UserFramesOnlineCalibrationTests : IDisposable
{
    private const string Cut = "/blocks/blocks.0/Add_output_0";
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"coach-userframes-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public void JpegFramesLabelledByTheFullModelCalibrateTheSchedulerOfTheBundledModelsPlan()
    {
        string images = Path.Combine(_root, "images");
        MediaExport.WriteImages(BundledData.Load(DataSplit.Calibration), 60, images, SKEncodedImageFormat.Jpeg, 90);
        string plan = WritePlan(withModelPath: true);
        var notes = new List<string>();

        var frames = OnlineCalibrationSession.UserFrames(plan, "images:" + images, null, 0, adaptiveBitsOnly: false, notes.Add);

        Assert.Equal(60, frames.Count);
        Assert.Contains("label-free", frames.Source);
        Assert.All(Enumerable.Range(0, frames.Count), i => Assert.InRange(frames.Label(i), 0, 9));
        Assert.Contains(notes, n => n.Contains("labelled by the top-1", StringComparison.Ordinal));

        var result = OnlineCalibrationSession.Run(plan, frames, new OnlineEvaluationOptions { StreamCalibrationFrames = 300, MinBits = 4 });

        Assert.True(File.Exists(Path.Combine(plan, SchedulerState.FileName)));
        SchedulerState state = SchedulerState.TryLoad(plan)!;
        Assert.Equal(SchedulerState.SemanticCacheMode, state.Mode);
        Assert.Equal(10, state.LabelCount);
        Assert.Contains("label-free", state.CalibrationSource);
        Assert.Equal(1.0, result.State.Calibration.FullAccuracy); // the labels are the full model's own answers
        Assert.Equal(3, state.Calibration.StreamLevels.Count);
    }

    [Fact]
    public void AVideoWhoseLabelFileNamesOtherClassesIsStillLabelledByTheFullModel()
    {
        // The bundled video's label file names Fashion-MNIST classes by name; the labels are the full model's anyway, so a
        // label file naming classes the model's names do not (a user's own video) must not stop the decoding.
        string video = Path.Combine(_root, "clip.mp4");
        MediaExport.WriteVideo(BundledData.Load(DataSplit.Calibration), 24, video, crf: 23, framesPerSecond: 30, "yuv420p");
        Assert.Contains(File.ReadAllLines(VideoFile.LabelPath(video)), line => line != "-" && !int.TryParse(line, out _));
        string plan = WritePlan(withModelPath: true);

        var frames = OnlineCalibrationSession.UserFrames(plan, "video:" + video, null, 0, adaptiveBitsOnly: false);

        Assert.Equal(24, frames.Count);
        Assert.Contains("label-free", frames.Source);
        Assert.All(Enumerable.Range(0, frames.Count), i => Assert.InRange(frames.Label(i), 0, 9));
    }

    [Fact]
    public void WithoutTheFullModelTheFramesAreRefusedNamingTheOption()
    {
        string images = Path.Combine(_root, "images");
        MediaExport.WriteImages(BundledData.Load(DataSplit.Calibration), 4, images, SKEncodedImageFormat.Jpeg, 90);
        string plan = WritePlan(withModelPath: false);

        var e = Assert.Throws<FileNotFoundException>(() => OnlineCalibrationSession.UserFrames(plan, "images:" + images, null, 0, adaptiveBitsOnly: false));
        Assert.Contains("--model FILE", e.Message);
        var bad = Assert.Throws<FormatException>(() => OnlineCalibrationSession.UserFrames(plan, "camera:0", null, 0, adaptiveBitsOnly: false));
        Assert.Contains("images:DIR or video:FILE", bad.Message);
    }

    /// <summary>resnet-fm112 split at the cut `coach plan --method coach` chooses at 10 Mbit/s, as a plan directory.</summary>
    private string WritePlan(bool withModelPath)
    {
        string dir = Path.Combine(_root, "plan");
        Directory.CreateDirectory(dir);
        string modelPath = ModelCatalog.Get("resnet-fm112").Path;
        var split = ModelSplitter.Split(ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelPath)), [Cut]);
        byte[] head = split.Head!.ToByteArray();
        File.WriteAllBytes(Path.Combine(dir, "head.onnx"), head);
        File.WriteAllBytes(Path.Combine(dir, "tail.onnx"), split.Tail!.ToByteArray());
        long[] shape;
        using (var session = InferenceSession.Open(head, new SessionSettings { Providers = [ExecutionProvider.Cpu] }, "head"))
        {
            shape = [1, .. session.Outputs[0].Shape.Skip(1)];
        }

        string model = withModelPath ? $"\"model\":{{\"name\":\"resnet-fm112\",\"path\":\"{modelPath.Replace("\\", "\\\\", StringComparison.Ordinal)}\",\"sha256\":\"\"}}," : string.Empty;
        File.WriteAllText(Path.Combine(dir, "plan.json"),
            $"{{\"id\":\"user-frames\",\"method\":\"coach\",{model}\"bandwidth_bps\":10000000,\"t_edge_ms\":2,\"t_cloud_ms\":1," +
            $"\"cut_tensors\":[{{\"name\":\"{Cut}\",\"shape\":[{string.Join(",", shape)}],\"dtype\":\"float32\",\"bits\":5,\"minimum_bits\":4}}],\"bits\":[5]," +
            "\"head\":{\"file\":\"head.onnx\",\"sha256\":\"\",\"inputs\":[\"input\"],\"outputs\":[],\"layers\":1}," +
            "\"tail\":{\"file\":\"tail.onnx\",\"sha256\":\"\",\"inputs\":[],\"outputs\":[],\"layers\":1}}");
        return dir;
    }
}
