using Coach.Transport.Protocol;

namespace Coach.Transport.Tests;

public sealed class FuzzTests
{
    [Fact]
    public void FiftyThousandMutatedFramesOnlyEverRaiseProtocolViolations()
    {
        // COACH_FUZZ_CASES=1000000 runs the long mode.
        long cases = long.TryParse(Environment.GetEnvironmentVariable("COACH_FUZZ_CASES"), out long n) && n > 0 ? n : 50_000;
        FuzzReport report = ProtocolFuzzer.RunInMemory(cases, seed: 20240607);
        Assert.True(report.Clean, string.Join('\n', report.Failures));
        Assert.Equal(cases, report.Rejected + report.Accepted);
        Assert.True(report.Rejected > cases / 2, $"only {report.Rejected} of {cases} mutations were refused: the mutator is too gentle");
        Assert.True(report.Accepted > 0, "no mutation survived the checksums: the CRC fix-up does not reach the payload parsers");
        Assert.InRange(report.MaxAllocatedBytes, 0, ProtocolFuzzer.AllocationBound(WireLimits.Default));
    }

    [Fact]
    public void EverySeedFrameParsesBeforeMutation()
    {
        var state = new ProtocolFuzzer.ParseState(WireLimits.Default);
        foreach (byte[] frame in ProtocolFuzzer.SeedFrames())
        {
            Assert.Equal(1, ProtocolFuzzer.ParseStream(new System.Buffers.ReadOnlySequence<byte>(frame), state));
        }
    }
}
