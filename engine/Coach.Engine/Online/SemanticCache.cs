namespace Coach.Engine.Online;

/// <summary>
/// Label semantic centres T_j^c (paper §III-C): one running mean of task features per label, warmed on the calibration
/// set and updated with the labels the cloud returns (eq. 7), and the cosine similarities t_j of a feature to them (eq. 8).
/// </summary>
/// <remarks>
/// With <c>countCap</c> unset, eq. 7 is applied exactly: <c>T_j ← (m_j T_j + F) / (m_j + 1)</c>, so a centre is the mean of
/// every feature seen. For drifting streams (lighting, camera motion) set <c>countCap = W</c>: m_j stops growing at W − 1, so
/// the update becomes an exponential moving average with weight 1/W and the centre follows the last ~W features.
/// With a <see cref="FeatureStandardisation"/>, every feature is standardised before it updates a centre or is compared,
/// centres live in the standardised space, and eq. 8's cosine (then in [−1, 1]) is mapped to [0, 1] as <c>(1 + cos) / 2</c>.
/// </remarks>
public sealed class SemanticCache
{
    private readonly float[] _centres;
    private readonly float[] _norms;
    private readonly long[] _counts;
    private readonly long _countCap;
    private readonly float[] _standardised;

    public SemanticCache(int labelCount, int featureLength, int? countCap = null, FeatureStandardisation? standardisation = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(labelCount, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(featureLength, 1);
        if (countCap is < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(countCap), countCap, "The decay window must be at least 2 features.");
        }

        LabelCount = labelCount;
        FeatureLength = featureLength;
        _centres = new float[labelCount * featureLength];
        _norms = new float[labelCount];
        _counts = new long[labelCount];
        _countCap = countCap is int cap ? cap - 1 : long.MaxValue;
        if (standardisation is not null && standardisation.Length != featureLength)
        {
            throw new ArgumentException($"The standardisation covers {standardisation.Length} feature values; the features have {featureLength}.", nameof(standardisation));
        }

        Standardisation = standardisation;
        _standardised = new float[featureLength];
    }

    /// <summary>How features are standardised before they meet the centres; null: raw GAP features, as in the paper.</summary>
    public FeatureStandardisation? Standardisation { get; }

    public int LabelCount { get; }

    public int FeatureLength { get; }

    /// <summary>The decay window, or null for the exact running mean of eq. 7.</summary>
    public int? CountCap => _countCap == long.MaxValue ? null : (int)(_countCap + 1);

    public ReadOnlySpan<float> Centre(int label) => _centres.AsSpan(label * FeatureLength, FeatureLength);

    /// <summary>m_j: how many features the centre of <paramref name="label"/> has absorbed.</summary>
    public long Count(int label) => _counts[label];

    /// <summary>Eq. 7: <c>T_j ← (m_j T_j + F) / (m_j + 1)</c>, m_j capped at the decay window when one is set.</summary>
    public void Update(int label, ReadOnlySpan<float> feature)
    {
        if ((uint)label >= (uint)LabelCount)
        {
            throw new ArgumentOutOfRangeException(nameof(label), label, $"Labels run from 0 to {LabelCount - 1}.");
        }

        CheckFeature(feature);
        feature = Standardised(feature);
        long m = Math.Min(_counts[label], _countCap);
        float keep = (float)m / (m + 1);
        float add = 1f / (m + 1);
        var centre = _centres.AsSpan(label * FeatureLength, FeatureLength);
        float normSquared = 0f;
        for (int i = 0; i < centre.Length; i++)
        {
            float value = (keep * centre[i]) + (add * feature[i]);
            centre[i] = value;
            normSquared += value * value;
        }

        _norms[label] = MathF.Sqrt(normSquared);
        _counts[label]++;
    }

    /// <summary>Warms the centres with calibration features (row-major, one row per sample) and their labels.</summary>
    public void Warm(ReadOnlySpan<float> features, ReadOnlySpan<int> labels)
    {
        if (features.Length != labels.Length * FeatureLength)
        {
            throw new ArgumentException($"{labels.Length} labels need {labels.Length * FeatureLength} feature values, got {features.Length}.", nameof(features));
        }

        for (int s = 0; s < labels.Length; s++)
        {
            Update(labels[s], features.Slice(s * FeatureLength, FeatureLength));
        }
    }

