using Coach.Engine.Calibration;
using Coach.Engine.DataPlane;
using Coach.Engine.Online;
using Coach.Engine.Planning;

namespace Coach.Engine.Tests.Online;

/// <summary>The online scheduler's byte model of a coded plan is the planner's (docs/entropy.md).</summary>
public class CodedTransferCostTests
{
    [Fact]
    public void ACodedPlansFrameBytesAndTimeAreThePlannersForEveryWidth()
    {
        double[] ratios = [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5];
        var problem = new PlanningProblem(["L0", "L1"], [1e-3, 1e-3], [1e-4, 1e-4],
            [
                new PlanTensor("frame", -1, [0], 3 * 32 * 32, 1, [1, 3, 32, 32]),
                new PlanTensor("a", 0, [1], 16 * 32 * 32, 1, [1, 16, 32, 32]),
                new PlanTensor("logits", 1, [], 10, 1, [1, 10]),
            ],
            new CostSettings { BandwidthBitsPerSecond = 10e6, FrameOverheadSeconds = 0, Coding = new WireCodingModel(new Dictionary<string, double[]> { ["a"] = ratios }, 5e-9) });
        var online = new TransferCostModel(1e-3, 1e-4, [16 * 32 * 32], [4], 0, [ratios], 5e-9);
        var plain = new TransferCostModel(1e-3, 1e-4, [16 * 32 * 32], [4], 0);
        for (int bits = 2; bits <= 8; bits++)
        {
            double planned = PipelineCostModel.TransmissionSeconds(problem, [1], [bits]);
            Assert.Equal(planned, online.TransmissionSeconds(bits, 10e6 / 8), 7);
            Assert.True(online.FrameBytes(bits) < plain.FrameBytes(bits));
            Assert.Equal(Math.Ceiling(plain.FrameBytes(bits) - FrameBytes.PayloadBytes(16 * 32 * 32, bits) + (FrameBytes.PayloadBytes(16 * 32 * 32, bits) * ratios[bits - 2])), online.FrameBytes(bits));
        }
        // Raw float32 is never coded.
        Assert.Equal(plain.FrameBytes(32), online.FrameBytes(32));
    }

    [Fact]
    public void RatiosOfTheWrongShapeAreRefused()
    {
        Assert.Throws<ArgumentException>(() => new TransferCostModel(1e-3, 1e-4, [100, 200], [2, 2], 0, [[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]]));
        Assert.Throws<ArgumentException>(() => new TransferCostModel(1e-3, 1e-4, [100], [2], 0, [[0.5]]));
    }
}
