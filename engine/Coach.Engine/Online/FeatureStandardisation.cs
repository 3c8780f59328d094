namespace Coach.Engine.Online;

/// <summary>
/// Per-dimension standardisation of task features, <c>F' = (F − μ) / σ</c>, with μ and σ measured on the calibration
/// features. The semantic cache compares standardised features.
/// </summary>
/// <remarks>
/// Why: the task feature is the GAP of post-activation tensors, so every value is ≥ 0 and every feature points into the same
/// orthant; raw cosine similarities to all label centres then sit close to 1 and the separability of eq. 9 barely tells
/// labels apart, least of all at early cuts. Removing the common mean and equalising the channels' spread leaves the
/// directions that differ between labels, so the similarities of eq. 8 spread out and S becomes informative. The paper
/// compares raw GAP vectors; this is a deliberate departure, stored with the calibration (scheduler.json) so that edge
/// and calibration compute the same S.
/// </remarks>
public sealed class FeatureStandardisation
{
    /// <summary>σ below this (a channel that never varies on the calibration set) is treated as this, so the channel adds ~0.</summary>
    public const float MinimumScale = 1e-6f;

    private readonly float[] _mean;
    private readonly float[] _inverseScale;

    public FeatureStandardisation(float[] mean, float[] scale)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(scale);
        if (mean.Length == 0 || mean.Length != scale.Length)
        {
            throw new ArgumentException($"A standardisation needs one mean and one scale per feature value; got {mean.Length} means and {scale.Length} scales.", nameof(scale));
        }

        for (int i = 0; i < mean.Length; i++)
        {
            if (!float.IsFinite(mean[i]) || !float.IsFinite(scale[i]) || scale[i] <= 0f)
            {
                throw new ArgumentException($"Feature value {i} has mean {mean[i]} and scale {scale[i]}; the mean must be finite and the scale finite and > 0.", nameof(scale));
            }
        }

        _mean = (float[])mean.Clone();
        _inverseScale = new float[scale.Length];
        Scale = (float[])scale.Clone();
        for (int i = 0; i < scale.Length; i++)
        {
            _inverseScale[i] = 1f / scale[i];
        }
    }

    public int Length => _mean.Length;

    /// <summary>μ per feature value.</summary>
    public ReadOnlySpan<float> Mean => _mean;

    /// <summary>σ per feature value (floored at <see cref="MinimumScale"/>).</summary>
    public float[] Scale { get; }

    /// <summary>μ and σ of <paramref name="features"/> (row-major, one row of <paramref name="featureLength"/> values per sample).</summary>
    public static FeatureStandardisation Fit(ReadOnlySpan<float> features, int featureLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(featureLength, 1);
        if (features.Length == 0 || features.Length % featureLength != 0)
        {
            throw new ArgumentException($"Fitting a standardisation needs whole rows of {featureLength} values; got {features.Length} values.", nameof(features));
        }

        int n = features.Length / featureLength;
        var sum = new double[featureLength];
        var sumSquares = new double[featureLength];
        for (int s = 0; s < n; s++)
        {
            var row = features.Slice(s * featureLength, featureLength);
            for (int i = 0; i < featureLength; i++)
            {
                sum[i] += row[i];
                sumSquares[i] += (double)row[i] * row[i];
            }
        }

        var mean = new float[featureLength];
        var scale = new float[featureLength];
        for (int i = 0; i < featureLength; i++)
        {
            double m = sum[i] / n;
            double variance = Math.Max(0, (sumSquares[i] / n) - (m * m));
            mean[i] = (float)m;
            scale[i] = Math.Max(MinimumScale, (float)Math.Sqrt(variance));
        }

        return new FeatureStandardisation(mean, scale);
    }

    /// <summary><c>(F − μ) / σ</c> into <paramref name="standardised"/>; allocation-free.</summary>
    public void Apply(ReadOnlySpan<float> feature, Span<float> standardised)
    {
        if (feature.Length < Length || standardised.Length < Length)
        {
            throw new ArgumentException($"A standardised feature has {Length} values; got {feature.Length} in and room for {standardised.Length} out.", nameof(feature));
        }

        for (int i = 0; i < _mean.Length; i++)
        {
            standardised[i] = (feature[i] - _mean[i]) * _inverseScale[i];
        }
    }
}
