namespace Coach.Engine.Coded;

/// <summary>
/// How a windowed operator (Conv, MaxPool, AveragePool) maps rows of its input to rows of its output along the split
/// axis (the first spatial axis): output row o reads input rows <c>o·s − p_begin + j·d</c>, j = 0 … kernel − 1
/// (docs/coded.md §1). Floor-mode output sizes only.
/// </summary>
public readonly record struct WindowGeometry(int Kernel, int Stride, int Dilation, int PadBegin, int PadEnd)
{
    /// <summary>The identity: an elementwise operator reads exactly the rows it writes.</summary>
    public static WindowGeometry Pointwise => new(1, 1, 1, 0, 0);

    /// <summary>Rows one output row spans in the input: (kernel − 1)·dilation + 1.</summary>
    public int Extent => ((Kernel - 1) * Dilation) + 1;

    /// <summary>Output rows of an input of <paramref name="inputRows"/> rows.</summary>
    public int OutputRows(int inputRows) => ((inputRows + PadBegin + PadEnd - Extent) / Stride) + 1;

    /// <summary>
    /// The input rows output rows [<paramref name="outputBegin"/>, <paramref name="outputEnd"/>) read, in the
    /// unpadded input's coordinates; rows below 0 or at or past the input's end are padding.
    /// </summary>
    public (int Begin, int End) InputRows(int outputBegin, int outputEnd) =>
        ((outputBegin * Stride) - PadBegin, ((outputEnd - 1) * Stride) - PadBegin + Extent);
}
