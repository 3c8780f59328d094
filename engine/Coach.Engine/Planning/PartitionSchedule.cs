using System.Globalization;

namespace Coach.Engine.Planning;

/// <summary>
/// One task's schedule under the cost model's layer-parallel execution (docs/planner.md §3): the start and finish of every
/// layer (edge layers back to back, cloud layers one at a time), the time each cut tensor has arrived at the cloud (NaN for a
/// value that does not cross), and the costs derived from it.
/// </summary>
/// <param name="Start">Start of each layer (topological index), seconds from taking the frame.</param>
/// <param name="Finish">Finish of each layer.</param>
/// <param name="Arrival">Arrival at the cloud of each value (index into <see cref="PlanningProblem.Tensors"/>): NaN unless it is cut.</param>
public sealed record PartitionSchedule(double[] Start, double[] Finish, double[] Arrival, PartitionCost Cost)
{
    /// <summary>
    /// Checks the schedule against eq. 4 and the cost model: every cloud layer starts no earlier than each input is there
    /// (an edge-produced value or model input after its transmission has arrived, a cloud-produced value when its layer has
    /// finished), runs for its profiled time, does not overlap another cloud layer, and the predicted latency is the
    /// schedule's finish (the last layer or the last byte on the link): <paramref name="predictedLatency"/> when given (a
    /// plan's own cost), else this schedule's <see cref="Cost"/>. Returns null when it holds, else what broke.
    /// </summary>
    public string? Violation(PlanningProblem problem, ReadOnlySpan<bool> onEdge, double? predictedLatency = null)
    {
        ArgumentNullException.ThrowIfNull(problem);
        int n = problem.NodeCount;
        if (Start.Length != n || Finish.Length != n || Arrival.Length != problem.Tensors.Count)
        {
            return $"the schedule covers {Start.Length} layers and {Arrival.Length} values; the problem has {n} and {problem.Tensors.Count}";
        }
        double latency = predictedLatency ?? Cost.LatencySeconds;
        double scale = Math.Max(latency, 1e-9);
        double tolerance = 1e-9 * scale;
        double end = 0;
        double cloudFree = 0;
        for (int v = 0; v < n; v++)
        {
            end = Math.Max(end, Finish[v]);
            if (onEdge[v])
            {
                continue;
            }
            foreach (var k in problem.NodeInputs[v])
            {
                int p = problem.Tensors[k].Producer;
                double available = p >= 0 && !onEdge[p] ? Finish[p] : Arrival[k];
                if (double.IsNaN(available))
                {
                    return $"cloud layer '{problem.NodeNames[v]}' reads '{problem.Tensors[k].Name}', produced on the edge, which never crosses the link";
                }
                if (Start[v] < available - tolerance)
                {
                    return $"eq. 4: cloud layer '{problem.NodeNames[v]}' starts at {Ms(Start[v])} ms, before its input '{problem.Tensors[k].Name}' is there at {Ms(available)} ms";
                }
            }
            if (Start[v] < cloudFree - tolerance)
            {
                return $"cloud layer '{problem.NodeNames[v]}' starts at {Ms(Start[v])} ms while the cloud is busy until {Ms(cloudFree)} ms";
            }
            if (Math.Abs(Finish[v] - Start[v] - problem.CloudSeconds[v]) > tolerance)
            {
                return $"cloud layer '{problem.NodeNames[v]}' runs {Ms(Finish[v] - Start[v])} ms, not its profiled {Ms(problem.CloudSeconds[v])} ms";
            }
            cloudFree = Finish[v];
        }
        foreach (var a in Arrival)
        {
            if (!double.IsNaN(a))
            {
                end = Math.Max(end, a);
            }
        }
        end = Math.Max(end, problem.Settings.EdgeFrameOverheadSeconds);
        return Math.Abs(end - latency) > tolerance
            ? $"the predicted latency is {Ms(latency)} ms but the schedule finishes at {Ms(end)} ms"
            : null;
    }

    /// <summary>Throws when <see cref="Violation"/> finds one: a plan whose latency breaks eq. 4 must never be written.</summary>
    public void EnsureValid(PlanningProblem problem, ReadOnlySpan<bool> onEdge, double? predictedLatency = null)
    {
        if (Violation(problem, onEdge, predictedLatency) is { } broken)
        {
            throw new InvalidOperationException($"the cost model's schedule is inconsistent: {broken}");
        }
    }

    private static string Ms(double seconds) => (seconds * 1e3).ToString("F6", CultureInfo.InvariantCulture);
}