    /// <summary>
    /// Eq. 8: <c>t_j = cos(F, T_j)</c> clamped to [0, 1] (standardised: <c>(1 + cos) / 2</c>); a label with no centre yet
    /// (or a zero feature) scores 0.
    /// </summary>
    public void Similarities(ReadOnlySpan<float> feature, Span<float> similarities)
    {
        CheckFeature(feature);
        if (similarities.Length < LabelCount)
        {
            throw new ArgumentException($"similarities holds {similarities.Length} values but there are {LabelCount} labels.", nameof(similarities));
        }

        feature = Standardised(feature);
        bool standardised = Standardisation is not null;
        float featureNorm = MathF.Sqrt(TaskFeature.Dot(feature[..FeatureLength], feature));
        for (int j = 0; j < LabelCount; j++)
        {
            float denominator = featureNorm * _norms[j];
            if (denominator <= 0f)
            {
                similarities[j] = 0f;
                continue;
            }

            float cosine = TaskFeature.Dot(feature[..FeatureLength], Centre(j)) / denominator;
            similarities[j] = Similarity(cosine, standardised);
        }
    }

    /// <summary>
    /// Eq. 8's t_j from cos(F, T_j): standardised features have cosines across [−1, 1], mapped to [0, 1] as
    /// <c>(1 + cos) / 2</c> so that a centre pointing away still ranks below an orthogonal one; raw (non-negative, pooled
    /// activations) features have cosines in [0, 1] already and are only clamped. An undefined cosine (a zero vector) is 0.
    /// The one eq. 8 mapping: the cache and <see cref="SchedulerCalibrator"/> both use it.
    /// </summary>
    public static float Similarity(double cosine, bool standardised) =>
        double.IsNaN(cosine) ? 0f : (float)Math.Clamp(standardised ? 0.5 * (1 + cosine) : cosine, 0, 1);

    /// <summary>Writes the feature as the centres see it (standardised when a standardisation is set, else copied).</summary>
    public void Standardise(ReadOnlySpan<float> feature, Span<float> destination)
    {
        CheckFeature(feature);
        if (destination.Length < FeatureLength)
        {
            throw new ArgumentException($"The destination holds {destination.Length} values; a task feature has {FeatureLength}.", nameof(destination));
        }

        if (Standardisation is null)
        {
            feature[..FeatureLength].CopyTo(destination);
        }
        else
        {
            Standardisation.Apply(feature, destination);
        }
    }

    /// <summary>Copies the centres (row-major) and counts, e.g. to restore them in another process.</summary>
    public void CopyTo(Span<float> centres, Span<long> counts)
    {
        _centres.CopyTo(centres);
        _counts.CopyTo(counts);
    }

    /// <summary>
    /// Replaces the centres (row-major, <see cref="LabelCount"/> × <see cref="FeatureLength"/>) and their counts m_j, e.g. with
    /// centres warmed on the calibration set in another process; the norms are recomputed. With a decay window the counts
    /// are kept as given: the next eq. 7 update caps m_j at the window, so a warm centre first moves with weight 1/W.
    /// </summary>
    public void Restore(ReadOnlySpan<float> centres, ReadOnlySpan<long> counts)
    {
        if (centres.Length != _centres.Length || counts.Length != LabelCount)
        {
            throw new ArgumentException($"Restoring needs {LabelCount}×{FeatureLength} centre values and {LabelCount} counts; got {centres.Length} values and {counts.Length} counts.", nameof(centres));
        }

        for (int j = 0; j < LabelCount; j++)
        {
            if (counts[j] < 0)
            {
                throw new ArgumentException($"The count of label {j} is negative ({counts[j]}).", nameof(counts));
            }

            var centre = centres.Slice(j * FeatureLength, FeatureLength);
            foreach (float v in centre)
            {
                if (!float.IsFinite(v))
                {
                    throw new ArgumentException($"The centre of label {j} holds a non-finite value ({v}).", nameof(centres));
                }
            }
        }

        centres.CopyTo(_centres);
        counts.CopyTo(_counts);
        for (int j = 0; j < LabelCount; j++)
        {
            var centre = Centre(j);
            _norms[j] = MathF.Sqrt(TaskFeature.Dot(centre, centre));
        }
    }

    private ReadOnlySpan<float> Standardised(ReadOnlySpan<float> feature)
    {
        if (Standardisation is null)
        {
            return feature;
        }

        Standardisation.Apply(feature, _standardised);
        return _standardised;
    }

    private void CheckFeature(ReadOnlySpan<float> feature)
    {
        if (feature.Length < FeatureLength)
        {
            throw new ArgumentException($"A task feature has {FeatureLength} values; got {feature.Length}.", nameof(feature));
        }
    }
}
