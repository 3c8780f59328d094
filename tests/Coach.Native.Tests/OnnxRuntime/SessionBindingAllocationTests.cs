using Coach.Native.OnnxRuntime;

namespace Coach.Native.Tests.OnnxRuntime;

public sealed class SessionBindingAllocationTests
{
    [Fact]
    public void SteadyStateBoundRunAllocatesNoManagedMemory()
    {
        const string caseName = "test_conv_with_strides_padding";
        using var session = InferenceSession.Open(OnnxTestData.Model(caseName), new SessionSettings { IntraOpThreads = 1 });
        var inputs = OnnxTestData.Inputs(session, caseName);
        var expected = OnnxTestData.ReadTensors(caseName, "output")[0];
        using var x = PinnedTensor.CopyOf(inputs[0].Tensor);
        using var w = PinnedTensor.CopyOf(inputs[1].Tensor);
        using var y = PinnedTensor.Create(expected.ElementType, expected.Shape);
        using var binding = session.Bind([(inputs[0].Name, x), (inputs[1].Name, w)], [(session.Outputs[0].Name, y)]);
        for (var i = 0; i < 20; i++)
        {
            binding.Run(); // warm-up: ORT's memory patterns, tiered JIT
        }

        const int runs = 200;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < runs; i++)
        {
            binding.Run();
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        OnnxTestData.AssertClose(expected, y.ToDense(), "conv after 220 bound runs");
    }
}
