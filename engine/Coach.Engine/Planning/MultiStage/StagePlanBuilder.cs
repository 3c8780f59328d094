namespace Coach.Engine.Planning.MultiStage;

/// <summary>
/// Turns the chosen chain of ideals into a <see cref="MultiStagePlan"/>: each stage's layers, compute and memory, and
/// each link's bits — the cut's calibrated minimum raised by eq. 11 (docs/planner.md §5) where the link would
/// otherwise idle below the pipeline's bottleneck.
/// </summary>
internal sealed class StagePlanBuilder(PlanningProblem problem, NestedIdeals ideals, LinkCosts costs)
{
    /// <param name="devices">The chain in the chosen order, the cloud last.</param>
    /// <param name="edgeOrder">Index of each edge stage's device in the chain as given (its uplink in <paramref name="costs"/>).</param>
    public MultiStagePlan Build(PipelineDevice[] devices, int[] edgeOrder, int[] chain, double bottleneck, double? latencyBudget,
        long nestedPairs, int ordersTried)
    {
        int k = devices.Length;
        var bounds = chain.Prepend(0).Append(ideals.Full).ToArray();
        var minimumSeconds = new double[k - 1];
        double serialAtMinimum = 0;
        for (int j = 0; j < k; j++)
        {
            serialAtMinimum += ComputeSeconds(devices[j], bounds[j], bounds[j + 1]);
            if (j < k - 1)
            {
                minimumSeconds[j] = costs.Seconds(edgeOrder[j], bounds[j + 1], costs.MinimumBits(bounds[j + 1]));
                serialAtMinimum += minimumSeconds[j];
            }
        }
        // Eq. 11 may spend the latency budget's slack on bits, link by link in pipeline order.
        double slack = latencyBudget is { } limit ? limit - serialAtMinimum : double.PositiveInfinity;
        var stages = new PipelineStagePlan[k];
        double serial = 0;
        for (int j = 0; j < k; j++)
        {
            int inner = bounds[j];
            int outer = bounds[j + 1];
            StageTransfer? transfer = null;
            if (j < k - 1)
            {
                double allowed = Math.Min(bottleneck, minimumSeconds[j] + Math.Max(0, slack));
                transfer = Transfer(edgeOrder[j], outer, allowed);
                slack -= transfer.Seconds - minimumSeconds[j];
                serial += transfer.Seconds;
            }
            var (weights, activations) = ideals.StageMemory(inner, outer);
            double compute = ComputeSeconds(devices[j], inner, outer);
            serial += compute;
            stages[j] = new PipelineStagePlan(
                devices[j].Name,
                [.. Enumerable.Range(0, problem.NodeCount).Where(v => ideals.Sets[outer][v] && !ideals.Sets[inner][v])],
                ideals.Sets[outer], compute, weights, activations, devices[j].MemoryBudgetBytes, transfer);
        }
        return new MultiStagePlan
        {
            Stages = stages,
            BottleneckSeconds = stages.Max(s => Math.Max(s.ComputeSeconds, s.Transfer?.Seconds ?? 0)),
            SerialLatencySeconds = serial,
            Ideals = ideals.Count,
            NestedPairs = nestedPairs,
            OrdersTried = ordersTried,
            CutsCalibrated = costs.CutsCalibrated,
        };
    }

    /// <summary>A stage's compute summed layer by layer (as <see cref="PipelineCostModel.EdgeSeconds"/> does), its per-frame work included.</summary>
    private double ComputeSeconds(PipelineDevice device, int inner, int outer)
    {
        double s = device.FrameOverheadSeconds;
        for (int v = 0; v < problem.NodeCount; v++)
        {
            if (ideals.Sets[outer][v] && !ideals.Sets[inner][v])
            {
                s += device.LayerSeconds[v];
            }
        }
        return s;
    }

    /// <summary>
    /// Bits of one link by COACH's own choice (<see cref="BitChooser.Choose"/>, eq. 11 offline): seen from the link, the
    /// rest of the pipeline is one stage that takes <paramref name="allowedSeconds"/> a frame — the bottleneck, or less
    /// where the latency budget leaves less — so the link gets the widest width whose transfer stays within it.
    /// </summary>
    private StageTransfer Transfer(int device, int ideal, double allowedSeconds)
    {
        var linkProblem = costs.LinkProblems[device];
        var zero = new double[problem.NodeCount];
        var view = new PlanningProblem(linkProblem.NodeNames, zero, zero, linkProblem.Tensors, linkProblem.Settings with
        {
            EdgeFrameOverheadSeconds = allowedSeconds,
            LatencyBudgetSeconds = null,
        });
        int minimum = costs.MinimumBits(ideal);
        var choice = new BitChooser(view, new FixedBits(minimum)).Choose("edgepipe", ideals.Sets[ideal], out _)
            ?? throw new InvalidOperationException("COACH's bit choice refused a link without a latency budget");
        var cut = choice.CutTensors;
        double bytes = 0;
        for (int i = 0; i < cut.Length; i++)
        {
            bytes += PipelineCostModel.TensorBytes(linkProblem, cut[i], choice.Bits[i]);
        }
        return new StageTransfer(cut, choice.Bits, choice.MinimumBits ?? choice.Bits, bytes,
            PipelineCostModel.TransmissionSeconds(linkProblem, cut, choice.Bits));
    }
}
