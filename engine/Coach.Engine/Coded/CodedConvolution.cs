using Coach.Engine.Onnx.Proto;

namespace Coach.Engine.Coded;

/// <summary>
/// One convolution split into k equal row slices and coded over n workers (docs/coded.md §2). The input is padded
/// along the rows first (the layer's own row padding, then zero rows so that k slices of ⌈H_out/k⌉ output rows fit),
/// so every slice has the same shape and the same model — the convolution without bias and without row padding, a
/// linear map — and a worker's answer to a coded slice is the same combination of the slices' outputs. The master
/// decodes the k output slices from the answers of any decodable set of workers, adds the bias and drops the extra
/// rows; the nonlinearity after the layer runs on the decoded output.
/// </summary>
/// <remarks>One instance serves one frame at a time: <see cref="Encode"/>, the answer buffers and <see cref="Decode"/>
/// reuse buffers allocated once, so a frame allocates nothing.</remarks>
public sealed class CodedConvolution
{
    private readonly LayerRun _layer;
    private readonly float[] _bias;
    private readonly float[] _bands;       // k input bands, the scratch of Encode
    private readonly float[][] _answers;   // per worker
    private readonly double[] _selected;
    private readonly double[] _inverse;
    private readonly double[] _scratch;
    private readonly int[] _rows;

    public CodedConvolution(LayerRun layer, LinearCode code)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(code);
        if (layer.Layers.Count != 1 || layer.Layers[0].Node.OpType != "Conv")
        {
            throw new SpatialSplitException($"a coded layer is one Conv (the linear part); the run holds {string.Join(", ", layer.Layers.Select(l => l.Node.OpType))}");
        }

        if (layer.InputShape[0] != 1 && layer.InputShape[0] > 0)
        {
            throw new SpatialSplitException($"a coded layer takes one frame (batch 1); the run's input has batch {layer.InputShape[0]}");
        }

        _layer = layer;
        Code = code;
        var conv = layer.Layers[0];
        Geometry = conv.Geometry;
        InputRows = checked((int)layer.InputShape[2]);
        OutputRows = checked((int)layer.OutputShape[2]);
        if (code.K > OutputRows)
        {
            throw new ArgumentOutOfRangeException(nameof(code), code.K, $"the layer has {OutputRows} output rows: split it into at most {OutputRows} slices");
        }

