using Coach.Engine.Graph;
using Coach.Engine.Planning;
using Coach.Native.OnnxRuntime;
using Google.Protobuf;

namespace Coach.Engine.Splitting;

/// <summary>One checked cut: its tensors and the largest relative difference of tail(head(x)) from the full model.</summary>
public sealed record SplitCheck(int EdgeLayers, IReadOnlyList<string> CutTensors, double MaxRelativeDifference);

/// <summary>
/// Checks that splitting a model at a partition changes nothing: head then tail, through ONNX Runtime, against the
/// full model on the same input. Used by <c>coach bench split</c> on paper-scale models, where checking every cut is slow.
/// </summary>
public static class SplitVerifier
{
    /// <summary><paramref name="samples"/> evenly spaced topological-prefix cuts of <paramref name="graph"/>, each checked.</summary>
    public static IReadOnlyList<SplitCheck> CheckSampledPrefixCuts(LayerGraph graph, int samples, SessionSettings settings, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ShapeDiscovery.Complete(graph);
        var ones = Enumerable.Repeat(1e-3, graph.Nodes.Count).ToArray();
        var problem = PlanningProblem.FromGraph(graph, ones, ones, new CostSettings { BandwidthBitsPerSecond = 1e7 });
        var prefixes = ChainCuts.TopologicalPrefixes(problem).ToList();
        var chosen = Enumerable.Range(1, Math.Min(samples, prefixes.Count))
            .Select(i => prefixes[(int)((long)i * (prefixes.Count - 1) / (Math.Min(samples, prefixes.Count) + 1))])
            .ToList();
        using var full = InferenceSession.Open(graph.Model.ToByteArray(), settings, "full");
        var inputs = SyntheticInputs.Create(full.Inputs, seed: 7);
        var outputNames = graph.OutputTensors.Select(i => graph.Tensors[i].Name).ToArray();
        var expected = full.Run(inputs, outputNames);
        var results = new List<SplitCheck>(chosen.Count);
        foreach (var onEdge in chosen)
        {
            var cut = PipelineCostModel.CutTensors(problem, onEdge).Select(k => problem.Tensors[k].Name).ToArray();
            var split = ModelSplitter.Split(graph, cut, onEdge);
            var values = inputs.ToDictionary(x => x.Name, x => x.Tensor, StringComparer.Ordinal);
            Run(split.Head, split.HeadOutputs, values, settings);
            if (split.Tail is not null)
            {
                using var probe = InferenceSession.Open(split.Tail.ToByteArray(), settings, "tail");
                Run(split.Tail, probe.Outputs.Select(o => o.Name).ToArray(), values, settings);
            }

            double worst = 0;
            for (int o = 0; o < outputNames.Length; o++)
            {
                var e = expected[o].AsSpan<float>();
                var a = values[outputNames[o]].AsSpan<float>();
                for (int i = 0; i < e.Length; i++)
                {
                    worst = Math.Max(worst, Math.Abs(e[i] - a[i]) / Math.Max(1, Math.Abs(e[i])));
                }
            }

            results.Add(new SplitCheck(onEdge.Count(x => x), cut, worst));
            progress?.Invoke(results.Count, chosen.Count);
        }

        return results;
    }

    /// <summary>
    /// A planned split as deployed: the files <c>head.onnx</c> and/or <c>tail.onnx</c> a plan directory holds, run one after
    /// the other on a synthetic input, against the full model at <paramref name="fullModelPath"/>; the largest relative
    /// difference over the full model's outputs. A missing head is a cloud-only plan (the tail takes the frame), a missing
    /// tail an edge-only one (the head answers).
    /// </summary>
    public static double CheckPlannedSplit(string fullModelPath, string? headPath, string? tailPath, SessionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(fullModelPath);
        if (headPath is null && tailPath is null)
        {
            throw new ArgumentException("a planned split has a head, a tail or both; neither was given");
        }
        using var full = InferenceSession.Open(fullModelPath, settings);
        var inputs = SyntheticInputs.Create(full.Inputs, seed: 7);
        var outputNames = full.Outputs.Select(o => o.Name).ToArray();
        var expected = full.Run(inputs, outputNames);
        var values = inputs.ToDictionary(x => x.Name, x => x.Tensor, StringComparer.Ordinal);
        foreach (var path in new[] { headPath, tailPath })
        {
            if (path is null)
            {
                continue;
            }
            using var part = InferenceSession.Open(path, settings);
            var missing = part.Inputs.Where(i => !values.ContainsKey(i.Name)).Select(i => i.Name).ToArray();
            if (missing.Length > 0)
            {
                throw new InvalidDataException($"{path} takes [{string.Join(", ", missing)}], which neither the model's inputs nor the head produce");
            }
            var names = part.Outputs.Select(o => o.Name).ToArray();
            var produced = part.Run([.. part.Inputs.Select(i => new NamedTensor(i.Name, values[i.Name]))], names);
            for (int i = 0; i < produced.Length; i++)
            {
                values[names[i]] = produced[i];
            }
        }

        double worst = 0;
        for (int o = 0; o < outputNames.Length; o++)
        {
            if (!values.TryGetValue(outputNames[o], out var actual))
            {
                throw new InvalidDataException($"the split never produces the full model's output '{outputNames[o]}'");
            }
            var e = expected[o].AsSpan<float>();
            var a = actual.AsSpan<float>();
            if (a.Length != e.Length)
            {
                throw new InvalidDataException($"the split's '{outputNames[o]}' holds {a.Length} values, the full model's {e.Length}");
            }
            for (int i = 0; i < e.Length; i++)
            {
                worst = Math.Max(worst, Math.Abs(e[i] - a[i]) / Math.Max(1, Math.Abs(e[i])));
            }
        }
        return worst;
    }

    private static void Run(Onnx.Proto.ModelProto? part, IReadOnlyList<string> outputs, Dictionary<string, DenseTensor> values, SessionSettings settings)
    {
        if (part is null)
        {
            return;
        }

        using var session = InferenceSession.Open(part.ToByteArray(), settings, "part");
        var produced = session.Run([.. session.Inputs.Select(i => new NamedTensor(i.Name, values[i.Name]))], outputs);
        for (int i = 0; i < produced.Length; i++)
        {
            values[outputs[i]] = produced[i];
        }
    }
}
