using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Coach.Experiments.Fleet;

/// <summary>One plan's figures at a cloud, from its /metrics: how it batched and how long requests queued.</summary>
public sealed record CloudPlanFigures(string Plan, double Requests, double Answers, double Batches, double MeanBatch, double MeanQueueWaitMs, double MeanTailComputeMs)
{
    public static IReadOnlyList<CloudPlanFigures> From(IReadOnlyList<PrometheusSample> samples)
    {
        var requests = PrometheusText.SumBy(samples, "coach_cloud_requests_total", "plan");
        var answers = PrometheusText.SumBy(samples, "coach_cloud_answers_total", "plan");
        var batchSum = PrometheusText.SumBy(samples, "coach_cloud_batch_size_sum", "plan");
        var batchCount = PrometheusText.SumBy(samples, "coach_cloud_batch_size_count", "plan");
        var waitSum = PrometheusText.SumBy(samples, "coach_cloud_queue_wait_milliseconds_sum", "plan");
        var waitCount = PrometheusText.SumBy(samples, "coach_cloud_queue_wait_milliseconds_count", "plan");
        var computeSum = PrometheusText.SumBy(samples, "coach_cloud_tail_compute_milliseconds_sum", "plan");
        var computeCount = PrometheusText.SumBy(samples, "coach_cloud_tail_compute_milliseconds_count", "plan");
        static double Ratio(double a, double b) => b > 0 ? a / b : 0;
        return requests.Keys.Order(StringComparer.Ordinal).Select(plan => new CloudPlanFigures(
            plan,
            requests[plan],
            answers.GetValueOrDefault(plan),
            batchCount.GetValueOrDefault(plan),
            Ratio(batchSum.GetValueOrDefault(plan), batchCount.GetValueOrDefault(plan)),
            Ratio(waitSum.GetValueOrDefault(plan), waitCount.GetValueOrDefault(plan)),
            Ratio(computeSum.GetValueOrDefault(plan), computeCount.GetValueOrDefault(plan)))).ToArray();
    }

    public JsonObject ToJson() => new()
    {
        ["plan"] = Plan,
        ["requests"] = Requests,
        ["answers"] = Answers,
        ["batches"] = Batches,
        ["mean_batch"] = Math.Round(MeanBatch, 3),
        ["mean_queue_wait_ms"] = Math.Round(MeanQueueWaitMs, 3),
        ["mean_tail_compute_ms"] = Math.Round(MeanTailComputeMs, 3),
    };
}

/// <summary>One scenario: K edges, their summaries, and the cloud's per-plan figures.</summary>
public sealed class FleetScenario
{
    public required string Name { get; init; }

    public int Clouds { get; init; }

    public List<FleetEdgeResult> Edges { get; } = [];

    public List<CloudPlanFigures> Cloud { get; } = [];

    /// <summary>A /metrics scrape taken while the edges ran (a file), or null.</summary>
    public string? MidRunScrape { get; set; }

    public int FramesSent => Edges.Sum(e => e.Summary.FramesSent);

    public int FramesAnswered => Edges.Sum(e => e.Summary.FramesAnswered);

    public int FramesLost => Edges.Sum(e => e.FramesLost);

    public int Duplicates => Edges.Sum(e => e.Summary.Duplicates);

    public double TotalThroughputFps => Edges.Sum(e => e.Summary.ThroughputFps);

    public double WorstP95Ms => Edges.Count == 0 ? 0 : Edges.Max(e => e.Summary.LatencyP95Ms);

    public string Describe() =>
        $"{Name}: {Edges.Count} edges, {FramesAnswered}/{FramesSent} frames answered ({FramesLost} lost, {Duplicates} duplicated), "
        + $"{TotalThroughputFps:0.#} frames/s in total, worst edge p95 {WorstP95Ms:0.#} ms; cloud batches: "
        + string.Join(", ", Cloud.Select(c => $"{c.Plan} {c.MeanBatch:0.##} (queue {c.MeanQueueWaitMs:0.##} ms)"));

