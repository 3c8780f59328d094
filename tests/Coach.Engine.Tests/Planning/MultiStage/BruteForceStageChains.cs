using Coach.Engine.Planning;
using Coach.Engine.Planning.MultiStage;

namespace Coach.Engine.Tests.Planning.MultiStage;

/// <summary>
/// Reference for the multi-stage planner on small graphs: every chain of nested ideals I_1 ⊆ … ⊆ I_{k−1} (ideals
/// found by testing all 2^n layer subsets), each stage costed from its layer set directly — compute summed layer by
/// layer, memory from the values its layers produce and receive, every link at its cut's minimum bits — and the best
/// by (bottleneck, serial latency) under the memory and latency budgets. Fixed device order only.
/// </summary>
internal static class BruteForceStageChains
{
    public sealed record Outcome(bool[][] Chain, double Bottleneck, double SerialLatency);

    public static Outcome? Best(PlanningProblem problem, DeviceChain chain, LayerMemory memory, ICutBitsProvider bits)
    {
        // Every boundary an edge device's stage ends on is a cut one link carries (CutConstraints); I_0 = ∅ is only the start.
        var ideals = BruteForcePlanner.DeployableIdeals(problem);
        var devices = chain.EdgeDevices.Append(chain.Cloud).ToArray();
        var full = new bool[problem.NodeCount];
        Array.Fill(full, true);
        Outcome? best = null;
        var picked = new bool[devices.Length + 1][];
        picked[0] = new bool[problem.NodeCount];
        picked[devices.Length] = full;

        void Extend(int j)
        {
            if (j == devices.Length)
            {
                var outcome = Evaluate(problem, devices, memory, bits, picked, chain.LatencyBudgetSeconds);
                if (outcome is not null && (best is null || Better(outcome, best)))
                {
                    best = outcome;
                }
                return;
            }
            foreach (var ideal in ideals)
            {
                if (Contains(ideal, picked[j - 1]))
                {
                    picked[j] = ideal;
                    Extend(j + 1);
                }
            }
        }

        Extend(1);
        return best;
    }

    /// <summary>The serial latency of a plan with every link at its minimum bits (eq. 11 may have raised them since).</summary>
    public static double SerialLatencyAtMinimumBits(MultiStagePlan plan, PlanningProblem problem, DeviceChain chain)
    {
        double serial = 0;
        foreach (var stage in plan.Stages)
        {
            serial += stage.ComputeSeconds;
            if (stage.Transfer is { } t)
            {
                var link = chain.EdgeDevices.Single(d => d.Name == stage.Device).Uplink!;
                serial += PipelineCostModel.TransmissionSeconds(LinkProblem(problem, link), t.CutTensors, t.MinimumBits);
            }
        }
        return serial;
    }

    public static PlanningProblem LinkProblem(PlanningProblem problem, DeviceLink link) =>
        problem.WithSettings(problem.Settings with { BandwidthBitsPerSecond = link.BitsPerSecond, FrameOverheadSeconds = link.FrameSeconds });

    /// <summary>Memory of the stage holding the layers of <paramref name="outer"/> not in <paramref name="inner"/>, summed over its layers.</summary>
    public static long StageMemory(PlanningProblem problem, LayerMemory memory, bool[] inner, bool[] outer)
    {
        long bytes = 0;
        for (int v = 0; v < problem.NodeCount; v++)
        {
            if (outer[v] && !inner[v])
            {
                bytes += memory.WeightBytes[v] + problem.Tensors.Where(t => t.Producer == v).Sum(t => t.RawBytes);
            }
        }
        foreach (var k in PipelineCostModel.CutTensors(problem, inner))
        {
            bytes += problem.Tensors[k].RawBytes;
        }
        return bytes;
    }

    private static Outcome? Evaluate(PlanningProblem problem, PipelineDevice[] devices, LayerMemory memory, ICutBitsProvider bits, bool[][] chain, double? latencyBudget)
    {
        double bottleneck = 0;
        double serial = 0;
        for (int j = 0; j < devices.Length; j++)
        {
            if (devices[j].MemoryBudgetBytes is { } budget && StageMemory(problem, memory, chain[j], chain[j + 1]) > budget)
            {
                return null;
            }
            double compute = devices[j].FrameOverheadSeconds;
            for (int v = 0; v < problem.NodeCount; v++)
            {
                if (chain[j + 1][v] && !chain[j][v])
                {
                    compute += devices[j].LayerSeconds[v];
                }
            }
            bottleneck = Math.Max(bottleneck, compute);
            serial += compute;
            if (j < devices.Length - 1)
            {
                var cut = PipelineCostModel.CutTensors(problem, chain[j + 1]);
                int minimum = cut.Any(k => problem.Tensors[k].IsFloat) ? bits.MinimumBits(problem, cut) : 32;
                double transfer = PipelineCostModel.TransmissionSeconds(LinkProblem(problem, devices[j].Uplink!), cut, PipelineCostModel.UniformBits(cut.Length, minimum));
                bottleneck = Math.Max(bottleneck, transfer);
                serial += transfer;
            }
        }
        if (latencyBudget is { } limit && serial > limit)
        {
            return null;
        }
        return new Outcome([.. chain.Skip(1).Take(devices.Length - 1).Select(c => (bool[])c.Clone())], bottleneck, serial);
    }

    private static bool Better(Outcome a, Outcome b)
    {
        double tolerance = 1e-12 * Math.Max(1e-3, b.Bottleneck);
        if (a.Bottleneck < b.Bottleneck - tolerance)
        {
            return true;
        }
        return a.Bottleneck <= b.Bottleneck + tolerance && a.SerialLatency < b.SerialLatency - tolerance;
    }

    private static bool Contains(bool[] outer, bool[] inner)
    {
        for (int v = 0; v < outer.Length; v++)
        {
            if (inner[v] && !outer[v])
            {
                return false;
            }
        }
        return true;
    }
}
