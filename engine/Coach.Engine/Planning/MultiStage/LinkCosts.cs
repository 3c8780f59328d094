namespace Coach.Engine.Planning.MultiStage;

/// <summary>
/// The transfer time of every ideal's cut on every edge device's uplink, at the cut's calibrated minimum bits where
/// calibration has been asked, else at 2 bits (a lower bound: T_t only grows with bits). Each uplink is costed by
/// <see cref="PipelineCostModel"/> on the problem with that link's rate and per-frame cost, so every link shares
/// COACH's byte model.
/// </summary>
internal sealed class LinkCosts
{
    private readonly NestedIdeals _ideals;
    private readonly BitChooser _chooser;
    private readonly int?[] _minimumBits;
    private readonly double[][] _seconds;

    public LinkCosts(PlanningProblem problem, NestedIdeals ideals, IReadOnlyList<PipelineDevice> edgeDevices, BitChooser chooser)
    {
        _ideals = ideals;
        _chooser = chooser;
        LinkProblems = [.. edgeDevices.Select(d => problem.WithSettings(problem.Settings with
        {
            BandwidthBitsPerSecond = d.Uplink!.BitsPerSecond,
            FrameOverheadSeconds = d.Uplink.FrameSeconds,
        }))];
        _minimumBits = new int?[ideals.Count];
        _seconds = new double[LinkProblems.Length][];
        for (int i = 0; i < ideals.Count; i++)
        {
            if (!ideals.Cuts[i].Any(k => problem.Tensors[k].IsFloat))
            {
                _minimumBits[i] = 32; // nothing to quantize: no calibration to ask
            }
        }
        for (int d = 0; d < LinkProblems.Length; d++)
        {
            _seconds[d] = new double[ideals.Count];
            for (int i = 0; i < ideals.Count; i++)
            {
                _seconds[d][i] = Seconds(d, i, _minimumBits[i] ?? 2);
            }
        }
    }

    /// <summary>Per edge device, the problem as its uplink sees it (rate and per-frame cost).</summary>
    public PlanningProblem[] LinkProblems { get; }

    public int CutsCalibrated { get; private set; }

    /// <summary>Transfer times of every ideal's cut on <paramref name="device"/>'s uplink (exact or lower bounds).</summary>
    public double[] Estimates(int device) => _seconds[device];

    /// <summary>The calibrated minimum bits of ideal <paramref name="ideal"/>'s cut (asked now if not yet).</summary>
    public int MinimumBits(int ideal)
    {
        if (_minimumBits[ideal] is not { } b)
        {
            b = _chooser.MinimumBits(_ideals.Cuts[ideal]);
            _minimumBits[ideal] = b;
            CutsCalibrated++;
            for (int d = 0; d < _seconds.Length; d++)
            {
                _seconds[d][ideal] = Seconds(d, ideal, b);
            }
        }
        return b;
    }

    /// <summary>Calibrates the cuts of <paramref name="chain"/>; true when any was not calibrated before.</summary>
    public bool Calibrate(int[] chain)
    {
        bool any = false;
        foreach (var ideal in chain)
        {
            any |= _minimumBits[ideal] is null;
            MinimumBits(ideal);
        }
        return any;
    }

    /// <summary>T_t of ideal <paramref name="ideal"/>'s cut on <paramref name="device"/>'s uplink with every float tensor at <paramref name="bits"/>.</summary>
    public double Seconds(int device, int ideal, int bits)
    {
        var cut = _ideals.Cuts[ideal];
        return PipelineCostModel.TransmissionSeconds(LinkProblems[device], cut, PipelineCostModel.UniformBits(cut.Length, bits));
    }
}
