using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Coach.Engine.Statistics;
using Coach.Native.OnnxRuntime;

namespace Coach.Edge.Commands;

/// <summary>
/// <c>coach-edge selftest --model M</c>: loads a model on this device, feeds it deterministic inputs
/// shaped from its metadata, and times warm runs through the allocation-free binding. Prints p50/p99
/// latency, the execution provider used and why preferred providers were refused.
/// </summary>
internal static class SelftestCommand
{
    private const int ExitFailure = 1;
    private const int ExitProviderRefused = 4;

    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "ONNX model to run", Required = true };
        var runs = new Option<int>("--runs", "-n") { Description = "timed runs", DefaultValueFactory = _ => 100 };
        var warmup = new Option<int>("--warmup") { Description = "untimed warm-up runs first", DefaultValueFactory = _ => 10 };
        var provider = new Option<string?>("--provider", "-p")
        {
            Description = "tensorrt, cuda or cpu (default: TensorRT, then CUDA, then CPU, whichever loads first)",
        };
        var threads = new Option<int>("--threads") { Description = "intra-op threads (0 = ONNX Runtime's default)" };
        var require = new Option<bool>("--require-provider") { Description = "exit with code 4 when the requested --provider is refused instead of falling back" };
        var trtCache = new Option<string?>("--trt-cache") { Description = "TensorRT engine cache folder (saves minutes on the next start)" };
        var command = new Command("selftest", "load a model, run warm inferences, print p50/p99 latency and the provider used")
        {
            model, runs, warmup, provider, threads, trtCache, require,
        };
        command.SetAction(parseResult => Run(
            parseResult.GetValue(model)!,
            parseResult.GetValue(runs),
            parseResult.GetValue(warmup),
            parseResult.GetValue(provider),
            parseResult.GetValue(threads),
            parseResult.GetValue(trtCache),
            parseResult.GetValue(require)));
        return command;
    }

    private static int Run(string modelPath, int runs, int warmup, string? providerName, int threads, string? trtCache, bool requireProvider)
    {
        if (runs < 1 || warmup < 0 || threads < 0)
        {
            return Fail("--runs must be at least 1, --warmup and --threads at least 0");
        }
        IReadOnlyList<ExecutionProvider> providers = [ExecutionProvider.TensorRt, ExecutionProvider.Cuda, ExecutionProvider.Cpu];
        ExecutionProvider? requested = null;
        if (providerName is not null)
        {
            if (!ExecutionProviderExtensions.TryParse(providerName, out var parsed))
            {
                return Fail($"unknown provider '{providerName}'; use tensorrt, cuda or cpu");
            }
            requested = parsed;
            // The requested provider first, then the ones after it in the TensorRT → CUDA → CPU order: a device without
            // TensorRT falls back to CUDA or CPU (and says why) instead of failing.
            providers = parsed switch
            {
                ExecutionProvider.TensorRt => [ExecutionProvider.TensorRt, ExecutionProvider.Cuda, ExecutionProvider.Cpu],
                ExecutionProvider.Cuda => [ExecutionProvider.Cuda, ExecutionProvider.Cpu],
                _ => [ExecutionProvider.Cpu],
            };
        }
        if (!OrtLibrary.TryLoad(out var loadError))
        {
            return Fail(loadError);
        }

        var settings = new SessionSettings
        {
            Providers = providers,
            IntraOpThreads = threads,
            TensorRt = new TensorRtSettings { EngineCachePath = trtCache },
        };
        try
        {
            using var session = InferenceSession.Open(modelPath, settings);
            return Measure(session, runs, warmup, requested, requireProvider);
        }
        catch (Exception e) when (e is FileNotFoundException or OrtException or NotSupportedException or ArgumentException)
        {
            return Fail(e.Message);
        }
    }

    private static int Measure(InferenceSession session, int runs, int warmup, ExecutionProvider? requested, bool requireProvider)
    {
        var inputs = new List<(string Name, PinnedTensor Tensor)>();
        var outputs = new List<(string Name, PinnedTensor Tensor)>();
        try
        {
            foreach (var input in session.Inputs)
            {
                var tensor = PinnedTensor.Create(input.ElementType, input.ConcreteShape(dynamicDimension: 1));
                inputs.Add((input.Name, tensor));
                FillDeterministic(tensor);
            }

            // One allocating run gives the output shapes (dynamic ones included) and a reference result.
            var reference = session.Run(inputs.Select(i => new NamedTensor(i.Name, i.Tensor.ToDense())).ToArray());
            for (var i = 0; i < session.Outputs.Count; i++)
            {
                outputs.Add((session.Outputs[i].Name, PinnedTensor.Create(reference[i].ElementType, reference[i].Shape)));
            }

            using var binding = session.Bind(inputs, outputs);
            for (var i = 0; i < warmup; i++)
            {
                binding.Run();
            }
            var milliseconds = new double[runs];
            for (var i = 0; i < runs; i++)
            {
                var start = Stopwatch.GetTimestamp();
                binding.Run();
                milliseconds[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
            var maxDifference = MaxDifference(reference, outputs);

            Array.Sort(milliseconds);
            var inv = CultureInfo.InvariantCulture;
            Console.WriteLine($"coach-edge selftest ({VersionCommand.CoachVersion}; onnxruntime {OrtLibrary.Version})");
            Console.WriteLine($"  model:    {session.DisplayName}");
            Console.WriteLine($"  inputs:   {string.Join("; ", inputs.Select(i => $"{i.Name} {i.Tensor.ElementType.DisplayName()}[{string.Join(',', i.Tensor.Shape)}]"))}" +
                              (session.Inputs.All(i => i.IsFixedShape) ? "" : " (dynamic dimensions set to 1)"));
            Console.WriteLine($"  outputs:  {string.Join("; ", outputs.Select(o => $"{o.Name} {o.Tensor.ElementType.DisplayName()}[{string.Join(',', o.Tensor.Shape)}]"))}");
            Console.WriteLine($"  provider: {session.Provider.OrtName()}");
            foreach (var refusal in session.RefusedProviders)
            {
                Console.WriteLine($"  refused:  {refusal.Provider.OrtName()}: {OneLine(refusal.Reason)}");
            }
            Console.WriteLine(string.Create(inv,
                $"  runs:     {runs} timed after {warmup} warm-up (intra-op threads: {(session.Settings.IntraOpThreads == 0 ? "default" : session.Settings.IntraOpThreads)})"));
            Console.WriteLine(string.Create(inv,
                $"  latency:  p50 {Percentile.NearestRank(milliseconds, 0.50):F3} ms  p99 {Percentile.NearestRank(milliseconds, 0.99):F3} ms  mean {milliseconds.Average():F3} ms  min {milliseconds[0]:F3} ms  max {milliseconds[^1]:F3} ms"));
            Console.WriteLine(string.Create(inv,
                $"  check:    bound outputs vs allocating run: max |difference| {maxDifference:G3}"));

            if (maxDifference > 1e-3)
            {
                return Fail(string.Create(inv, $"the bound run's outputs differ from the allocating run's by {maxDifference:G3}"));
            }
            if (requested is { } wanted && session.Provider != wanted)
            {
                Console.Error.WriteLine($"coach-edge selftest: the requested provider {wanted.OrtName()} was refused ({OneLine(session.RefusedProviders.FirstOrDefault(r => r.Provider == wanted)?.Reason ?? "not available")}); fell back to {session.Provider.OrtName()}");
                return requireProvider ? ExitProviderRefused : 0;
            }
            return 0;
        }
        finally
        {
            foreach (var (_, tensor) in inputs)
            {
                tensor.Dispose();
            }
            foreach (var (_, tensor) in outputs)
            {
                tensor.Dispose();
            }
        }
    }

    /// <summary>Same values on every device and every run: inputs in [0, 1) (or small integers).</summary>
    private static void FillDeterministic(PinnedTensor tensor)
    {
        static float Pattern(int i) => (i * 37 % 101) / 101f;
        switch (tensor.ElementType)
        {
            case TensorElementType.Float:
                var floats = tensor.AsSpan<float>();
                for (var i = 0; i < floats.Length; i++)
                {
                    floats[i] = Pattern(i);
                }
                break;
            case TensorElementType.Double:
                var doubles = tensor.AsSpan<double>();
                for (var i = 0; i < doubles.Length; i++)
                {
                    doubles[i] = Pattern(i);
                }
                break;
            case TensorElementType.Float16:
                var halves = tensor.AsSpan<Half>();
                for (var i = 0; i < halves.Length; i++)
                {
                    halves[i] = (Half)Pattern(i);
                }
                break;
            case TensorElementType.Bool:
                var flags = tensor.AsSpan<byte>();
                for (var i = 0; i < flags.Length; i++)
                {
                    flags[i] = (byte)(i & 1);
                }
                break;
            default:
                // Integer inputs (indices, token ids): small non-negative values that fit any width.
                var size = tensor.ElementType.ByteSize();
                var bytes = tensor.AsSpan<byte>();
                for (var i = 0; i < bytes.Length / size; i++)
                {
                    bytes[i * size] = (byte)(i % 7); // little-endian low byte
                }
                break;
        }
    }

    private static double MaxDifference(DenseTensor[] reference, List<(string Name, PinnedTensor Tensor)> outputs)
    {
        double max = 0;
        for (var i = 0; i < reference.Length; i++)
        {
            var bound = outputs[i].Tensor;
            if (reference[i].ElementType == TensorElementType.Float)
            {
                var expected = reference[i].AsSpan<float>();
                var actual = bound.AsSpan<float>();
                for (var j = 0; j < expected.Length; j++)
                {
                    max = Math.Max(max, Math.Abs((double)expected[j] - actual[j]));
                }
            }
            else if (!reference[i].Data.AsSpan().SequenceEqual(bound.AsSpan<byte>()))
            {
                max = double.PositiveInfinity;
            }
        }
        return max;
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim();

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"coach-edge selftest: {message}");
        return ExitFailure;
    }
}