        SliceOutputRows = (OutputRows + code.K - 1) / code.K;
        SliceInputRows = ((SliceOutputRows - 1) * Geometry.Stride) + Geometry.Extent;
        Channels = checked((int)layer.InputShape[1]);
        OutputChannels = checked((int)layer.OutputShape[1]);
        InputRowLength = SplitRunExecutor.RowLength(layer.InputShape);
        OutputRowLength = SplitRunExecutor.RowLength(layer.OutputShape);
        SliceInputLength = Channels * SliceInputRows * InputRowLength;
        SliceOutputLength = OutputChannels * SliceOutputRows * OutputRowLength;
        _bias = ReadBias(layer, conv.Node, OutputChannels);
        _bands = new float[code.K * SliceInputLength];
        _answers = [.. Enumerable.Range(0, code.N).Select(_ => new float[SliceOutputLength])];
        _selected = new double[code.K * code.K];
        _inverse = new double[code.K * code.K];
        _scratch = new double[2 * code.K * code.K];
        _rows = new int[code.K];
    }

    public LinearCode Code { get; }

    public WindowGeometry Geometry { get; }

    public int InputRows { get; }

    public int OutputRows { get; }

    public int Channels { get; }

    public int OutputChannels { get; }

    public int InputRowLength { get; }

    public int OutputRowLength { get; }

    /// <summary>Output rows of one slice, ⌈H_out / k⌉.</summary>
    public int SliceOutputRows { get; }

    /// <summary>Input rows of one slice: its output rows' receptive field, halo included.</summary>
    public int SliceInputRows { get; }

    /// <summary>Values of one (coded) slice input: C × rows × the other axes.</summary>
    public int SliceInputLength { get; }

    /// <summary>Values of one slice output.</summary>
    public int SliceOutputLength { get; }

    public long[] SliceInputShape => [1, Channels, SliceInputRows, .. _layer.InputShape[3..]];

    public long[] SliceOutputShape => [1, OutputChannels, SliceOutputRows, .. _layer.OutputShape[3..]];

    /// <summary>
    /// The model every worker runs: the convolution without bias and without row padding on one slice; with
    /// <paramref name="flatten"/> its output is [1, elements] (a worker answers it as a Result's logits, docs/coded.md §4).
    /// </summary>
    public ModelProto SliceModel(bool flatten) =>
        _layer.BuildModel("coded_slice", [SliceInputRows], [SliceOutputRows], [0], [0], keepBias: false, flatten);

    /// <summary>The first input row (unpadded coordinates; may be negative) slice j reads.</summary>
    public int SliceInputBegin(int slice) => (slice * SliceOutputRows * Geometry.Stride) - Geometry.PadBegin;

    /// <summary>
    /// Cuts <paramref name="input"/> (the layer's input, one frame) into the k bands once; <see cref="Encode"/> then
    /// combines them per worker.
    /// </summary>
    public void Split(ReadOnlySpan<float> input)
    {
        if (input.Length != Channels * InputRows * InputRowLength)
        {
            throw new ArgumentException($"the layer's input holds {Channels * InputRows * InputRowLength} values; {input.Length} given", nameof(input));
        }

        for (int j = 0; j < Code.K; j++)
        {
            RowBands.Copy(input, InputRows, SliceInputBegin(j), _bands.AsSpan(j * SliceInputLength, SliceInputLength), SliceInputRows, 0, SliceInputRows, Channels, InputRowLength);
        }
    }

    /// <summary>Worker <paramref name="worker"/>'s coded input x̃_i = Σ_j G[i, j] x_j (after <see cref="Split"/>), accumulated in double.</summary>
    public void Encode(int worker, Span<float> coded)
    {
        if (coded.Length != SliceInputLength)
        {
            throw new ArgumentException($"a coded slice holds {SliceInputLength} values; the buffer holds {coded.Length}", nameof(coded));
        }

        int k = Code.K;
        int single = -1;
        int nonzero = 0;
        for (int j = 0; j < k; j++)
        {
            if (Code[worker, j] != 0)
            {
                nonzero++;
                single = j;
            }
        }

        if (nonzero == 1 && Code[worker, single] == 1)
        {
            _bands.AsSpan(single * SliceInputLength, SliceInputLength).CopyTo(coded);
            return;
        }

        for (int e = 0; e < coded.Length; e++)
        {
            double s = 0;
            for (int j = 0; j < k; j++)
            {
                s += Code[worker, j] * _bands[(j * SliceInputLength) + e];
            }

            coded[e] = (float)s;
        }
    }

    /// <summary>Where worker <paramref name="worker"/>'s answer (its slice model's output) is put before <see cref="Decode"/>.</summary>
    public Span<float> Answer(int worker) => _answers[worker];

    /// <summary>
    /// Picks k of the <paramref name="answered"/> workers whose rows of G are independent, preferring the order given
    /// (the first answers); false when the answers do not decode yet (too few, or a replication that misses a slice).
    /// </summary>
    public bool TrySelect(ReadOnlySpan<int> answered, Span<int> chosen)
    {
        int k = Code.K;
        // Greedy rank growth by elimination on a copy of the chosen rows.
        Span<double> basis = _scratch.AsSpan(0, k * k);
        int rank = 0;
        Span<double> row = stackalloc double[k];
        foreach (int w in answered)
        {
            for (int j = 0; j < k; j++)
            {
                row[j] = Code[w, j];
            }

            for (int b = 0; b < rank; b++)
            {
                var br = basis.Slice(b * k, k);
                int lead = LeadingIndex(br);
                double f = row[lead] / br[lead];
                for (int j = 0; j < k; j++)
                {
                    row[j] -= f * br[j];
                }
            }

            int l = LeadingIndex(row);
            if (l >= 0 && Math.Abs(row[l]) > 1e-9)
            {
                row.CopyTo(basis.Slice(rank * k, k));
                chosen[rank++] = w;
                if (rank == k)
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>
    /// Decodes the layer's output (bias added, the extra rows dropped) into <paramref name="output"/> from the answers of
    /// the k workers <paramref name="workers"/> (independent rows, e.g. from <see cref="TrySelect"/>): y = G_S⁻¹ ỹ_S,
    /// accumulated in double. Returns the condition number bound used: max row sum of |G_S⁻¹| (∞-norm).
    /// </summary>
    public double Decode(ReadOnlySpan<int> workers, Span<float> output)
    {
        int k = Code.K;
        if (workers.Length != k)
        {
            throw new ArgumentException($"decoding needs {k} answers; {workers.Length} given", nameof(workers));
        }

        if (output.Length != OutputChannels * OutputRows * OutputRowLength)
        {
            throw new ArgumentException($"the layer's output holds {OutputChannels * OutputRows * OutputRowLength} values; the buffer holds {output.Length}", nameof(output));
        }

        for (int i = 0; i < k; i++)
        {
            _rows[i] = workers[i];
            for (int j = 0; j < k; j++)
            {
                _selected[(i * k) + j] = Code[workers[i], j];
            }
        }

        if (!LinearCode.Invert(_selected, _inverse, k, _scratch))
        {
            throw new InvalidOperationException($"the answers of workers {string.Join(",", workers.ToArray())} do not decode: their rows of the generator are dependent");
        }

        double inverseNorm = 0;
        for (int j = 0; j < k; j++)
        {
            double rowSum = 0;
            for (int i = 0; i < k; i++)
            {
                rowSum += Math.Abs(_inverse[(j * k) + i]);
            }

            inverseNorm = Math.Max(inverseNorm, rowSum);
        }

        int planeOut = OutputRows * OutputRowLength;
        int slicePlane = SliceOutputRows * OutputRowLength;
        for (int j = 0; j < k; j++)
        {
            int firstRow = j * SliceOutputRows;
            int rows = Math.Min(SliceOutputRows, OutputRows - firstRow);
            if (rows <= 0)
            {
                continue;
            }

            for (int c = 0; c < OutputChannels; c++)
            {
                float bias = _bias[c];
                var target = output.Slice((c * planeOut) + (firstRow * OutputRowLength), rows * OutputRowLength);
                int source = c * slicePlane;
                for (int e = 0; e < target.Length; e++)
                {
                    double s = 0;
                    for (int i = 0; i < k; i++)
                    {
                        double coefficient = _inverse[(j * k) + i];
                        if (coefficient != 0)
                        {
                            s += coefficient * _answers[_rows[i]][source + e];
                        }
                    }

                    target[e] = (float)s + bias;
                }
            }
        }

        return inverseNorm;
    }

    private static int LeadingIndex(ReadOnlySpan<double> row)
    {
        int best = -1;
        double max = 1e-12;
        for (int j = 0; j < row.Length; j++)
        {
            if (Math.Abs(row[j]) > max)
            {
                max = Math.Abs(row[j]);
                best = j;
            }
        }

        return best;
    }

    private static float[] ReadBias(LayerRun layer, NodeProto conv, int channels)
    {
        var bias = new float[channels];
        if (conv.Input.Count > 2 && conv.Input[2].Length > 0)
        {
            var tensor = layer.Parameter(conv.Input[2]) ?? throw new SpatialSplitException($"the bias '{conv.Input[2]}' of '{conv.Name}' is not an initializer");
            var values = Onnx.OnnxTensorReader.Read(tensor).AsSpan<float>();
            values.CopyTo(bias);
        }

        return bias;
    }
}
