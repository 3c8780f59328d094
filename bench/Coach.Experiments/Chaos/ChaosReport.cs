using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Coach.Experiments;

/// <summary>One RSS sample: seconds since the edge started, the phase, the cloud's and the edge process's memory.</summary>
public readonly record struct RssSample(double Seconds, string Phase, int? CloudPid, ProcessMemory? Cloud, ProcessMemory Edge);

public sealed class ChaosReport
{
    public int FramesSent;
    public int FramesAnswered;
    public int FramesDuplicated;
    public int FallbackAnswers;
    public int Reconnects;
    public int CloudAnswers;
    public long FuzzInMemory;
    public long FuzzLive;
    public long FuzzFailures;
    public int ServerCrashes;
    public int ServerRestarts;
    public int CloudKills;
    public int SigtermRestarts;
    public List<int> SigtermExitCodes { get; } = [];
    /// <summary>Frames that arrived from a SIGTERM to the end of the steady phase after it (docs/protocol.md §1.7).</summary>
    public int SigtermWindowFrames;
    /// <summary>Of those, frames not answered by a cloud (on the edge, or failed): what a graceful restart must not cost.</summary>
    public int SigtermWindowNotByCloud;
    public int SigtermWindowLost;
    public int Cycles;
    public double WallSeconds;
    public double EdgeSeconds;
    public double Accuracy;
    public int FuzzRounds;
    public int HealthyFuzzRounds;
    public bool Quick;
    public string CloudProcess = "in-process";
    public string CloudProcessNote = string.Empty;
    public string? RssCsv;
    public List<RssSample> Samples { get; } = [];
    public List<string> Events { get; } = [];

    public int FramesLost => FramesSent - FramesAnswered;

    public bool HealthyDuringFuzz => FuzzRounds > 0 && HealthyFuzzRounds == FuzzRounds;

    /// <summary>Every graceful restart exited 0 and cost no frame: all frames of its window were answered by a cloud.</summary>
    public bool SigtermClean => SigtermRestarts > 0 && SigtermExitCodes.All(c => c == 0) && SigtermWindowNotByCloud == 0 && SigtermWindowLost == 0;

    public bool Passed => FramesLost == 0 && FramesDuplicated == 0 && ServerCrashes == 0 && FuzzFailures == 0 && HealthyDuringFuzz && Accuracy == 1.0 && SigtermClean;

    // The edge process: first sample (taken once the edge runs) and last (when its last frame is answered).
    public double EdgeStartMb => Samples.Count > 0 ? Samples[0].Edge.RssMb : 0;

    public double EdgeEndMb => Samples.Count > 0 ? Samples[^1].Edge.RssMb : 0;

    public double EdgePeakMb => Samples.Count > 0 ? Samples.Max(s => s.Edge.PeakRssMb) : 0;

    // The cloud: the process alive at the end, from its first sample to its last.
    private IEnumerable<RssSample> LastCloud => Samples.Where(s => s.Cloud is not null && s.CloudPid == Samples.LastOrDefault(l => l.Cloud is not null).CloudPid);

    public double CloudStartMb => LastCloud.Select(s => s.Cloud!.Value.RssMb).FirstOrDefault();

    public double CloudEndMb => LastCloud.Select(s => s.Cloud!.Value.RssMb).LastOrDefault();

    public double CloudWindowSeconds => LastCloud.Any() ? LastCloud.Last().Seconds - LastCloud.First().Seconds : 0;

    public double CloudPeakMb => Samples.Where(s => s.Cloud is not null).Select(s => s.Cloud!.Value.PeakRssMb).DefaultIfEmpty(0).Max();

