namespace Coach.Engine.Calibration;

/// <summary>The searches of eq. 1's calibration and its acceptance test, independent of how a width is evaluated.</summary>
public sealed partial class CutCalibrator
{
    /// <summary>The widths a tensor can take, narrowest first: UAQ 2…8, then raw float32 (eq. 1's search space).</summary>
    private static readonly int[] Widths = [2, 3, 4, 5, 6, 7, 8, 32];

    /// <summary>
    /// Per-tensor bits under one joint acceptance test (eq. 1 with <see cref="Accepts"/>'s margin): start from the shared
    /// minimum <paramref name="shared"/> on every tensor (accepted), then for each tensor, largest first
    /// (<paramref name="sizes"/>), binary-search the narrowest width it can take with the others held. Every vector it
    /// returns was accepted, it never sends more bytes than the shared width, and when <paramref name="accepts"/> is
    /// monotone (narrowing any tensor never turns a refusal into an acceptance) no single tensor can be narrowed further:
    /// a tensor fixed early stays minimal because later tensors only narrow. It is not always the byte-optimal vector
    /// (a brute force over all 8^m vectors is; docs/planner.md §4 has how often they differ); it equals it when acceptance is
    /// separable (each tensor has its own threshold). About 3 evaluations per tensor; each vector is evaluated once.
    /// </summary>
    public static int[] SearchPerTensorBits(int shared, IReadOnlyList<double> sizes, Func<int[], bool> accepts)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        ArgumentNullException.ThrowIfNull(accepts);
        if (Array.IndexOf(Widths, shared) < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(shared), shared, "the shared minimum is 2…8 or 32");
        }
        var bits = new int[sizes.Count];
        Array.Fill(bits, shared);
        var seen = new Dictionary<string, bool>(StringComparer.Ordinal);
        bool Accepts(int tensor, int width)
        {
            var trial = (int[])bits.Clone();
            trial[tensor] = width;
            var key = string.Join(',', trial);
            if (!seen.TryGetValue(key, out var ok))
            {
                ok = accepts(trial);
                seen[key] = ok;
            }
            return ok;
        }
        foreach (int i in Enumerable.Range(0, sizes.Count).OrderByDescending(i => sizes[i]).ThenBy(i => i))
        {
            int hi = Array.IndexOf(Widths, bits[i]); // accepted as it stands
            int lo = 0;
            while (lo < hi)
            {
                // From 32, try 8 first (as the shared search does): 32 → 8 is the step that saves most.
                int mid = Widths[hi] == 32 ? hi - 1 : (lo + hi) / 2;
                if (Accepts(i, Widths[mid]))
                {
                    hi = mid;
                }
                else if (Widths[hi] == 32)
                {
                    break;
                }
                else
                {
                    lo = mid + 1;
                }
            }
            bits[i] = Widths[hi];
        }
        return bits;
    }

    /// <summary>
    /// The dichotomous search over one cut's widths: 8 first (failing ⇒ 32, the cut goes unquantized), then binary search
    /// on 2…8 for the narrowest width <paramref name="safe"/> accepts — 4 evaluations. Exact when acceptance is monotone in
    /// the width; otherwise never a width that was evaluated and refused.
    /// </summary>
    public static int SearchMinimumBits(Func<int, bool> safe)
    {
        ArgumentNullException.ThrowIfNull(safe);
        if (!safe(8))
        {
            return 32;
        }
        int lo = 2;
        int hi = 8;
        while (lo < hi)
        {
            int mid = (lo + hi) / 2;
            if (safe(mid))
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }
        return hi;
    }

    /// <summary>
    /// Eq. 1 with a margin for the calibration set's finite size. With <c>a</c> frames the full model gets right and the
    /// quantized split gets wrong, and <c>b</c> the other way round, the loss is <c>(a − b)/n</c> and, the frames being
    /// paired, its standard error is about <c>√(a + b)/n</c>; the width is accepted when <c>loss + z·se ≤ ε</c>. At
    /// z = 0 this is eq. 1 (a gain is always accepted). Without the margin a width whose loss on 1,000 frames sits just
    /// under ε loses more than ε on another stream half the time.
    /// </summary>
    public static bool Accepts(string baselineCorrect, IReadOnlyList<bool> correct, double epsilon, double standardErrors)
    {
        ArgumentNullException.ThrowIfNull(baselineCorrect);
        ArgumentNullException.ThrowIfNull(correct);
        if (baselineCorrect.Length != correct.Count || correct.Count == 0)
        {
            throw new ArgumentException($"the baseline covers {baselineCorrect.Length} frames, the quantized run {correct.Count}", nameof(correct));
        }

        int lost = 0, gained = 0;
        for (int i = 0; i < correct.Count; i++)
        {
            bool before = baselineCorrect[i] == '1';
            lost += before && !correct[i] ? 1 : 0;
            gained += !before && correct[i] ? 1 : 0;
        }

        double n = correct.Count;
        double loss = (lost - gained) / n;
        double standardError = Math.Sqrt(lost + gained) / n;
        return loss + (standardErrors * standardError) <= epsilon;
    }
}
