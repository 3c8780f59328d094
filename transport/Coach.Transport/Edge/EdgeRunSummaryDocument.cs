using System.Text.Json;
using System.Text.Json.Serialization;

namespace Coach.Transport.Edge;

/// <summary>
/// The edge's run summary as <c>coach-edge run --json</c> prints it on its last line (snake_case keys, see
/// <see cref="EdgeRunSummary"/> for what each figure means). Every key the edge always writes is <c>required</c>, so a reader
/// built against another version of the edge fails with the missing key's name instead of reading a default.
/// </summary>
public sealed record EdgeRunSummaryDocument
{
    [JsonPropertyName("plan")] public required string Plan { get; init; }
    [JsonPropertyName("method")] public required string Method { get; init; }
    [JsonPropertyName("scheduler")] public required string Scheduler { get; init; }
    [JsonPropertyName("frames_sent")] public required int FramesSent { get; init; }
    [JsonPropertyName("frames_answered")] public required int FramesAnswered { get; init; }
    [JsonPropertyName("frames_failed")] public required int FramesFailed { get; init; }
    [JsonPropertyName("requests_sent")] public required int RequestsSent { get; init; }
    [JsonPropertyName("requests_answered")] public required int RequestsAnswered { get; init; }
    [JsonPropertyName("duplicates")] public required int Duplicates { get; init; }
    [JsonPropertyName("early_exits")] public required int EarlyExits { get; init; }
    [JsonPropertyName("early_exit_ratio")] public required double EarlyExitRatio { get; init; }
    [JsonPropertyName("wall_s")] public required double WallSeconds { get; init; }
    [JsonPropertyName("throughput_fps")] public required double ThroughputFps { get; init; }
    [JsonPropertyName("cpu_ms_per_frame")] public required double CpuMsPerFrame { get; init; }
    [JsonPropertyName("latency_mean_ms")] public required double LatencyMeanMs { get; init; }
    [JsonPropertyName("latency_p50_ms")] public required double LatencyP50Ms { get; init; }
    [JsonPropertyName("latency_p95_ms")] public required double LatencyP95Ms { get; init; }
    [JsonPropertyName("latency_p99_ms")] public required double LatencyP99Ms { get; init; }
    [JsonPropertyName("accuracy")] public required double Accuracy { get; init; }
    [JsonPropertyName("bytes_per_frame")] public required double BytesPerFrame { get; init; }
    [JsonPropertyName("mean_bits")] public required double MeanBits { get; init; }
    [JsonPropertyName("edge_utilisation")] public required double EdgeUtilisation { get; init; }
    [JsonPropertyName("head_utilisation")] public required double HeadUtilisation { get; init; }
    [JsonPropertyName("schedule_utilisation")] public required double ScheduleUtilisation { get; init; }
    [JsonPropertyName("send_utilisation")] public required double SendUtilisation { get; init; }
    [JsonPropertyName("cloud_utilisation")] public required double CloudUtilisation { get; init; }
    [JsonPropertyName("bubble_ratio")] public required double BubbleRatio { get; init; }
    [JsonPropertyName("mean_cloud_batch")] public required double MeanCloudBatch { get; init; }
    [JsonPropertyName("fallback_answers")] public required int FallbackAnswers { get; init; }
    [JsonPropertyName("reconnects")] public required int Reconnects { get; init; }
    [JsonPropertyName("stale_answers")] public required int StaleAnswers { get; init; }

    /// <summary>Why the edge could not reach the cloud, when it could not; absent otherwise.</summary>
    [JsonPropertyName("connection_error")] public string? ConnectionError { get; init; }

    // Only what the device measured (EdgeTelemetry): a missing sensor leaves its key out rather than writing a made-up 0.
    [JsonPropertyName("energy_j")] public double? EnergyJoules { get; init; }
    [JsonPropertyName("energy_mj_per_frame")] public double? EnergyMillijoulesPerFrame { get; init; }
    [JsonPropertyName("mean_power_w")] public double? MeanPowerWatts { get; init; }
    [JsonPropertyName("peak_temp_c")] public double? PeakTemperatureC { get; init; }
    [JsonPropertyName("mean_gpu_load")] public double? MeanGpuLoad { get; init; }

    /// <summary>The document on one line, as the edge prints it.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, EdgeRunSummaryJsonContext.Default.EdgeRunSummaryDocument);

    /// <summary>The document as a JSON element (to copy its keys into a larger report).</summary>
    public JsonElement ToJsonElement() => JsonSerializer.SerializeToElement(this, EdgeRunSummaryJsonContext.Default.EdgeRunSummaryDocument);

    /// <summary>Reads a run summary printed by the edge.</summary>
    /// <param name="json">The JSON object (the edge's last line of output).</param>
    /// <param name="source">What printed it, for the error message.</param>
    /// <exception cref="InvalidDataException">The text is not a run summary of this version of the edge: a key is missing, null
    /// or of another type (the message names it).</exception>
    public static EdgeRunSummaryDocument Parse(string json, string source)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            return JsonSerializer.Deserialize(json, EdgeRunSummaryJsonContext.Default.EdgeRunSummaryDocument)
                ?? throw new InvalidDataException($"{source}: the run summary is null, not a JSON object");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not a run summary of this coach-edge ({e.Message})", e);
        }
    }
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, RespectNullableAnnotations = true)]
[JsonSerializable(typeof(EdgeRunSummaryDocument))]
internal sealed partial class EdgeRunSummaryJsonContext : JsonSerializerContext;
