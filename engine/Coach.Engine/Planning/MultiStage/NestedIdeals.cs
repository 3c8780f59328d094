namespace Coach.Engine.Planning.MultiStage;

/// <summary>
/// Every ideal (downward-closed layer set) of the DAG, enumerated once by <see cref="IdealDecomposition"/> and
/// ordered by size, with the ideals each one contains: a stage is the difference I \ I' of a nested pair I' ⊆ I.
/// Per ideal the additive quantities the stages need, so that a stage's cost is a difference of two numbers: the
/// layers' weights, the activations its layers produce, and the raw bytes of its cut (what the next stage receives).
/// Building it costs O(N² · n/64) for N ideals of n layers (the subset tests); it holds the P nested pairs.
/// </summary>
internal sealed class NestedIdeals
{
    public NestedIdeals(PlanningProblem problem, LayerMemory memory, int maxIdeals, long maxNestedPairs)
    {
        var decomposition = IdealDecomposition.Build(problem);
        var count = decomposition.CountIdeals();
        if (count > maxIdeals)
        {
            throw new InvalidOperationException(
                $"the layer DAG has {count} ideals, more than the {maxIdeals} the exact multi-stage search holds (its work grows with their square); the graph is unusually wide");
        }
        var sets = new List<bool[]>((int)count);
        var onEdge = new bool[problem.NodeCount];
        decomposition.Enumerate(onEdge, () => sets.Add((bool[])onEdge.Clone()));
        Sets = [.. sets.OrderBy(s => s.Count(x => x))];
        int n = problem.NodeCount;
        int words = (n + 63) >> 6;
        var bitsets = new ulong[Sets.Length][];
        var sizes = new int[Sets.Length];
        for (int i = 0; i < Sets.Length; i++)
        {
            bitsets[i] = new ulong[words];
            for (int v = 0; v < n; v++)
            {
                if (Sets[i][v])
                {
                    bitsets[i][v >> 6] |= 1UL << (v & 63);
                    sizes[i]++;
                }
            }
        }
        Full = Sets.Length - 1;
        long pairs = 0;
        Subsets = new int[Sets.Length][];
        for (int i = 0; i < Sets.Length; i++)
        {
            var inside = new List<int>();
            for (int j = 0; j < Sets.Length && sizes[j] <= sizes[i]; j++)
            {
                if (IsSubset(bitsets[j], bitsets[i]))
                {
                    inside.Add(j);
                }
            }
            Subsets[i] = [.. inside];
            pairs += inside.Count;
            if (pairs > maxNestedPairs)
            {
                throw new InvalidOperationException(
                    $"the layer DAG has more than {maxNestedPairs} pairs of nested ideals ({Sets.Length} ideals); the exact multi-stage search does not hold that many");
            }
        }
        NestedPairs = pairs;

        var outputBytes = new long[n];
        foreach (var t in problem.Tensors)
        {
            if (t.Producer >= 0)
            {
                outputBytes[t.Producer] += t.RawBytes;
            }
        }
        Cuts = new int[Sets.Length][];
        Deployable = new bool[Sets.Length];
        WeightBytes = new long[Sets.Length];
        ProducedBytes = new long[Sets.Length];
        CutRawBytes = new long[Sets.Length];
        for (int i = 0; i < Sets.Length; i++)
        {
            Cuts[i] = PipelineCostModel.CutTensors(problem, Sets[i]);
            Deployable[i] = CutConstraints.Check(problem, Cuts[i]) == CutViolation.None;
            WeightBytes[i] = SumOver(Sets[i], memory.WeightBytes);
            ProducedBytes[i] = SumOver(Sets[i], outputBytes);
            CutRawBytes[i] = Cuts[i].Sum(k => problem.Tensors[k].RawBytes);
        }
    }

    /// <summary>The ideals, smallest first: index 0 is the empty set, <see cref="Full"/> every layer.</summary>
    public bool[][] Sets { get; }
    public int Full { get; }
    public int Count => Sets.Length;
    /// <summary>Subsets[i]: the ideals contained in ideal i (itself included), ascending.</summary>
    public int[][] Subsets { get; }
    public long NestedPairs { get; }
    /// <summary>Cut tensors of each ideal: what leaves the devices that hold it (<see cref="PipelineCostModel.CutTensors"/>).</summary>
    public int[][] Cuts { get; }
    /// <summary>Whether a link can carry the ideal's cut (<see cref="CutConstraints"/>): only such ideals end an edge device's stage.</summary>
    public bool[] Deployable { get; }
    public long[] WeightBytes { get; }
    /// <summary>Raw bytes of the values the ideal's layers produce.</summary>
    public long[] ProducedBytes { get; }
    /// <summary>Raw bytes of the ideal's cut tensors: the activations the next stage receives (dequantized).</summary>
    public long[] CutRawBytes { get; }

    /// <summary>Σ of per-layer seconds over each ideal.</summary>
    public double[] SumSeconds(double[] layerSeconds)
    {
        var sums = new double[Count];
        for (int i = 0; i < Count; i++)
        {
            double s = 0;
            for (int v = 0; v < layerSeconds.Length; v++)
            {
                if (Sets[i][v])
                {
                    s += layerSeconds[v];
                }
            }
            sums[i] = s;
        }
        return sums;
    }

    /// <summary>
    /// Memory of the stage I \ I': the weights of its layers, the values they produce and the values it receives —
    /// every activation of one frame held at once (no buffer reuse), an upper bound on what the runtime needs.
    /// </summary>
    public (long Weights, long Activations) StageMemory(int inner, int outer) =>
        (WeightBytes[outer] - WeightBytes[inner], ProducedBytes[outer] - ProducedBytes[inner] + CutRawBytes[inner]);

    private static bool IsSubset(ulong[] inner, ulong[] outer)
    {
        for (int w = 0; w < inner.Length; w++)
        {
            if ((inner[w] & ~outer[w]) != 0)
            {
                return false;
            }
        }
        return true;
    }

    private static long SumOver(bool[] set, long[] values)
    {
        long s = 0;
        for (int v = 0; v < set.Length; v++)
        {
            if (set[v])
            {
                s += values[v];
            }
        }
        return s;
    }
}
