namespace Coach.Engine.Online;

/// <summary>The transmission stage at a candidate bit width, as eq. 11 sees it.</summary>
public interface ITransmissionAtBits
{
    /// <summary>T_t(Q): seconds on the link for one frame sent at <paramref name="bits"/>.</summary>
    double TransmissionSeconds(int bits);

    /// <summary>Whether <paramref name="bits"/> may be chosen at all (the planner's T_max of eq. 3; always true online).</summary>
    bool Admits(int bits);
}

/// <summary>
/// Eq. 11, the one implementation for both components: <c>Q_c = argmin_{Q ≥ Q_r} |T_t(Q) − max{T_e, T_t(Q), T_c}|</c> over a
/// set of candidate widths. Online (<see cref="OnlineScheduler"/>) Q_r is the S_adj floor and the candidates every UAQ width up
/// to the calibration's maximum; offline (<c>BitChooser</c>) Q_r is the calibrated minimum of eq. 1, the candidates include
/// 32 (raw float), and T_max rules out widths that make a task too slow.
/// </summary>
/// <remarks>
/// Read literally the argmin is not unique: the bubble term is 0 for every Q whose transmission is itself the bottleneck. The
/// tie is broken by the pipeline period <c>max{T_e, T_t(Q), T_c}</c>, which the bits must not raise: the candidates are the
/// Q ≥ Q_r with <c>T_t(Q) ≤ max{T_e, T_c}</c> (all have the same, smallest period), and among them the bubble
/// <c>max{T_e, T_c} − T_t(Q)</c> is smallest for the widest (T_t grows with Q). When even Q_r makes transmission the
/// bottleneck, Q_r is the answer (every wider Q lengthens the period). Bits above Q_r cost no throughput and buy accuracy.
/// </remarks>
public static class BubbleFillingBits
{
    private static readonly int[] UaqWidths = [1, 2, 3, 4, 5, 6, 7, 8];

    /// <summary>The online candidates: every UAQ width from 1 to <paramref name="maximumBits"/> (at most 8).</summary>
    public static ReadOnlySpan<int> UaqWidthsUpTo(int maximumBits) => UaqWidths.AsSpan(0, Math.Clamp(maximumBits, 0, UaqWidths.Length));

    /// <summary>
    /// Q_c among <paramref name="candidates"/> (ascending) above <paramref name="minimumBits"/>, or Q_r itself when none fills
    /// the bubble; <paramref name="computeBottleneckSeconds"/> is max{T_e, T_c}. Allocation-free (the link is a struct).
    /// </summary>
    public static int Choose<TLink>(int minimumBits, ReadOnlySpan<int> candidates, double computeBottleneckSeconds, ref TLink link)
        where TLink : struct, ITransmissionAtBits
    {
        for (int i = candidates.Length - 1; i >= 0; i--)
        {
            int width = candidates[i];
            if (width <= minimumBits)
            {
                break;
            }

            if (link.TransmissionSeconds(width) <= computeBottleneckSeconds && link.Admits(width))
            {
                return width;
            }
        }

        return minimumBits;
    }
}
