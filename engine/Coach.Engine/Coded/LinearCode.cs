namespace Coach.Engine.Coded;

/// <summary>How a <see cref="LinearCode"/> adds redundancy.</summary>
public enum RedundancyKind
{
    /// <summary>n = k: every slice once; all k answers are needed.</summary>
    Uncoded,

    /// <summary>Each of the k slices sent to ⌈n/k⌉ or ⌊n/k⌋ workers; one answer per slice is needed.</summary>
    Replication,

    /// <summary>An (n, k) MDS code: any k answers decode.</summary>
    Mds,
}

/// <summary>
/// A real-valued linear code over the k slices of a layer's input (docs/coded.md §2): worker i receives
/// x̃_i = Σ_j G[i, j] · x_j. A convolution without bias is linear, so worker i's answer is Σ_j G[i, j] · y_j and the k
/// slices of the output are recovered from the answers of any set S of workers whose rows G_S have rank k:
/// y = G_S⁻¹ ỹ_S.
/// </summary>
public sealed class LinearCode
{
    private readonly double[] _generator;

    private LinearCode(RedundancyKind kind, int n, int k, double[] generator)
    {
        Kind = kind;
        N = n;
        K = k;
        _generator = generator;
    }

    public RedundancyKind Kind { get; }

    /// <summary>Workers (coded slices).</summary>
    public int N { get; }

    /// <summary>Slices of the layer; answers needed.</summary>
    public int K { get; }

    public double this[int row, int column] => _generator[(row * K) + column];

    /// <summary>The identity: k workers, one slice each.</summary>
    public static LinearCode Uncoded(int k)
    {
        Check(k, k);
        var g = new double[k * k];
        for (int i = 0; i < k; i++)
        {
            g[(i * k) + i] = 1;
        }

        return new LinearCode(RedundancyKind.Uncoded, k, k, g);
    }

    /// <summary>Worker i computes slice i mod k.</summary>
    public static LinearCode Replication(int n, int k)
    {
        Check(n, k);
        var g = new double[n * k];
        for (int i = 0; i < n; i++)
        {
            g[(i * k) + (i % k)] = 1;
        }

        return new LinearCode(RedundancyKind.Replication, n, k, g);
    }

