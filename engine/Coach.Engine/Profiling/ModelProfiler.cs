using System.Diagnostics;
using System.Security.Cryptography;
using Coach.Engine.Graph;
using Coach.Native.OnnxRuntime;
using Google.Protobuf;

namespace Coach.Engine.Profiling;

/// <summary>Progress of a profiling session: warm-up and measured runs done out of the total.</summary>
public readonly record struct ProfileProgress(int Done, int Total, string Phase);

/// <summary>
/// Measures per-layer latency with ONNX Runtime's built-in profiler (docs/planner.md §2): the model, with every node
/// carrying Coach's layer name, runs with graph optimizations off (so every ONNX node keeps its own kernel and
/// timing), a few warm-up runs are dropped, and each layer's time is the median of its kernel times over the
/// measured runs. Used by `coach profile` here and by `coach-edge profile` on the device.
/// </summary>
public static class ModelProfiler
{
    public static LayerProfile Profile(string modelPath, string deviceName, SessionSettings settings, int runs = 20, IProgress<ProfileProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (runs < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(runs), runs, "at least one measured run is needed");
        }
        if (string.IsNullOrWhiteSpace(deviceName))
        {
            throw new ArgumentException("a device name is needed (the profile is per device), e.g. 'xavier-nx' or 'server'", nameof(deviceName));
        }
        if (!File.Exists(modelPath))
        {
            throw new FileNotFoundException($"model file '{modelPath}' does not exist", modelPath);
        }
        var bytes = File.ReadAllBytes(modelPath);
        var graph = LayerGraph.FromBytes(bytes, modelPath);
        var named = OperatorSupport.WithCanonicalNodeNames(graph.Model).ToByteArray();
        int warmup = Math.Max(2, runs / 10);
        var prefixDir = Path.Combine(Path.GetTempPath(), $"coach-profile-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(prefixDir);
        try
        {
            var profiled = SameDevice(settings, GraphOptimization.Disabled, Path.Combine(prefixDir, "ort"));
            string tracePath;
            var wall = new List<double>();
            string provider;
            using (var session = InferenceSession.Open(named, profiled, Path.GetFileName(modelPath)))
            {
                provider = session.Provider.OrtName();
                var inputs = SyntheticInputs.Create(session.Inputs);
                int total = warmup + runs;
                for (int r = 0; r < total; r++)
                {
                    var clock = Stopwatch.StartNew();
                    session.Run(inputs);
                    if (r >= warmup)
                    {
                        wall.Add(clock.Elapsed.TotalMicroseconds);
                    }
                    progress?.Report(new ProfileProgress(r + 1, total, r < warmup ? "warm-up" : "measuring"));
                }
                tracePath = session.EndProfiling();
            }
            var serving = ServingMedianMicroseconds(named, settings, modelPath, warmup, runs);
            var parsed = OrtProfileParser.Parse(File.ReadAllText(tracePath));
            var medians = new Dictionary<string, (double Median, int Count)>(StringComparer.Ordinal);
            foreach (var node in graph.Nodes)
            {
                if (parsed.KernelMicroseconds.TryGetValue(node.Name, out var samples) && samples.Count > 0)
                {
                    var list = samples.Count > warmup ? samples.Skip(warmup).ToList() : samples;
                    medians[node.Name] = (OrtProfileParser.Median(list), list.Count);
                }
            }

            // The profiled session runs unoptimised with the profiler on; the edge and the cloud run optimised. Scale the
            // per-layer medians so they add up to the serving session's measured whole-run latency: the split between
            // layers comes from the profiler, the total from what a stage really costs (so predicted ≈ measured).
            var kernelSum = medians.Values.Sum(m => m.Median);
            var scale = kernelSum > 0 && serving > 0 ? serving / kernelSum : 1;
            var layers = new List<LayerTiming>(graph.Nodes.Count);
            foreach (var node in graph.Nodes)
            {
                if (medians.TryGetValue(node.Name, out var m))
                {
                    layers.Add(new LayerTiming(node.Name, node.OpType, m.Median * scale, m.Count));
                }
                else
                {
                    layers.Add(new LayerTiming(node.Name, node.OpType, 0, 0)); // no kernel ran for it
                }
            }
            return new LayerProfile
            {
                ModelSha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)),
                ModelName = Path.GetFileName(modelPath),
                Device = deviceName,
                Provider = provider,
                Runs = runs,
                WarmupRuns = warmup,
                OrtVersion = OrtLibrary.Version,
                WholeRunMedianMicroseconds = OrtProfileParser.Median(wall),
                ServingRunMedianMicroseconds = serving,
                LayerScale = scale,
                Layers = layers,
            };
        }
        finally
        {
            try
            {
                Directory.Delete(prefixDir, recursive: true);
            }
            catch (IOException)
            {
                // A trace left in the temp folder is harmless.
            }
        }
    }

    /// <summary>Median whole-run latency of the model in a session with the caller's settings (optimizations as given, no profiler).</summary>
    private static double ServingMedianMicroseconds(byte[] model, SessionSettings settings, string modelPath, int warmup, int runs)
    {
        using var session = InferenceSession.Open(model, SameDevice(settings, settings.Optimization, profilePrefix: null), Path.GetFileName(modelPath));
        var inputs = SyntheticInputs.Create(session.Inputs);
        var wall = new List<double>(runs);
        for (int r = 0; r < warmup + runs; r++)
        {
            var clock = Stopwatch.StartNew();
            session.Run(inputs);
            if (r >= warmup)
            {
                wall.Add(clock.Elapsed.TotalMicroseconds);
            }
        }

        return OrtProfileParser.Median(wall);
    }

    /// <summary>The caller's threads and providers with the given optimization level, profiling when a prefix is given.</summary>
    private static SessionSettings SameDevice(SessionSettings settings, GraphOptimization optimization, string? profilePrefix) => settings with
    {
        Optimization = optimization,
        EnableProfiling = profilePrefix is not null,
        ProfilePrefix = profilePrefix ?? settings.ProfilePrefix,
    };
}
