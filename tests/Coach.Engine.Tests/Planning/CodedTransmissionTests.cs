using Coach.Engine.DataPlane;
using Coach.Engine.Planning;

namespace Coach.Engine.Tests.Planning;

/// <summary>The planner's byte model with zstd-coded cut tensors (<see cref="WireCodingModel"/>, docs/entropy.md).</summary>
public class CodedTransmissionTests
{
    /// <summary>
    /// A chain frame → L0 → a → L1 → b → L2 → logits whose frame and activations are too large for a 10 Mbit/s link raw,
    /// so without coding the edge runs everything; <c>a</c> codes to 1 % of its packed bytes.
    /// </summary>
    private static PlanningProblem Chain(WireCodingModel? coding) => new(
        ["L0", "L1", "L2"], [1e-3, 1e-3, 1e-3], [1e-4, 1e-4, 1e-4],
        [
            new PlanTensor("frame", -1, [0], 300_000, 1, [1, 3, 100, 1000]),
            new PlanTensor("a", 0, [1], 100_000, 1, [1, 100, 1000]),
            new PlanTensor("b", 1, [2], 50_000, 1, [1, 50, 1000]),
            new PlanTensor("logits", 2, [], 10, 1, [1, 10]),
        ],
        new CostSettings { BandwidthBitsPerSecond = 10e6, Coding = coding });

    private static WireCodingModel Coding(double encodeSecondsPerByte = 1e-9) => new(
        new Dictionary<string, double[]> { ["a"] = [0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01], ["b"] = [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9] },
        encodeSecondsPerByte);

    [Fact]
    public void CodedBytesAreTheDescriptorAndThePackedBytesAtTheMeasuredShare()
    {
        var plain = Chain(null);
        var coded = Chain(Coding());
        int a = 1;
        for (int bits = 2; bits <= 8; bits++)
        {
            double packed = FrameBytes.PayloadBytes(100_000, bits);
            double header = PipelineCostModel.TensorBytes(plain, a, bits) - packed;
            Assert.Equal(header + (packed * 0.01), PipelineCostModel.TensorBytes(coded, a, bits), 6);
            // The send stage codes then sends: T_t holds the coded bytes on the link and the coding of the packed bytes.
            double expected = (PipelineCostModel.TensorBytes(coded, a, bits) * 8 / 10e6) + (packed * 1e-9);
            Assert.Equal(expected, PipelineCostModel.TensorSeconds(coded, a, bits), 12);
        }
        // Raw float32, and a model input (the camera's frame, never coded), keep their sizes.
        Assert.Equal(PipelineCostModel.TensorBytes(plain, a, 32), PipelineCostModel.TensorBytes(coded, a, 32));
        Assert.Equal(PipelineCostModel.TensorBytes(plain, 0, 8), PipelineCostModel.TensorBytes(coded, 0, 8));
    }

    [Fact]
    public void CodingThatMakesACutCheapMovesCoachsCutThere()
    {
        var bits = new FixedBits(8);
        var plain = new CoachPlanner().Plan(Chain(null), bits);
        Assert.Empty(plain.CutTensors); // raw, every cut costs more link time than the edge's 3 ms
        var coded = new CoachPlanner().Plan(Chain(Coding()), bits);
        Assert.Equal([1], coded.CutTensors);
        Assert.True(coded.Cost.ThroughputPerSecond > 1.5 * plain.Cost.ThroughputPerSecond,
            $"coded {coded.Cost.ThroughputPerSecond:F0} fps, plain {plain.Cost.ThroughputPerSecond:F0}");
    }

    [Fact]
    public void ASlowCoderCostsMoreThanItSavesAndTheCutStaysOnTheEdge()
    {
        // 100 ns a packed byte: coding a's 100 kB takes 10 ms, more than the edge runs the whole model in.
        var coded = new CoachPlanner().Plan(Chain(Coding(encodeSecondsPerByte: 100e-9)), new FixedBits(8));
        Assert.Empty(coded.CutTensors);
    }

    [Fact]
    public void PlanJsonSaysTheTensorsGoCodedAndGivesTheirCodedBytes()
    {
        var problem = Chain(Coding());
        var plan = new CoachPlanner().Plan(problem, new FixedBits(8));
        var document = PlanWriter.Describe(null, problem, plan, new PlanContext("chain", null, null, null, 1, 0.005));
        Assert.Equal("zstd", document.WireCoding);
        Assert.Equal((long)PipelineCostModel.TensorBytes(problem, 1, 8), document.CutTensors[0].Bytes);
        Assert.Null(PlanWriter.Describe(null, Chain(null), PartitionPlan.ForPartition("ns", Chain(null), [true, false, false], 8), new PlanContext("chain", null, null, null, 1, 0.005)).WireCoding);
    }
}
