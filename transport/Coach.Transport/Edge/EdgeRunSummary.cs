using System.Globalization;
using System.Text;
using Coach.Native.Telemetry;

namespace Coach.Transport.Edge;

/// <summary>
/// What one edge run measured. <see cref="FramesSent"/> counts tasks put into the pipeline (every
/// frame of the source) and <see cref="FramesAnswered"/> those that ended with a label — from the
/// cloud, an early exit or the edge-only model; <see cref="RequestsSent"/> counts Request frames.
/// Utilisation is busy time over wall time; the bubble ratio is 1 − the mean utilisation of the
/// pipeline stages the plan uses (edge compute, transmission, cloud compute), i.e. the average idle
/// share of a stage (paper eq. 5 in measured form).
/// </summary>
public sealed record EdgeRunSummary
{
    public required string PlanId { get; init; }
    public required string Method { get; init; }
    public required string Scheduler { get; init; }
    public required int FramesSent { get; init; }
    public required int FramesAnswered { get; init; }
    public required int FramesFailed { get; init; }
    public required int RequestsSent { get; init; }
    public required int RequestsAnswered { get; init; }
    public required int Duplicates { get; init; }
    public required int EarlyExits { get; init; }
    public required double WallSeconds { get; init; }
    public required double ThroughputFps { get; init; }
    public required double LatencyMeanMs { get; init; }
    public required double LatencyP50Ms { get; init; }
    public required double LatencyP95Ms { get; init; }
    public required double LatencyP99Ms { get; init; }
    public required double Accuracy { get; init; }
    public required double BytesPerFrame { get; init; }
    public required double MeanBits { get; init; }
    public required double EdgeUtilisation { get; init; }
    public required double HeadUtilisation { get; init; }
    public required double ScheduleUtilisation { get; init; }
    public required double SendUtilisation { get; init; }
    public required double CloudUtilisation { get; init; }
    public required double BubbleRatio { get; init; }
    public required double MeanCloudBatch { get; init; }
    public string? ConnectionError { get; init; }

    /// <summary>Frames answered by the full model on the edge because the cloud was away or failed them.</summary>
    public int FallbackAnswers { get; init; }

    /// <summary>Connections re-established after a loss.</summary>
    public int Reconnects { get; init; }

    /// <summary>Cloud answers dropped because the frame had already been answered locally (late, not duplicates).</summary>
    public int StaleAnswers { get; init; }

    /// <summary>CPU time of the whole edge process per frame (every thread: head, scheduler, sockets), in ms, in steady state:
    /// from the head's 20th frame to the end (the whole run when it has 40 frames or fewer).</summary>
    public double CpuMsPerFrame { get; init; }

    /// <summary>Energy, power and temperature over the run from the Jetson's sensors (<see cref="EdgeTelemetry"/>);
    /// null where the device has none.</summary>
    public EnergyReport? Energy { get; init; }

    public double EarlyExitRatio => FramesSent == 0 ? 0 : EarlyExits / (double)FramesSent;

