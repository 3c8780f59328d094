using System.Diagnostics;

namespace Coach.Transport.Tests;

/// <summary>Timing tests run alone: on a 2-core machine a parallel socket test makes timers oversleep.</summary>
[CollectionDefinition(nameof(TimingCollection), DisableParallelization = true)]
public sealed class TimingCollection
{
}

[Collection(nameof(TimingCollection))]
public class LinkShaperTests
{
    [Theory]
    [InlineData("20mbit", 20e6)]
    [InlineData("500kbit", 500e3)]
    [InlineData("1gbit", 1e9)]
    [InlineData("64000bit", 64000)]
    [InlineData("2.5Mbit/s", 2.5e6)]
    public void RatesAreParsedTheWayTcWritesThem(string text, double expected) =>
        Assert.Equal(expected, LinkShaper.ParseRate(text), 6);

    [Theory]
    [InlineData("20mbps")]
    [InlineData("fast")]
    [InlineData("-3mbit")]
    public void AmbiguousOrInvalidRatesAreRefused(string text) =>
        Assert.Throws<FormatException>(() => LinkShaper.ParseRate(text));

    [Fact]
    public async Task TheLongRunRateIsTheConfiguredRateAndCanBeChangedLive()
    {
        // 8 Mbit/s = 1 MB/s: 300 KB take ~0.3 s (less the 16 KiB burst).
        var shaper = new LinkShaper(8e6);
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < 300; i++)
        {
            await shaper.AcquireAsync(1000);
        }

        double seconds = clock.Elapsed.TotalSeconds;
        Assert.InRange(seconds, 0.26, 1.5); // never faster than the rate; slower only when the machine is loaded

        shaper.BitsPerSecond = 32e6; // 4 MB/s: the same bytes now take ~0.075 s
        clock.Restart();
        for (int i = 0; i < 300; i++)
        {
            await shaper.AcquireAsync(1000);
        }

        Assert.True(clock.Elapsed.TotalSeconds < seconds / 2, $"after raising the rate 300 KB took {clock.Elapsed.TotalSeconds:0.000} s, before {seconds:0.000} s");
        Assert.Equal(600_000, shaper.BytesPassed);
    }
}
