namespace Coach.Engine.Online;

/// <summary>Task separability S (paper eq. 9) and the early-exit answer (eq. 10) from the similarities t_j.</summary>
public static class Separability
{
    /// <summary>Floor for t_SH in eq. 9, so that a feature orthogonal to all but one centre gives a large finite S.</summary>
    public const float SecondHighestFloor = 1e-6f;

    /// <summary>
    /// Eq. 9: <c>S = ‖T‖₂ · (t_H − t_SH) · t_H / t_SH</c>, where T = {t_j} is the vector of similarities (its L2 norm),
    /// t_H the highest and t_SH the second-highest similarity. Eq. 10: the early-exit answer is <c>argmax_j t_j</c>.
    /// </summary>
    /// <returns>S; 0 when every similarity is 0.</returns>
    public static float Compute(ReadOnlySpan<float> similarities, out int bestLabel)
    {
        if (similarities.Length < 2)
        {
            throw new ArgumentException("Separability needs at least two labels.", nameof(similarities));
        }

        float highest = -1f;
        float second = -1f;
        bestLabel = 0;
        float normSquared = 0f;
        for (int j = 0; j < similarities.Length; j++)
        {
            float t = similarities[j];
            normSquared += t * t;
            if (t > highest)
            {
                second = highest;
                highest = t;
                bestLabel = j;
            }
            else if (t > second)
            {
                second = t;
            }
        }

        if (highest <= 0f)
        {
            return 0f;
        }

        float norm = MathF.Sqrt(normSquared);
        return norm * (highest - second) * highest / Math.Max(second, SecondHighestFloor);
    }
}