    internal static EdgeRunSummary Create(EdgePipeline pipeline, PlanDirectory plan, string scheduler, long wallMicros, int requestsSent, int requestsAnswered, int duplicates, string? connectionError)
    {
        ReadOnlySpan<FrameRecord> records = pipeline.Records;
        var latencies = new List<double>(records.Length);
        int answered = 0, failed = 0, correct = 0, labelled = 0, exits = 0, cloudFrames = 0;
        long bytes = 0, bitsSum = 0, cloudBusy = 0, batchSum = 0;
        foreach (ref readonly FrameRecord r in records)
        {
            bytes += r.WireBytes;
            if (r.WireBytes > 0)
            {
                bitsSum += r.Bits;
            }

            if (r.Decision == FrameDecision.EarlyExit)
            {
                exits++;
            }

            if (r.Decision == FrameDecision.Cloud)
            {
                cloudFrames++;
                batchSum += Math.Max(1, r.CloudBatchSize);
                cloudBusy += r.CloudComputeMicros / Math.Max(1, r.CloudBatchSize); // a batch's compute is shared by its requests
            }

            if (r.IsAnswered)
            {
                answered++;
                latencies.Add(r.LatencyMilliseconds);
                if (r.TrueLabel >= 0)
                {
                    labelled++;
                    correct += r.PredictedLabel == r.TrueLabel ? 1 : 0;
                }
            }
            else
            {
                failed++;
            }
        }

        latencies.Sort();
        double wall = Math.Max(1, wallMicros);
        double head = pipeline.HeadClock.Utilisation(wallMicros);
        double schedule = pipeline.ScheduleClock.Utilisation(wallMicros);
        double edge = Math.Clamp((pipeline.HeadClock.BusyMicros + pipeline.ScheduleClock.BusyMicros) / wall, 0, 1);
        double send = pipeline.SendClock.Utilisation(wallMicros);
        double cloud = Math.Clamp(cloudBusy / wall, 0, 1);
        double bubble = requestsSent > 0 ? 1 - ((edge + send + cloud) / 3) : 1 - edge;
        return new EdgeRunSummary
        {
            PlanId = plan.Id,
            Method = plan.Method,
            Scheduler = scheduler,
            FramesSent = records.Length,
            FramesAnswered = answered,
            FramesFailed = failed,
            RequestsSent = requestsSent,
            RequestsAnswered = requestsAnswered,
            Duplicates = duplicates,
            EarlyExits = exits,
            WallSeconds = wallMicros / 1e6,
            ThroughputFps = answered / (wall / 1e6),
            LatencyMeanMs = latencies.Count == 0 ? 0 : latencies.Average(),
            LatencyP50Ms = Percentile(latencies, 0.50),
            LatencyP95Ms = Percentile(latencies, 0.95),
            LatencyP99Ms = Percentile(latencies, 0.99),
            Accuracy = labelled == 0 ? 0 : correct / (double)labelled,
            BytesPerFrame = records.Length == 0 ? 0 : bytes / (double)records.Length,
            MeanBits = requestsSent == 0 ? 0 : bitsSum / (double)requestsSent,
            EdgeUtilisation = edge,
            HeadUtilisation = head,
            ScheduleUtilisation = schedule,
            SendUtilisation = send,
            CloudUtilisation = cloud,
            BubbleRatio = Math.Clamp(bubble, 0, 1),
            MeanCloudBatch = cloudFrames == 0 ? 0 : batchSum / (double)cloudFrames,
            ConnectionError = connectionError,
        };
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p) => Coach.Engine.Statistics.Percentile.NearestRank(sorted, p);

    /// <summary>The summary as one JSON object (snake_case keys), on one line.</summary>
    public string ToJson() => ToDocument().ToJson();

    /// <summary>The summary as the typed document the benches read back (figures rounded to 4 decimals).</summary>
    public EdgeRunSummaryDocument ToDocument()
    {
        return new EdgeRunSummaryDocument
        {
            Plan = PlanId,
            Method = Method,
            Scheduler = Scheduler,
            FramesSent = FramesSent,
            FramesAnswered = FramesAnswered,
            FramesFailed = FramesFailed,
            RequestsSent = RequestsSent,
            RequestsAnswered = RequestsAnswered,
            Duplicates = Duplicates,
            EarlyExits = EarlyExits,
            EarlyExitRatio = Round(EarlyExitRatio),
            WallSeconds = Round(WallSeconds),
            ThroughputFps = Round(ThroughputFps),
            CpuMsPerFrame = Round(CpuMsPerFrame),
            LatencyMeanMs = Round(LatencyMeanMs),
            LatencyP50Ms = Round(LatencyP50Ms),
            LatencyP95Ms = Round(LatencyP95Ms),
            LatencyP99Ms = Round(LatencyP99Ms),
            Accuracy = Round(Accuracy),
            BytesPerFrame = Round(BytesPerFrame),
            MeanBits = Round(MeanBits),
            EdgeUtilisation = Round(EdgeUtilisation),
            HeadUtilisation = Round(HeadUtilisation),
            ScheduleUtilisation = Round(ScheduleUtilisation),
            SendUtilisation = Round(SendUtilisation),
            CloudUtilisation = Round(CloudUtilisation),
            BubbleRatio = Round(BubbleRatio),
            MeanCloudBatch = Round(MeanCloudBatch),
            FallbackAnswers = FallbackAnswers,
            Reconnects = Reconnects,
            StaleAnswers = StaleAnswers,
            ConnectionError = ConnectionError,
            // Only what the device measured: a missing sensor leaves its key out rather than writing a made-up 0.
            EnergyJoules = Energy is { HasEnergy: true } joules ? Round(joules.Joules) : null,
            EnergyMillijoulesPerFrame = Energy is { HasEnergy: true } perFrame ? Round(perFrame.JoulesPerFrame * 1000) : null,
            MeanPowerWatts = Energy is { HasEnergy: true } power ? Round(power.MeanPowerW) : null,
            PeakTemperatureC = Energy is { } temperature && !double.IsNaN(temperature.PeakTempC) ? Round(temperature.PeakTempC) : null,
            MeanGpuLoad = Energy is { } load && !double.IsNaN(load.MeanGpuLoad) ? Round(load.MeanGpuLoad) : null,
        };
    }

