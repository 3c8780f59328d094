using Coach.Engine.Online;

namespace Coach.Engine.Tests.Online;

/// <summary>Eq. 11 takes T_c as the plan's tail time plus the queueing the cloud reports (docs/fleet.md §7).</summary>
public sealed class CloudQueueInEq11Tests
{
    [Fact]
    public void AReportedQueueWidensTheBubbleTheBitsMayFill()
    {
        var cache = new SemanticCache(2, 2);
        cache.Update(0, [1f, 0f]);
        cache.Update(1, [0f, 1f]);
        // 100,000 values over 1 MB/s: 25 ms at 2 bits, 100 ms at 8, against 1 ms stages: link-bound, so Q_c = Q_r.
        var scheduler = new OnlineScheduler(cache, new SchedulerCalibration { PlanBits = 2, MaxBits = 8 },
            new TransferCostModel(0.001, 0.001, [100_000], [2]), new BandwidthEstimator(8, 1e6));
        float[] feature = [0.6f, 0.4f];
        Assert.Equal(2, scheduler.Decide(feature).Bits);
        Assert.Equal(0.001, scheduler.LiveCloudSeconds, 9);

        // The cloud queues each request a second: the cloud stage is the bottleneck, and 8 bits fit inside it.
        scheduler.CloudQueueSeconds = 1.0;
        Assert.Equal(1.001, scheduler.LiveCloudSeconds, 9);
        Assert.Equal(8, scheduler.Decide(feature).Bits);

        scheduler.CloudQueueSeconds = 0;
        Assert.Equal(2, scheduler.Decide(feature).Bits);
    }
}