    public JsonObject ToJson()
    {
        var edges = new JsonArray();
        foreach (FleetEdgeResult e in Edges)
        {
            edges.Add((JsonNode)new JsonObject
            {
                ["edge"] = e.Spec.Name,
                ["plan"] = e.Summary.Plan,
                ["deployment"] = e.Spec.Plan.Name,
                ["link"] = e.Spec.Link,
                ["edge_slowdown"] = e.Spec.Slowdown,
                ["frames_sent"] = e.Summary.FramesSent,
                ["frames_answered"] = e.Summary.FramesAnswered,
                ["frames_lost"] = e.FramesLost,
                ["duplicates"] = e.Summary.Duplicates,
                ["fallback_answers"] = e.Summary.FallbackAnswers,
                ["reconnects"] = e.Summary.Reconnects,
                ["throughput_fps"] = Math.Round(e.Summary.ThroughputFps, 2),
                ["latency_p50_ms"] = Math.Round(e.Summary.LatencyP50Ms, 2),
                ["latency_p95_ms"] = Math.Round(e.Summary.LatencyP95Ms, 2),
                ["mean_cloud_batch"] = Math.Round(e.Summary.MeanCloudBatch, 3),
            });
        }

        var cloud = new JsonArray();
        foreach (CloudPlanFigures c in Cloud)
        {
            cloud.Add((JsonNode)c.ToJson());
        }

        return new JsonObject
        {
            ["name"] = Name,
            ["clouds"] = Clouds,
            ["edges"] = Edges.Count,
            ["frames_sent"] = FramesSent,
            ["frames_answered"] = FramesAnswered,
            ["frames_lost"] = FramesLost,
            ["duplicates"] = Duplicates,
            ["total_throughput_fps"] = Math.Round(TotalThroughputFps, 2),
            ["worst_p95_ms"] = Math.Round(WorstP95Ms, 2),
            ["per_edge"] = edges,
            ["cloud_plans"] = cloud,
            ["metrics_scrape"] = MidRunScrape,
        };
    }
}

/// <summary>When one edge noticed its cloud was gone and when it was connected again, from the kill.</summary>
public sealed record FleetReconnect(string Edge, double? NoticedMs, double? ReconnectedMs);

/// <summary>The failover scenario: two clouds behind HAProxy, one killed mid-run.</summary>
public sealed class FleetFailover
{
    public required FleetScenario Scenario { get; init; }

    public string? Skipped { get; set; }

    public string? Victim { get; set; }

    public int VictimConnections { get; set; }

    public List<FleetReconnect> Reconnects { get; } = [];

    /// <summary>Every edge the killed cloud held logged the loss and a reconnect.</summary>
    public bool EveryEdgeReconnected => Reconnects.Count >= VictimConnections && Reconnects.All(r => r.ReconnectedMs is not null);

    public double? MaxReconnectMs => Reconnects.Where(r => r.ReconnectedMs is not null).Select(r => r.ReconnectedMs!.Value).DefaultIfEmpty().Max() is var m && Reconnects.Count > 0 ? m : null;

    public bool Passed => Skipped is null && Scenario.FramesLost == 0 && Scenario.Duplicates == 0 && VictimConnections > 0 && EveryEdgeReconnected;

    public string Describe() => Skipped is not null
        ? $"failover skipped: {Skipped}"
        : $"failover: {Victim} killed holding {VictimConnections} edge(s); {Scenario.FramesAnswered}/{Scenario.FramesSent} frames answered, {Scenario.FramesLost} lost; "
          + $"{Reconnects.Count(r => r.ReconnectedMs is not null)} edge(s) reconnected, slowest {MaxReconnectMs?.ToString("0", CultureInfo.InvariantCulture) ?? "-"} ms after the kill; "
          + $"{Scenario.Edges.Sum(e => e.Summary.FallbackAnswers)} frame(s) answered on the edges meanwhile";

    public JsonObject ToJson()
    {
        var reconnects = new JsonArray();
        foreach (FleetReconnect r in Reconnects)
        {
            reconnects.Add((JsonNode)new JsonObject
            {
                ["edge"] = r.Edge,
                ["noticed_ms"] = r.NoticedMs is { } n ? Math.Round(n, 1) : null,
                ["reconnected_ms"] = r.ReconnectedMs is { } b ? Math.Round(b, 1) : null,
            });
        }

        JsonObject json = Scenario.ToJson();
        json["skipped"] = Skipped;
        json["killed"] = Victim;
        json["killed_cloud_edges"] = VictimConnections;
        json["fallback_answers"] = Scenario.Edges.Sum(e => e.Summary.FallbackAnswers);
        json["reconnect_max_ms"] = MaxReconnectMs is { } max ? Math.Round(max, 1) : null;
        json["reconnects"] = reconnects;
        json["passed"] = Passed;
        return json;
    }
}

