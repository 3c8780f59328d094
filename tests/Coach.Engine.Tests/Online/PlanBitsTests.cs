using Coach.Engine.Online;
using Coach.Engine.Planning;

namespace Coach.Engine.Tests.Online;

public class PlanBitsTests
{
    private static PlanDocument Plan(params (int Bits, int Minimum)[] tensors) => new()
    {
        Id = "test",
        Method = "coach",
        Model = new PlanModel("m", null, "00"),
        ModelSha256 = "00",
        CutTensors = [.. tensors.Select((t, i) => new PlanCutTensor($"t{i}", [1, 16, 28, 28], "float32", 1, t.Bits, t.Minimum, 0, null))],
        Bits = [.. tensors.Select(t => t.Bits)],
        EdgeLayers = [],
        Bottleneck = "edge",
    };

    [Fact]
    public void QrIsTheCalibratedFloorNotTheBitsEquationElevenAddedOffline()
    {
        // Planned at 20 Mbit/s: 3 bits are safe, eq. 11 raised them to 5 to fill the link. When the link halves the
        // online component must be able to go back to 3 without an S_adj threshold.
        Assert.Equal(3, PlanOnlineCalibration.PlanBits(Plan((5, 3))));
        Assert.Equal(4, PlanOnlineCalibration.PlanBits(Plan((5, 3), (6, 4))));
        Assert.Equal(5, PlanOnlineCalibration.PlanBits(Plan((5, 5))));
    }

    [Fact]
    public void RawTensorsCountAsEightBitsAndOlderPlansWithoutAFloorKeepTheirBits()
    {
        Assert.Equal(8, PlanOnlineCalibration.PlanBits(Plan((32, 32))));
        Assert.Equal(6, PlanOnlineCalibration.PlanBits(Plan((6, 0))));
    }

    [Fact]
    public void ARawTensorIsLoweredToItsCalibratedMinimumAndWithoutOneKeepsEightBits()
    {
        // Eq. 11 offline sent the cut raw (32) though 4 bits are safe: the online scheduler may go down to 4.
        Assert.Equal(4, PlanOnlineCalibration.PlanBits(Plan((32, 4))));
        // The scheduler's bits reach the raw tensor too, so its floor counts: 8 without a calibrated minimum.
        Assert.Equal(8, PlanOnlineCalibration.PlanBits(Plan((5, 3), (32, 32))));
        Assert.Equal(5, PlanOnlineCalibration.PlanBits(Plan((5, 3), (32, 5))));
    }
}
