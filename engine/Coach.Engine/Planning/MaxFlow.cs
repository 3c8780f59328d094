namespace Coach.Engine.Planning;

/// <summary>Dinic's maximum flow on a graph with real capacities; the minimum cut is what the source still reaches.</summary>
public sealed class MaxFlow
{
    private readonly List<int>[] _adjacent;
    private readonly List<int> _to = [];
    private readonly List<double> _capacity = [];
    private int[] _level = [];
    private int[] _next = [];

    public MaxFlow(int vertices)
    {
        _adjacent = new List<int>[vertices];
        for (int i = 0; i < vertices; i++)
        {
            _adjacent[i] = [];
        }
    }

    public int VertexCount => _adjacent.Length;

    /// <summary>Adds u→v with the given capacity (double.PositiveInfinity allowed).</summary>
    public void AddEdge(int u, int v, double capacity)
    {
        if (capacity < 0 || double.IsNaN(capacity))
        {
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "capacities must be non-negative");
        }
        _adjacent[u].Add(_to.Count);
        _to.Add(v);
        _capacity.Add(capacity);
        _adjacent[v].Add(_to.Count);
        _to.Add(u);
        _capacity.Add(0);
    }

    public double Run(int source, int sink)
    {
        double flow = 0;
        while (BuildLevels(source, sink))
        {
            _next = new int[VertexCount];
            double pushed;
            while ((pushed = Push(source, sink, double.PositiveInfinity)) > 0)
            {
                flow += pushed;
                if (double.IsPositiveInfinity(pushed))
                {
                    throw new InvalidOperationException("the minimum cut has infinite capacity");
                }
            }
        }
        return flow;
    }

    /// <summary>After <see cref="Run"/>: vertices reachable from the source in the residual graph (its side of a minimum cut).</summary>
    public bool[] SourceSide(int source)
    {
        var seen = new bool[VertexCount];
        var queue = new Queue<int>();
        seen[source] = true;
        queue.Enqueue(source);
        while (queue.Count > 0)
        {
            int u = queue.Dequeue();
            foreach (var e in _adjacent[u])
            {
                if (_capacity[e] > Epsilon(e) && !seen[_to[e]])
                {
                    seen[_to[e]] = true;
                    queue.Enqueue(_to[e]);
                }
            }
        }
        return seen;
    }

    private double Epsilon(int e) => double.IsPositiveInfinity(_capacity[e]) ? 0 : 1e-15;

    private bool BuildLevels(int source, int sink)
    {
        _level = new int[VertexCount];
        Array.Fill(_level, -1);
        _level[source] = 0;
        var queue = new Queue<int>();
        queue.Enqueue(source);
        while (queue.Count > 0)
        {
            int u = queue.Dequeue();
            foreach (var e in _adjacent[u])
            {
                if (_capacity[e] > 1e-15 && _level[_to[e]] < 0)
                {
                    _level[_to[e]] = _level[u] + 1;
                    queue.Enqueue(_to[e]);
                }
            }
        }
        return _level[sink] >= 0;
    }

    private double Push(int u, int sink, double limit)
    {
        if (u == sink)
        {
            return limit;
        }
        for (; _next[u] < _adjacent[u].Count; _next[u]++)
        {
            int e = _adjacent[u][_next[u]];
            int v = _to[e];
            if (_capacity[e] > 1e-15 && _level[v] == _level[u] + 1)
            {
                double pushed = Push(v, sink, Math.Min(limit, _capacity[e]));
                if (pushed > 0)
                {
                    _capacity[e] -= pushed;
                    _capacity[e ^ 1] += pushed;
                    return pushed;
                }
            }
        }
        return 0;
    }
}