/// <summary>One run of the mixed-plan scenario and the cloud CPU seconds it took.</summary>
public sealed record FleetRealignmentRun(FleetScenario Scenario, double CloudCpuSeconds, IReadOnlyList<string> CloudLog)
{
    /// <summary>Frames the cloud answered (not the edges' fallback) per second of cloud CPU.</summary>
    public double AnswersPerCloudCpuSecond => CloudCpuSeconds > 0 ? Scenario.Edges.Sum(e => e.Summary.RequestsAnswered) / CloudCpuSeconds : 0;

    public JsonObject ToJson()
    {
        JsonObject json = Scenario.ToJson();
        json["cloud_cpu_s"] = Math.Round(CloudCpuSeconds, 3);
        json["cloud_answers"] = Scenario.Edges.Sum(e => e.Summary.RequestsAnswered);
        json["answers_per_cloud_cpu_s"] = Math.Round(AnswersPerCloudCpuSecond, 2);
        json["cloud_log"] = new JsonArray(CloudLog.TakeLast(6).Select(l => (JsonNode?)JsonValue.Create(l)).ToArray());
        return json;
    }
}

/// <summary>The mixed-plan scenario with independent tails and with fragment re-alignment, at one latency budget.</summary>
public sealed class FleetRealignment
{
    public double BudgetMs { get; init; }

    public double MaxWaitMs { get; init; }

    public FleetRealignmentRun? Independent { get; set; }

    public FleetRealignmentRun? Realigned { get; set; }

    /// <summary>Throughput per unit of cloud compute, re-aligned over independent (Graft's resource efficiency).</summary>
    public double? EfficiencyRatio => Independent is { AnswersPerCloudCpuSecond: > 0 } i && Realigned is { } r ? r.AnswersPerCloudCpuSecond / i.AnswersPerCloudCpuSecond : null;

    /// <summary>Total throughput, re-aligned over independent (equal offered load: near 1 unless a cloud saturates).</summary>
    public double? ThroughputRatio => Independent is { Scenario.TotalThroughputFps: > 0 } i && Realigned is { } r ? r.Scenario.TotalThroughputFps / i.Scenario.TotalThroughputFps : null;

    public string Describe() =>
        $"re-alignment at a {BudgetMs:0.#} ms budget: {Realigned?.AnswersPerCloudCpuSecond:0.#} vs {Independent?.AnswersPerCloudCpuSecond:0.#} cloud answers per cloud CPU second "
        + $"(ratio {EfficiencyRatio:0.###}), total throughput ratio {ThroughputRatio:0.###}";

    public JsonObject ToJson() => new()
    {
        ["budget_ms"] = BudgetMs,
        ["max_wait_ms"] = MaxWaitMs,
        ["realigned_vs_independent_throughput"] = EfficiencyRatio is { } e ? Math.Round(e, 4) : null,
        ["realigned_vs_independent_total_fps"] = ThroughputRatio is { } t ? Math.Round(t, 4) : null,
        ["independent"] = Independent?.ToJson(),
        ["realigned"] = Realigned?.ToJson(),
    };
}

/// <summary>The overload scenario: a throttled cloud that sheds, and edges that answer what it sheds.</summary>
public sealed class FleetOverload
{
    public required FleetScenario Scenario { get; init; }

    public double CloudCores { get; init; }

    public int ShedDepth { get; init; }

    public string? Skipped { get; set; }

    /// <summary>Requests the cloud shed with Error 310 Overloaded (its /metrics).</summary>
    public double Shed { get; set; }

    public int FallbackAnswers => Scenario.Edges.Sum(e => e.Summary.FallbackAnswers);

    public bool Passed => Skipped is not null || (Scenario.FramesLost == 0 && Scenario.Duplicates == 0);

    public string Describe() => Skipped is not null
        ? $"overload skipped: {Skipped}"
        : $"overload: cloud at {CloudCores:0.##} core shed {Shed:0} request(s) (Overloaded); {Scenario.FramesAnswered}/{Scenario.FramesSent} frames answered, {Scenario.FramesLost} lost, "
          + $"{FallbackAnswers} on the edges' full model; worst edge p95 {Scenario.WorstP95Ms:0.#} ms";

    public JsonObject ToJson()
    {
        JsonObject json = Scenario.ToJson();
        json["skipped"] = Skipped;
        json["cloud_cores"] = CloudCores;
        json["shed_queue_depth"] = ShedDepth;
        json["shed"] = Shed;
        json["fallback_answers"] = FallbackAnswers;
        json["passed"] = Passed;
        return json;
    }
}