    /// <summary>
    /// A systematic (n, k) MDS code from a real Vandermonde matrix on the n Chebyshev nodes
    /// x_i = cos((2i + 1)π / 2n): G = V · V_T⁻¹, where T are k nodes spread evenly over the n, so rows T of G are the
    /// identity (the first k workers get the plain slices) and the other rows are parity. Every k rows of V are
    /// independent (distinct nodes), hence every k rows of G: the code is MDS. Chebyshev nodes and spread systematic
    /// nodes keep the worst condition number of a k-row submatrix small (<see cref="WorstConditionNumber"/>: 12 for
    /// (6, 5), 34 for (6, 4), 38 for (6, 3)), where equispaced nodes or Cauchy parity reach the hundreds.
    /// </summary>
    public static LinearCode SystematicVandermonde(int n, int k)
    {
        Check(n, k);
        var nodes = new double[n];
        for (int i = 0; i < n; i++)
        {
            nodes[i] = Math.Cos(((2 * i) + 1) * Math.PI / (2 * n));
        }

        var systematic = new int[k];
        for (int j = 0; j < k; j++)
        {
            systematic[j] = k == 1 ? 0 : (int)Math.Round(j * (n - 1) / (double)(k - 1), MidpointRounding.AwayFromZero);
        }

        // Systematic nodes first, then the others in order.
        var order = systematic.Concat(Enumerable.Range(0, n).Where(i => !systematic.Contains(i))).ToArray();
        var v = new double[n * k];
        for (int i = 0; i < n; i++)
        {
            double p = 1;
            for (int j = 0; j < k; j++)
            {
                v[(i * k) + j] = p;
                p *= nodes[order[i]];
            }
        }

        var top = new double[k * k];
        Array.Copy(v, top, k * k);
        var inverse = new double[k * k];
        if (!Invert(top, inverse, k, new double[2 * k * k]))
        {
            throw new InvalidOperationException("distinct Chebyshev nodes gave a singular Vandermonde matrix");
        }

        var g = new double[n * k];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < k; j++)
            {
                double s = 0;
                for (int m = 0; m < k; m++)
                {
                    s += v[(i * k) + m] * inverse[(m * k) + j];
                }

                g[(i * k) + j] = i < k ? (i == j ? 1 : 0) : s;
            }
        }

        return new LinearCode(RedundancyKind.Mds, n, k, g);
    }

    /// <summary>2-norm condition number of the k×k submatrix of rows <paramref name="rows"/> (∞ when singular).</summary>
    public double ConditionNumber(ReadOnlySpan<int> rows)
    {
        if (rows.Length != K)
        {
            throw new ArgumentException($"a {K}-slice code decodes from {K} rows; {rows.Length} given", nameof(rows));
        }

        // σ_max / σ_min from the eigenvalues of AᵀA (cyclic Jacobi: exact enough for k ≤ 16).
        var a = new double[K * K];
        for (int i = 0; i < K; i++)
        {
            for (int j = 0; j < K; j++)
            {
                double s = 0;
                foreach (int r in rows)
                {
                    s += this[r, i] * this[r, j];
                }

                a[(i * K) + j] = s;
            }
        }

        var eigen = SymmetricEigenvalues(a, K);
        double max = eigen.Max(), min = eigen.Min();
        return min <= max * 1e-30 ? double.PositiveInfinity : Math.Sqrt(max / min);
    }

    /// <summary>The largest condition number over every set of K rows that can decode (rank K), and one such set.</summary>
    public (double ConditionNumber, int[] Rows) WorstConditionNumber()
    {
        double worst = 0;
        int[] worstRows = [];
        foreach (var rows in Subsets(N, K))
        {
            double c = ConditionNumber(rows);
            if (double.IsFinite(c) && c > worst)
            {
                worst = c;
                worstRows = rows;
            }
        }

        return (worst, worstRows);
    }

    /// <summary>Every increasing K-subset of 0 … n − 1.</summary>
    public static IEnumerable<int[]> Subsets(int n, int k)
    {
        var s = Enumerable.Range(0, k).ToArray();
        while (true)
        {
            yield return (int[])s.Clone();
            int i = k - 1;
            while (i >= 0 && s[i] == n - k + i)
            {
                i--;
            }

            if (i < 0)
            {
                yield break;
            }

            s[i]++;
            for (int j = i + 1; j < k; j++)
            {
                s[j] = s[j - 1] + 1;
            }
        }
    }

    /// <summary>Gauss–Jordan with partial pivoting: <paramref name="inverse"/> = <paramref name="a"/>⁻¹ (k×k, row-major); false when singular. <paramref name="scratch"/> holds 2k² doubles. Allocation-free.</summary>
    internal static bool Invert(ReadOnlySpan<double> a, Span<double> inverse, int k, Span<double> scratch)
    {
        int w = 2 * k;
        var m = scratch[..(k * w)];
        double norm = 0;
        for (int i = 0; i < k; i++)
        {
            for (int j = 0; j < k; j++)
            {
                m[(i * w) + j] = a[(i * k) + j];
                m[(i * w) + k + j] = i == j ? 1 : 0;
                norm = Math.Max(norm, Math.Abs(a[(i * k) + j]));
            }
        }

        for (int c = 0; c < k; c++)
        {
            int pivot = c;
            for (int r = c + 1; r < k; r++)
            {
                if (Math.Abs(m[(r * w) + c]) > Math.Abs(m[(pivot * w) + c]))
                {
                    pivot = r;
                }
            }

            if (Math.Abs(m[(pivot * w) + c]) <= norm * 1e-13)
            {
                return false;
            }

            if (pivot != c)
            {
                for (int j = 0; j < w; j++)
                {
                    (m[(c * w) + j], m[(pivot * w) + j]) = (m[(pivot * w) + j], m[(c * w) + j]);
                }
            }

            double d = m[(c * w) + c];
            for (int j = 0; j < w; j++)
            {
                m[(c * w) + j] /= d;
            }

            for (int r = 0; r < k; r++)
            {
                if (r != c)
                {
                    double f = m[(r * w) + c];
                    if (f != 0)
                    {
                        for (int j = 0; j < w; j++)
                        {
                            m[(r * w) + j] -= f * m[(c * w) + j];
                        }
                    }
                }
            }
        }

        for (int i = 0; i < k; i++)
        {
            for (int j = 0; j < k; j++)
            {
                inverse[(i * k) + j] = m[(i * w) + k + j];
            }
        }

        return true;
    }

    private static double[] SymmetricEigenvalues(double[] a, int n)
    {
        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0;
            for (int p = 0; p < n; p++)
            {
                for (int q = p + 1; q < n; q++)
                {
                    off += a[(p * n) + q] * a[(p * n) + q];
                }
            }

            if (off < 1e-30)
            {
                break;
            }

            for (int p = 0; p < n; p++)
            {
                for (int q = p + 1; q < n; q++)
                {
                    double apq = a[(p * n) + q];
                    if (Math.Abs(apq) < 1e-300)
                    {
                        continue;
                    }

                    double theta = (a[(q * n) + q] - a[(p * n) + p]) / (2 * apq);
                    double t = Math.Sign(theta) / (Math.Abs(theta) + Math.Sqrt((theta * theta) + 1));
                    if (theta == 0)
                    {
                        t = 1;
                    }

                    double c = 1 / Math.Sqrt((t * t) + 1), s = t * c;
                    for (int r = 0; r < n; r++)
                    {
                        double arp = a[(r * n) + p], arq = a[(r * n) + q];
                        a[(r * n) + p] = (c * arp) - (s * arq);
                        a[(r * n) + q] = (s * arp) + (c * arq);
                    }

                    for (int r = 0; r < n; r++)
                    {
                        double apr = a[(p * n) + r], aqr = a[(q * n) + r];
                        a[(p * n) + r] = (c * apr) - (s * aqr);
                        a[(q * n) + r] = (s * apr) + (c * aqr);
                    }
                }
            }
        }

        return [.. Enumerable.Range(0, n).Select(i => a[(i * n) + i])];
    }

    private static void Check(int n, int k)
    {
        if (k < 1 || n < k || n > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(n), $"a code needs 1 ≤ k ≤ n ≤ 64 (got n = {n}, k = {k})");
        }
    }
}
