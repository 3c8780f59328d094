namespace Coach.Engine.Planning;

/// <summary>Why a partition's cut cannot be deployed although the cost model could price it (docs/planner.md §6).</summary>
public enum CutViolation
{
    /// <summary>The edge and the cloud can carry this cut.</summary>
    None,
    /// <summary>It cuts a value that is not float32 (an int64 Shape/Reshape value): the data plane sends float32 only.</summary>
    NonFloat,
    /// <summary>It cuts more tensors than one request carries (<see cref="CostSettings.MaxCutTensors"/>).</summary>
    TooManyTensors,
}

/// <summary>
/// What a cut must satisfy beyond eq. 3 for a plan to deploy: every value it carries is float32 (the edge quantizes
/// float32 with UAQ and the cloud restores float32; a non-float value's consumers therefore stay with its producer, as if
/// the edge were contracted), and it carries at most <see cref="CostSettings.MaxCutTensors"/> tensors (one Request frame
/// holds at most <see cref="MaxTensorsPerFrame"/>). Every planner filters its candidates with <see cref="Check"/>.
/// </summary>
public static class CutConstraints
{
    /// <summary>
    /// Most tensors one Request frame carries: the wire's default limit (<c>WireLimits.MaxTensorsPerFrame</c> refers to
    /// this constant) and the planner's default <see cref="CostSettings.MaxCutTensors"/>.
    /// </summary>
    public const int MaxTensorsPerFrame = 16;

    /// <summary>Whether the data plane can carry value <paramref name="tensor"/> across the cut (float32 only).</summary>
    public static bool CanCross(PlanningProblem problem, int tensor)
    {
        ArgumentNullException.ThrowIfNull(problem);
        return problem.TensorIsFloat[tensor];
    }

    /// <summary>The first constraint <paramref name="cut"/> breaks (non-float values first), or <see cref="CutViolation.None"/>.</summary>
    public static CutViolation Check(PlanningProblem problem, ReadOnlySpan<int> cut)
    {
        ArgumentNullException.ThrowIfNull(problem);
        foreach (var k in cut)
        {
            if (!problem.TensorIsFloat[k])
            {
                return CutViolation.NonFloat;
            }
        }
        return cut.Length > problem.Settings.MaxCutTensors ? CutViolation.TooManyTensors : CutViolation.None;
    }

    /// <summary>Whether the plan's cut can be deployed.</summary>
    public static bool Admits(PlanningProblem problem, bool[] onEdge) => Check(problem, PipelineCostModel.CutTensors(problem, onEdge)) == CutViolation.None;

    /// <summary>What a violation means, for an error message that names the limit and what to do.</summary>
    public static string Describe(CutViolation violation, PlanningProblem problem) => violation switch
    {
        CutViolation.NonFloat => "cut a value that is not float32 (e.g. an int64 shape); the edge and the cloud send float32 only, so such a value stays on its producer's side",
        CutViolation.TooManyTensors => $"cut more than {problem.Settings.MaxCutTensors} tensors, the most one request carries (max cut tensors; the wire's MaxTensorsPerFrame is {MaxTensorsPerFrame} by default)",
        _ => "meet every cut constraint",
    };
}