/// <summary>Everything <c>coach bench fleet</c> measured.</summary>
public sealed class FleetReport
{
    public bool Quick { get; init; }

    public double FramesPerSecondPerEdge { get; init; }

    public double Seconds { get; init; }

    public IReadOnlyList<FleetPlan> Plans { get; init; } = [];

    public List<FleetScenario> Scenarios { get; } = [];

    public FleetFailover? Failover { get; set; }

    public FleetRealignment? Realignment { get; set; }

    public FleetOverload? Overload { get; set; }

    private IEnumerable<FleetScenario> All =>
        Scenarios
            .Concat(Realignment is null ? [] : new[] { Realignment.Independent?.Scenario, Realignment.Realigned?.Scenario }.OfType<FleetScenario>())
            .Concat(Overload is { Skipped: null } o ? [o.Scenario] : [])
            .Concat(Failover is { Skipped: null } f ? [f.Scenario] : []);

    public int FramesLost => All.Sum(s => s.FramesLost);

    /// <summary>No frame lost or answered twice anywhere, and the failover (when it ran) reconnected every edge.</summary>
    public bool Passed => FramesLost == 0 && All.All(s => s.Duplicates == 0) && (Failover is null || Failover.Skipped is not null || Failover.Passed);

    public string Describe()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"coach bench fleet ({(Quick ? "quick" : "long")}): {Plans.Count} plans of {FleetPlans.Model}, {FramesPerSecondPerEdge:0.#} frames/s per edge for {Seconds:0.#} s");
        foreach (FleetScenario s in Scenarios)
        {
            text.AppendLine("  " + s.Describe());
        }

        if (Realignment is not null)
        {
            text.AppendLine("  " + Realignment.Describe());
        }

        if (Overload is not null)
        {
            text.AppendLine("  " + Overload.Describe());
        }

        if (Failover is not null)
        {
            text.AppendLine("  " + Failover.Describe());
        }

        text.Append(Passed ? "  ok: no frame lost" : "  FAILED: frames lost, duplicated, or an edge did not reconnect");
        return text.ToString();
    }

    public string ToJson()
    {
        var plans = new JsonArray();
        foreach (FleetPlan p in Plans)
        {
            plans.Add((JsonNode)new JsonObject
            {
                ["name"] = p.Name,
                ["plan"] = p.PlanId,
                ["link"] = p.Link,
                ["edge_slowdown"] = p.EdgeSlowdown,
                ["cut"] = new JsonArray(p.CutTensors.Select(c => (JsonNode?)JsonValue.Create(c)).ToArray()),
                ["planned_throughput_fps"] = Math.Round(p.PlannedThroughputFps, 2),
            });
        }

        var scenarios = new JsonArray();
        foreach (FleetScenario s in Scenarios)
        {
            scenarios.Add((JsonNode)s.ToJson());
        }

        var all = All.ToArray();
        var json = new JsonObject
        {
            ["bench"] = "fleet",
            ["mode"] = Quick ? "quick" : "long",
            ["model"] = FleetPlans.Model,
            ["fps_per_edge"] = FramesPerSecondPerEdge,
            ["seconds"] = Seconds,
            ["edges"] = new JsonArray(Scenarios.Select(s => (JsonNode?)JsonValue.Create(s.Edges.Count)).ToArray()),
            ["frames_sent"] = all.Sum(s => s.FramesSent),
            ["frames_answered"] = all.Sum(s => s.FramesAnswered),
            ["frames_lost"] = FramesLost,
            ["total_throughput_fps"] = new JsonArray(Scenarios.Select(s => (JsonNode?)JsonValue.Create(Math.Round(s.TotalThroughputFps, 2))).ToArray()),
            ["plans"] = plans,
            ["scenarios"] = scenarios,
            ["realigned_vs_independent_throughput"] = Realignment?.EfficiencyRatio is { } e ? Math.Round(e, 4) : null,
            ["p95_ms_per_edge"] = new JsonArray(All.SelectMany(s => s.Edges.Select(e => (JsonNode?)new JsonObject { ["scenario"] = s.Name, ["edge"] = e.Spec.Name, ["p95_ms"] = Math.Round(e.Summary.LatencyP95Ms, 2) })).ToArray()),
            ["realignment"] = Realignment?.ToJson(),
            ["overload"] = Overload?.ToJson(),
            ["failover"] = Failover?.ToJson(),
            ["passed"] = Passed,
        };
        return json.ToJsonString();
    }
}