    public string Describe() => string.Join('\n', Events.Append(string.Create(CultureInfo.InvariantCulture,
        $"chaos: {FramesAnswered}/{FramesSent} frames answered ({CloudAnswers} by the cloud, {FallbackAnswers} on the edge), {FramesLost} lost, {FramesDuplicated} duplicated, {Reconnects} reconnects, accuracy {Accuracy:P2}; fuzz {FuzzInMemory} in memory + {FuzzLive} live, {FuzzFailures} failures; cloud {CloudProcess}, killed {CloudKills}×, {ServerCrashes} crashes; SIGTERM restarts {SigtermRestarts}× (exit {string.Join('/', SigtermExitCodes)}): {SigtermWindowFrames} frames in their windows, {SigtermWindowNotByCloud} not answered by a cloud, {SigtermWindowLost} lost; RSS edge {EdgeStartMb:0.0} → {EdgeEndMb:0.0} MB (peak {EdgePeakMb:0.0}), cloud {CloudStartMb:0.0} → {CloudEndMb:0.0} MB over {CloudWindowSeconds:0} s (peak {CloudPeakMb:0.0}); {WallSeconds:0.0} s: {(Passed ? "PASSED" : "FAILED")}")));

    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("mode", Quick ? "quick" : "long");
            w.WriteString("cloud_process", CloudProcess);
            w.WriteString("cloud_process_note", CloudProcessNote);
            w.WriteString("edge_process", "in-process (EdgeRun, the code of coach-edge run)");
            w.WriteNumber("frames_sent", FramesSent);
            w.WriteNumber("frames_answered", FramesAnswered);
            w.WriteNumber("frames_lost", FramesLost);
            w.WriteNumber("frames_duplicated", FramesDuplicated);
            w.WriteNumber("fallback_answers", FallbackAnswers);
            w.WriteNumber("cloud_answers", CloudAnswers);
            w.WriteNumber("reconnects", Reconnects);
            w.WriteNumber("accuracy", Accuracy);
            w.WriteNumber("fuzz_cases", FuzzInMemory + FuzzLive);
            w.WriteNumber("fuzz_cases_in_memory", FuzzInMemory);
            w.WriteNumber("fuzz_cases_live", FuzzLive);
            w.WriteNumber("fuzz_failures", FuzzFailures);
            w.WriteBoolean("healthy_client_served_during_fuzz", HealthyDuringFuzz);
            w.WriteNumber("server_crashes", ServerCrashes);
            w.WriteNumber("cloud_kills", CloudKills);
            w.WriteNumber("sigterm_restarts", SigtermRestarts);
            w.WriteStartArray("sigterm_exit_codes");
            foreach (int code in SigtermExitCodes)
            {
                w.WriteNumberValue(code);
            }

            w.WriteEndArray();
            w.WriteNumber("sigterm_window_frames", SigtermWindowFrames);
            w.WriteNumber("sigterm_window_frames_not_by_cloud", SigtermWindowNotByCloud);
            w.WriteNumber("sigterm_frames_lost", SigtermWindowLost);
            w.WriteNumber("server_restarts", ServerRestarts);
            w.WriteNumber("cycles", Cycles);
            w.WriteNumber("peak_rss_mb", Math.Round(Math.Max(EdgePeakMb, CloudPeakMb), 1));
            w.WriteNumber("edge_rss_start_mb", Math.Round(EdgeStartMb, 1));
            w.WriteNumber("edge_rss_end_mb", Math.Round(EdgeEndMb, 1));
            w.WriteNumber("edge_peak_rss_mb", Math.Round(EdgePeakMb, 1));
            if (CloudProcess == "child")
            {
                w.WriteNumber("cloud_rss_start_mb", Math.Round(CloudStartMb, 1));
                w.WriteNumber("cloud_rss_end_mb", Math.Round(CloudEndMb, 1));
                w.WriteNumber("cloud_rss_window_s", Math.Round(CloudWindowSeconds, 1));
                w.WriteNumber("cloud_peak_rss_mb", Math.Round(CloudPeakMb, 1));
            }
            else
            {
                // In-process the cloud's memory is part of the edge process's figures.
                foreach (string field in (string[])["cloud_rss_start_mb", "cloud_rss_end_mb", "cloud_rss_window_s", "cloud_peak_rss_mb"])
                {
                    w.WriteNull(field);
                }
            }

            w.WriteNumber("rss_start_mb", Math.Round(EdgeStartMb, 1));
            w.WriteNumber("rss_end_mb", Math.Round(EdgeEndMb, 1));
            w.WriteNumber("rss_samples", Samples.Count);
            if (RssCsv is not null)
            {
                w.WriteString("rss_csv", RssCsv);
            }

            w.WriteNumber("edge_s", Math.Round(EdgeSeconds, 2));
            w.WriteNumber("wall_s", Math.Round(WallSeconds, 2));
            w.WriteBoolean("passed", Passed);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    public void WriteCsv(string path)
    {
        var csv = new StringBuilder("t_s,phase,cloud_pid,cloud_rss_mb,cloud_peak_rss_mb,edge_rss_mb,edge_peak_rss_mb\n");
        foreach (RssSample s in Samples)
        {
            csv.Append(CultureInfo.InvariantCulture,
                $"{s.Seconds:0.0},{s.Phase},{s.CloudPid?.ToString(CultureInfo.InvariantCulture) ?? ""},{s.Cloud?.RssMb:0.0},{s.Cloud?.PeakRssMb:0.0},{s.Edge.RssMb:0.0},{s.Edge.PeakRssMb:0.0}\n");
        }

        File.WriteAllText(path, csv.ToString());
    }
}
