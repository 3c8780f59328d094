using Coach.Engine.DataPlane;
using Coach.Engine.Planning;

namespace Coach.Engine.Tests.Planning;

/// <summary>The cloud-jpeg plan's byte model (<see cref="InputCodecModel"/>, docs/baselines.md): the frame at the codec's
/// measured bytes, its encode time in T_t (eq. 2), and plan.json's <c>input_codec</c>.</summary>
public class InputCodecTests
{
    private static PlanningProblem Chain(InputCodecModel? codec) => new(
        ["L0", "L1"], [2e-3, 2e-3], [1e-4, 1e-4],
        [
            new PlanTensor("frame", -1, [0], 3 * 112 * 112, 1, [1, 3, 112, 112]),
            new PlanTensor("a", 0, [1], 64 * 28 * 28, 1, [1, 64, 28, 28]),
            new PlanTensor("logits", 1, [], 10, 1, [1, 10]),
        ],
        new CostSettings { BandwidthBitsPerSecond = 10e6, FrameOverheadSeconds = 5e-4, InputCodec = codec });

    private static InputCodecModel Jpeg(double bytes, double encodeSeconds) => new("jpeg", 60, bytes, encodeSeconds, 0.92, 0.921, 500);

    [Fact]
    public void TheFrameCostsTheMeasuredBytesAndTheEncodeTime()
    {
        var raw = Chain(null);
        var jpeg = Chain(Jpeg(1434.5, 0.9e-3));
        double header = FrameBytes.TensorHeaderBytes(4);
        Assert.Equal(header + 1434.5, PipelineCostModel.TensorBytes(jpeg, 0, 8), 9);
        // Whatever the bits a planner asks for: the codec's quality, not UAQ, sets the frame's size.
        Assert.Equal(PipelineCostModel.TensorBytes(jpeg, 0, 8), PipelineCostModel.TensorBytes(jpeg, 0, 32));
        Assert.Equal(((header + 1434.5) * 8 / 10e6) + 0.9e-3, PipelineCostModel.TensorSeconds(jpeg, 0, 8), 12);
        // A layer's output keeps its UAQ size; only the model input goes through the codec.
        Assert.Equal(PipelineCostModel.TensorBytes(raw, 1, 4), PipelineCostModel.TensorBytes(jpeg, 1, 4));

        var plan = new CloudOnlyPlanner("cloud-jpeg").Plan(jpeg, new FixedBits(32));
        Assert.Equal("cloud-jpeg", plan.Method);
        Assert.Equal(0, plan.EdgeLayerCount);
        double expected = PipelineCostModel.FrameSeconds(jpeg) + PipelineCostModel.TensorSeconds(jpeg, 0, 32);
        Assert.Equal(expected, plan.Cost.TransmissionSeconds, 12);
        var rawPlan = new CloudOnlyPlanner().Plan(raw, new FixedBits(32));
        Assert.True(plan.Cost.TransmissionSeconds < rawPlan.Cost.TransmissionSeconds / 5,
            $"JPEG T_t {plan.Cost.TransmissionSeconds * 1e3:F3} ms, 8-bit frame {rawPlan.Cost.TransmissionSeconds * 1e3:F3} ms");
    }

    [Fact]
    public void ASlowEncoderLowersTheThroughput()
    {
        var fast = new CloudOnlyPlanner("cloud-jpeg").Plan(Chain(Jpeg(1500, 0.1e-3)), new FixedBits(32));
        var slow = new CloudOnlyPlanner("cloud-jpeg").Plan(Chain(Jpeg(1500, 5e-3)), new FixedBits(32));
        Assert.Equal(4.9e-3, slow.Cost.TransmissionSeconds - fast.Cost.TransmissionSeconds, 9);
        Assert.True(slow.Cost.ThroughputPerSecond < fast.Cost.ThroughputPerSecond);
    }