    /// <summary>A human-readable block.</summary>
    public string Format()
    {
        var b = new StringBuilder();
        CultureInfo c = CultureInfo.InvariantCulture;
        b.AppendLine(c, $"plan {PlanId} ({(Method.Length > 0 ? Method : "?")}), scheduler {Scheduler}");
        b.AppendLine(c, $"  frames        {FramesAnswered}/{FramesSent} answered, {FramesFailed} failed, {RequestsSent} requests sent, {RequestsAnswered} answered by the cloud, {EarlyExits} early exits ({EarlyExitRatio:P1})");
        b.AppendLine(c, $"  throughput    {ThroughputFps:0.0} frames/s over {WallSeconds:0.00} s");
        b.AppendLine(c, $"  latency       p50 {LatencyP50Ms:0.00} ms, p95 {LatencyP95Ms:0.00} ms, p99 {LatencyP99Ms:0.00} ms, mean {LatencyMeanMs:0.00} ms");
        b.AppendLine(c, $"  accuracy      {Accuracy:P2}");
        b.AppendLine(c, $"  wire          {BytesPerFrame:0} bytes/frame, mean {MeanBits:0.00} bits, cloud batch {MeanCloudBatch:0.00}");
        b.AppendLine(c, $"  utilisation   edge {EdgeUtilisation:P1} (head {HeadUtilisation:P1}, schedule {ScheduleUtilisation:P1}), send {SendUtilisation:P1}, cloud {CloudUtilisation:P1}");
        b.Append(c, $"  bubble ratio  {BubbleRatio:0.000}");
        if (FallbackAnswers > 0 || Reconnects > 0)
        {
            b.AppendLine().Append(c, $"  faults        {FallbackAnswers} frames answered on the edge (fallback), {Reconnects} reconnects, {StaleAnswers} late cloud answers dropped");
        }

        if (ConnectionError is not null)
        {
            b.AppendLine().Append(c, $"  connection    {ConnectionError}");
        }

        if (Energy is { } energy)
        {
            b.AppendLine().Append(c, $"  device        {energy}");
        }

        return b.ToString();
    }

    /// <summary>
    /// Per-frame CSV: id, decision, bits, bytes, stage times, end-to-end latency, predicted and true label, and the
    /// answer's time since the first frame started (<c>end_ms</c>) and on the machine's monotonic clock
    /// (<c>end_monotonic_us</c>, comparable across processes), for throughput over time.
    /// </summary>
    public static void WriteCsv(TextWriter writer, ReadOnlySpan<FrameRecord> records)
    {
        ArgumentNullException.ThrowIfNull(writer);
        long origin = long.MaxValue;
        foreach (ref readonly FrameRecord r in records)
        {
            if (r.StartMicros > 0 && r.StartMicros < origin)
            {
                origin = r.StartMicros;
            }
        }

        writer.WriteLine("frame_id,decision,bits,bytes,head_us,schedule_us,send_us,cloud_queue_us,cloud_compute_us,cloud_batch,arrival_spread_us,latency_ms,predicted,true_label,end_ms,end_monotonic_us");
        foreach (ref readonly FrameRecord r in records)
        {
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.FrameId},{Name(r.Decision)},{r.Bits},{r.WireBytes},{r.HeadMicros},{r.ScheduleMicros},{r.SendMicros},{r.CloudQueueMicros},{r.CloudComputeMicros},{r.CloudBatchSize},{r.ArrivalSpreadMicros},{(r.EndMicros > 0 ? r.LatencyMilliseconds : double.NaN):0.###},{r.PredictedLabel},{r.TrueLabel},{(r.EndMicros > 0 ? (r.EndMicros - origin) / 1000.0 : double.NaN):0.###},{r.EndMicros}"));
        }
    }

    private static string Name(FrameDecision decision) => decision switch
    {
        FrameDecision.Cloud => "cloud",
        FrameDecision.EarlyExit => "early_exit",
        FrameDecision.EdgeOnly => "edge_only",
        FrameDecision.Failed => "failed",
        FrameDecision.Fallback => "fallback",
        _ => "pending",
    };

    private static double Round(double value) => double.IsFinite(value) ? Math.Round(value, 4) : 0;
}
