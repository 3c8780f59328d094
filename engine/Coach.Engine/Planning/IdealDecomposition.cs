using System.Numerics;

namespace Coach.Engine.Planning;

/// <summary>
/// The recursive divide-and-conquer structure of the partitions of a DAG (paper §III-B, docs/planner.md §5). A partition is an
/// ideal (downward-closed layer set). Within a convex set of layers:
/// <list type="bullet">
/// <item>articulation layers (comparable with every other layer of the set: every path passes through them)
/// split it into a series of blocks; an ideal holds a prefix of the articulation layers, every block before the
/// next one in full, and an ideal of exactly one block (a cut lies inside one block or on a boundary);</item>
/// <item>a block falls apart into parallel branches (weakly connected components) whose ideals combine freely;</item>
/// <item>a connected branch without articulation layer (crossing skip connections) is split on a minimal layer s:
/// the ideals without s (s and its descendants removed) and those with s (s removed).</item>
/// </list>
/// Every sub-problem is convex again, so the recursion covers every ideal exactly once.
/// </summary>
public sealed class IdealDecomposition
{
    private readonly int[][] _successors;
    private readonly int[][] _predecessors;
    private readonly Dictionary<string, Part> _memo = new(StringComparer.Ordinal);

    private IdealDecomposition(int[][] predecessors, int[][] successors)
    {
        _predecessors = predecessors;
        _successors = successors;
        var all = Enumerable.Range(0, predecessors.Length).ToArray();
        Root = Decompose(all);
    }

    internal Part Root { get; }

    public int NodeCount => _predecessors.Length;

    public static IdealDecomposition Build(PlanningProblem problem) => new(problem.Predecessors, problem.Successors);

    public static IdealDecomposition Build(int[][] predecessors, int[][] successors) => new(predecessors, successors);

    /// <summary>Number of ideals (valid partitions), counted on the decomposition without enumerating them.</summary>
    public BigInteger CountIdeals() => Root.Count;

    /// <summary>Series blocks at the top level and the largest block's ideal count.</summary>
    public (int Blocks, BigInteger LargestBlock) TopLevelShape() => Root is SeriesPart s
        ? (s.Blocks.Length, s.Blocks.Max(b => b.Count))
        : (1, Root.Count);

    /// <summary>Calls <paramref name="visit"/> once per ideal with the edge set in <paramref name="onEdge"/> (mutated in place; copy it to keep it).</summary>
    public void Enumerate(bool[] onEdge, Action visit)
    {
        ArgumentNullException.ThrowIfNull(onEdge);
        Array.Clear(onEdge);
        Enumerate(Root, onEdge, visit);
    }

    private static void Enumerate(Part part, bool[] onEdge, Action visit)
    {
        switch (part)
        {
            case EmptyPart:
                visit();
                break;
            case SeriesPart s:
                for (int j = 0; j < s.Blocks.Length; j++)
                {
                    if (j > 0)
                    {
                        SetAll(s.Blocks[j - 1].Nodes, onEdge, true);
                        onEdge[s.Articulations[j - 1]] = true;
                    }
                    Enumerate(s.Blocks[j], onEdge, visit);
                }
                SetAll(s.Nodes, onEdge, false);
                break;
            case ProductPart p:
                EnumerateProduct(p.Components, 0, onEdge, visit);
                break;
            case PivotPart b:
                Enumerate(b.Without, onEdge, visit);
                onEdge[b.Pivot] = true;
                Enumerate(b.With, onEdge, visit);
                onEdge[b.Pivot] = false;
                break;
        }
    }

    private static void EnumerateProduct(Part[] components, int i, bool[] onEdge, Action visit)
    {
        if (i == components.Length)
        {
            visit();
            return;
        }
        Enumerate(components[i], onEdge, () => EnumerateProduct(components, i + 1, onEdge, visit));
    }

    private static void SetAll(int[] nodes, bool[] onEdge, bool value)
    {
        foreach (var v in nodes)
        {
            onEdge[v] = value;
        }
    }

    /// <summary><paramref name="nodes"/>: a convex set, ascending (= topological order).</summary>
    private Part Decompose(int[] nodes)
    {
        if (nodes.Length == 0)
        {
            return EmptyPart.Instance;
        }
        var key = string.Join(',', nodes);
        if (_memo.TryGetValue(key, out var known))
        {
            return known;
        }
        var part = DecomposeUncached(nodes);
        _memo[key] = part;
        return part;
    }

