using System.Text;
using System.Text.Json;
using Coach.Transport.Edge;

namespace Coach.Experiments.Tests.Runner;

/// <summary>The edge's run summary as the benches read it back: every figure typed, a renamed key refused by name.</summary>
public sealed class EdgeSummaryTests
{
    internal static EdgeRunSummary Summary(double throughputFps = 212.5, string? connectionError = null) => new()
    {
        PlanId = "coach-0123456789ab", Method = "coach", Scheduler = "coach", FramesSent = 1000, FramesAnswered = 998, FramesFailed = 2,
        RequestsSent = 850, RequestsAnswered = 848, Duplicates = 0, EarlyExits = 150, WallSeconds = 4.7, ThroughputFps = throughputFps,
        LatencyMeanMs = 11.9, LatencyP50Ms = 10.2, LatencyP95Ms = 19.04, LatencyP99Ms = 23.5, Accuracy = 0.895, BytesPerFrame = 2256.3, MeanBits = 3.31,
        EdgeUtilisation = 0.9, HeadUtilisation = 0.7, ScheduleUtilisation = 0.2, SendUtilisation = 0.6, CloudUtilisation = 0.1, BubbleRatio = 0.4667,
        MeanCloudBatch = 1.2, CpuMsPerFrame = 1.31, Reconnects = 1, FallbackAnswers = 3, StaleAnswers = 1, ConnectionError = connectionError,
    };

    [Fact]
    public void TheDocumentReadBackCarriesEveryFigureTheEdgeWrote()
    {
        var written = Summary();

        var read = EdgeRunSummaryDocument.Parse(written.ToJson(), "test");

        Assert.Equal(written.ToDocument(), read);
        Assert.Equal(212.5, read.ThroughputFps);
        Assert.Equal(998, read.FramesAnswered);
        Assert.Equal(0.15, read.EarlyExitRatio);
        Assert.Equal(1.31, read.CpuMsPerFrame);
        Assert.Null(read.ConnectionError);
    }

    [Fact]
    public void TheEdgeWritesSnakeCaseKeysAndLeavesOutWhatItDidNotMeasure()
    {
        using var json = JsonDocument.Parse(Summary().ToJson());
        var root = json.RootElement;

        Assert.Equal("coach-0123456789ab", root.GetProperty("plan").GetString());
        Assert.Equal(4.7, root.GetProperty("wall_s").GetDouble());
        Assert.Equal(19.04, root.GetProperty("latency_p95_ms").GetDouble());
        Assert.Equal(1000, root.GetProperty("frames_sent").GetInt32());
        Assert.False(root.TryGetProperty("connection_error", out _));
        Assert.False(root.TryGetProperty("energy_j", out _));
        Assert.False(root.TryGetProperty("peak_temp_c", out _));
    }

    [Fact]
    public void ARenamedKeyIsRefusedWithItsName()
    {
        string renamed = Summary().ToJson().Replace("\"throughput_fps\"", "\"fps\"", StringComparison.Ordinal);

        var error = Assert.Throws<InvalidDataException>(() => EdgeRunSummaryDocument.Parse(renamed, "coach-edge (COACH)'s summary"));

        Assert.Contains("throughput_fps", error.Message, StringComparison.Ordinal);
        Assert.StartsWith("coach-edge (COACH)'s summary", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFigureOfAnotherTypeIsRefused()
    {
        string text = Summary().ToJson().Replace("\"frames_sent\":1000", "\"frames_sent\":\"1000\"", StringComparison.Ordinal);
        Assert.Contains("\"frames_sent\":\"1000\"", text, StringComparison.Ordinal);

        Assert.Throws<InvalidDataException>(() => EdgeRunSummaryDocument.Parse(text, "test"));
    }

    [Fact]
    public void ANullPlanIsRefused()
    {
        string text = Summary().ToJson().Replace("\"plan\":\"coach-0123456789ab\"", "\"plan\":null", StringComparison.Ordinal);
        Assert.Contains("\"plan\":null", text, StringComparison.Ordinal);

        Assert.Throws<InvalidDataException>(() => EdgeRunSummaryDocument.Parse(text, "test"));
    }

    [Fact]
    public void AMethodResultReportsTheMedianOfItsRepeatedRunsAndThePacedRunsLatency()
    {
        var first = Summary(throughputFps: 222.0).ToDocument();
        var paced = Summary().ToDocument() with { LatencyMeanMs = 6.2, LatencyP50Ms = 6.0, LatencyP95Ms = 8.5, FramesAnswered = 300 };
        var result = new MethodResult(Methods.Coach, first, PredictedThroughputFps: 234.0)
        {
            ThroughputRuns = [222.0, 241.0, 229.3],
            Latency = paced,
            LatencyFps = 30,
        };

        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            result.WriteJson(w);
            w.WriteEndObject();
        }

        using var json = JsonDocument.Parse(Encoding.UTF8.GetString(stream.ToArray()));
        var coach = json.RootElement.GetProperty("coach");
        Assert.Equal(229.3, result.ThroughputFps);
        Assert.Equal(229.3, coach.GetProperty("throughput_fps").GetDouble());
        Assert.Equal(3, coach.GetProperty("throughput_runs_fps").GetArrayLength());
        Assert.Equal(234.0, coach.GetProperty("predicted_throughput_fps").GetDouble());
        Assert.Equal(6.2, coach.GetProperty("latency_run_mean_ms").GetDouble());
        Assert.Equal(300, coach.GetProperty("latency_run_frames_answered").GetInt32());
        Assert.Equal(11.9, coach.GetProperty("latency_mean_ms").GetDouble()); // the throughput run's, under full load
        Assert.Equal(6.2, result.LatencyRun.LatencyMeanMs);
    }
}
