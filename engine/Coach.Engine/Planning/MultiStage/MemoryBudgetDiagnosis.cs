using System.Globalization;

namespace Coach.Engine.Planning.MultiStage;

/// <summary>Why no partition fits the devices' memory budgets, in words a user can act on.</summary>
internal static class MemoryBudgetDiagnosis
{
    public static string Explain(PlanningProblem problem, NestedIdeals ideals, LayerMemory memory, PipelineDevice[] devices)
    {
        long weights = memory.TotalWeightBytes;
        var budgets = string.Join(", ", devices.Select(d => $"'{d.Name}' {(d.MemoryBudgetBytes is { } b ? Megabytes(b) : "unbounded")}"));
        var head = $"no partition of the model's {problem.NodeCount} layers across {devices.Length} devices fits the memory budgets ({budgets})";
        if (devices.All(d => d.MemoryBudgetBytes is not null))
        {
            long largest = devices.Max(d => d.MemoryBudgetBytes!.Value);
            long combined = devices.Sum(d => d.MemoryBudgetBytes!.Value);
            if (weights > combined)
            {
                return $"{head}: the model's weights {Megabytes(weights)} exceed every device's budget, and all budgets together ({Megabytes(combined)})";
            }
            // A single layer must sit on one device with its inputs and outputs: the smallest stage it can be in.
            for (int v = 0; v < problem.NodeCount; v++)
            {
                long alone = memory.WeightBytes[v]
                    + problem.Tensors.Where(t => t.Producer == v).Sum(t => t.RawBytes)
                    + problem.NodeInputs[v].Sum(k => problem.Tensors[k].RawBytes);
                if (alone > largest)
                {
                    return $"{head}: layer '{problem.NodeNames[v]}' alone needs {Megabytes(alone)} (weights {Megabytes(memory.WeightBytes[v])}, its inputs and outputs), more than the largest budget ({Megabytes(largest)})";
                }
            }
        }
        long frame = ideals.CutRawBytes[0];
        return $"{head}: the model's weights take {Megabytes(weights)} and the frame {Megabytes(frame)}; every stage holds its layers' weights, the values they produce and the values it receives (docs/edgepipe.md §1) — raise a budget or add a device";
    }

    private static string Megabytes(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e6:0.###} MB");
}