    private Part DecomposeUncached(int[] nodes)
    {
        int m = nodes.Length;
        var local = new Dictionary<int, int>(m);
        for (int i = 0; i < m; i++)
        {
            local[nodes[i]] = i;
        }
        int words = (m + 63) >> 6;
        // Descendants within the set, as bit sets over local indices (reverse topological order).
        var desc = new ulong[m][];
        for (int i = m - 1; i >= 0; i--)
        {
            var d = new ulong[words];
            foreach (var s in _successors[nodes[i]])
            {
                if (local.TryGetValue(s, out var ls))
                {
                    d[ls >> 6] |= 1UL << (ls & 63);
                    var ds = desc[ls];
                    for (int w = 0; w < words; w++)
                    {
                        d[w] |= ds[w];
                    }
                }
            }
            desc[i] = d;
        }
        var ancestors = new int[m];
        var descendants = new int[m];
        for (int i = 0; i < m; i++)
        {
            for (int w = 0; w < words; w++)
            {
                ulong bits = desc[i][w];
                descendants[i] += BitOperations.PopCount(bits);
                while (bits != 0)
                {
                    int b = BitOperations.TrailingZeroCount(bits);
                    ancestors[(w << 6) + b]++;
                    bits &= bits - 1;
                }
            }
        }
        var articulations = new List<int>();
        for (int i = 0; i < m; i++)
        {
            if (ancestors[i] + descendants[i] == m - 1)
            {
                articulations.Add(i);
            }
        }

        if (articulations.Count > 0)
        {
            // Series: nodes before the first articulation are its ancestors, and so on (all are comparable).
            var blocks = new Part[articulations.Count + 1];
            int from = 0;
            for (int j = 0; j <= articulations.Count; j++)
            {
                int to = j < articulations.Count ? articulations[j] : m;
                blocks[j] = Decompose(nodes[from..to]);
                from = to + 1;
            }
            return new SeriesPart(nodes, [.. articulations.Select(i => nodes[i])], blocks);
        }

        // Parallel branches: weakly connected components.
        var component = new int[m];
        Array.Fill(component, -1);
        int components = 0;
        var stack = new Stack<int>();
        for (int i = 0; i < m; i++)
        {
            if (component[i] >= 0)
            {
                continue;
            }
            component[i] = components;
            stack.Push(i);
            while (stack.Count > 0)
            {
                int v = stack.Pop();
                foreach (var u in _successors[nodes[v]].Concat(_predecessors[nodes[v]]))
                {
                    if (local.TryGetValue(u, out var lu) && component[lu] < 0)
                    {
                        component[lu] = components;
                        stack.Push(lu);
                    }
                }
            }
            components++;
        }
        if (components > 1)
        {
            var parts = new Part[components];
            for (int c = 0; c < components; c++)
            {
                parts[c] = Decompose([.. Enumerable.Range(0, m).Where(i => component[i] == c).Select(i => nodes[i])]);
            }
            return new ProductPart(nodes, parts);
        }

        // Connected, no articulation: split on the first minimal layer.
        int pivot = 0;
        var pivotDesc = desc[pivot];
        var without = new List<int>();
        var with = new List<int>();
        for (int i = 1; i < m; i++)
        {
            with.Add(nodes[i]);
            if ((pivotDesc[i >> 6] & (1UL << (i & 63))) == 0)
            {
                without.Add(nodes[i]);
            }
        }
        return new PivotPart(nodes, nodes[pivot], Decompose([.. without]), Decompose([.. with]));
    }

    internal abstract class Part(int[] nodes)
    {
        public int[] Nodes { get; } = nodes;
        public abstract BigInteger Count { get; }
    }

    internal sealed class EmptyPart : Part
    {
        public static readonly EmptyPart Instance = new();
        private EmptyPart() : base([]) { }
        public override BigInteger Count => BigInteger.One;
    }

    internal sealed class SeriesPart(int[] nodes, int[] articulations, Part[] blocks) : Part(nodes)
    {
        public int[] Articulations { get; } = articulations;
        public Part[] Blocks { get; } = blocks;
        private BigInteger? _count;
        // A prefix of j articulation layers, then any ideal of block j.
        public override BigInteger Count => _count ??= Blocks.Aggregate(BigInteger.Zero, (s, b) => s + b.Count);
    }

    internal sealed class ProductPart(int[] nodes, Part[] components) : Part(nodes)
    {
        public Part[] Components { get; } = components;
        private BigInteger? _count;
        public override BigInteger Count => _count ??= Components.Aggregate(BigInteger.One, (s, c) => s * c.Count);
    }

    internal sealed class PivotPart(int[] nodes, int pivot, Part without, Part with) : Part(nodes)
    {
        public int Pivot { get; } = pivot;
        public Part Without { get; } = without;
        public Part With { get; } = with;
        private BigInteger? _count;
        public override BigInteger Count => _count ??= Without.Count + With.Count;
    }
}
