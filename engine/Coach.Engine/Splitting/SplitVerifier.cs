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