    [Fact]
    public void PlanJsonRecordsTheCodecAndWhatItsCalibrationMeasured()
    {
        var problem = Chain(Jpeg(1434.5, 0.9e-3));
        var plan = new CloudOnlyPlanner("cloud-jpeg").Plan(problem, new FixedBits(32));
        var document = PlanWriter.Describe(null, problem, plan, new PlanContext("chain", null, null, null, 1, 0.005));
        Assert.Equal(new PlanInputCodec("jpeg", 60, 1434.5, 0.9, 0.92, 0.921, 500), document.InputCodec! with { EncodeMs = Math.Round(document.InputCodec!.EncodeMs, 9) });
        Assert.Equal((long)PipelineCostModel.TensorBytes(problem, 0, 8), document.CutTensors[0].Bytes);
        Assert.Contains("\"input_codec\"", document.ToJson());
        Assert.DoesNotContain("input_codec", PlanWriter.Describe(null, Chain(null), new CloudOnlyPlanner().Plan(Chain(null), new FixedBits(32)), new PlanContext("chain", null, null, null, 1, 0.005)).ToJson());
    }

    [Fact]
    public void AnInputCodecOtherThanJpegOrH264IsRefused()
    {
        Assert.Throws<ArgumentException>(() => new InputCodecModel("png", 60, 1000, 0, 1, 1, 10).Validated());
        Assert.Throws<ArgumentException>(() => Jpeg(0, 0).Validated());
        // x264's rate factor is 0 … 51; 0 (lossless) is a valid one, unlike JPEG quality 0.
        Assert.NotNull(new InputCodecModel("h264", 0, 900, 1e-3, 0.92, 0.92, 500).Validated());
        Assert.Throws<ArgumentException>(() => new InputCodecModel("h264", 52, 900, 1e-3, 0.92, 0.92, 500).Validated());
        Assert.Throws<ArgumentException>(() => new InputCodecModel("jpeg", 0, 900, 1e-3, 0.92, 0.92, 500).Validated());
    }

    [Fact]
    public void TheCloudH264PlanPricesTheFrameAtTheStreamsMeanBytesAndRecordsItsRateFactor()
    {
        // An H.264 stream's mean access unit (IDR frames and P frames together) and the edge's encode time a frame.
        var codec = new InputCodecModel("h264", 30, 612.25, 1.2e-3, 0.915, 0.92, 1000).Validated();
        var problem = Chain(codec);
        double header = FrameBytes.TensorHeaderBytes(4);
        Assert.Equal(header + 612.25, PipelineCostModel.TensorBytes(problem, 0, 8), 9);
        Assert.Equal(((header + 612.25) * 8 / 10e6) + 1.2e-3, PipelineCostModel.TensorSeconds(problem, 0, 8), 12);

        var plan = Planners.Create("cloud-h264").Plan(problem, new FixedBits(32));
        Assert.Equal("cloud-h264", plan.Method);
        Assert.Equal(0, plan.EdgeLayerCount);
        Assert.Equal(PipelineCostModel.FrameSeconds(problem) + PipelineCostModel.TensorSeconds(problem, 0, 32), plan.Cost.TransmissionSeconds, 12);
        var jpeg = new CloudOnlyPlanner("cloud-jpeg").Plan(Chain(Jpeg(1434.5, 0.9e-3)), new FixedBits(32));
        Assert.True(plan.Cost.TransmissionSeconds < jpeg.Cost.TransmissionSeconds);

        var document = PlanWriter.Describe(null, problem, plan, new PlanContext("chain", null, null, null, 1, 0.005));
        Assert.Equal(new PlanInputCodec("h264", 30, 612.25, 1.2, 0.915, 0.92, 1000), document.InputCodec! with { EncodeMs = Math.Round(document.InputCodec!.EncodeMs, 9) });
        string json = document.ToJson();
        Assert.Contains("\"codec\": \"h264\"", json);
        // plan.json round-trips, and a rate factor out of x264's range is refused when read.
        string file = Path.Combine(Path.GetTempPath(), $"coach-h264-plan-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(file, json);
            Assert.Equal(30, PlanDocument.Load(file).InputCodec!.Quality);
            File.WriteAllText(file, json.Replace("\"quality\": 30", "\"quality\": 60", StringComparison.Ordinal));
            InvalidDataException e = Assert.Throws<InvalidDataException>(() => PlanDocument.Load(file));
            Assert.Contains("rate factor 0 … 51", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
