using Coach.Native.OnnxRuntime;
using Google.Protobuf;

namespace Coach.Engine.Coded;

/// <summary>
/// Runs the slices of a split <see cref="LayerRun"/> in ONNX Runtime, one session per slice, and reassembles the run's
/// output from their rows (docs/coded.md §1). The reference for the distributed runtime, and the check that the halo
/// split is exact.
/// </summary>
public sealed class SplitRunExecutor : IDisposable
{
    private readonly LayerRun _run;
    private readonly InferenceSession[] _sessions;

    public SplitRunExecutor(LayerRun run, int k, SessionSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        _run = run;
        Slices = run.Split(k);
        _sessions = [.. Slices.Select(s => InferenceSession.Open(s.Model.ToByteArray(), settings ?? CpuSettings, $"{run.OutputName} slice {s.Index}"))];
    }

    /// <summary>One intra-op thread on the CPU: a slice stands for one worker's device.</summary>
    public static SessionSettings CpuSettings { get; } = new() { IntraOpThreads = 1, Providers = [ExecutionProvider.Cpu] };

    public IReadOnlyList<SpatialSlice> Slices { get; }

    /// <summary>The run's output for <paramref name="input"/> (shape = the run's input shape), assembled from the slices.</summary>
    public DenseTensor Run(DenseTensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        long[] inShape = input.Shape;
        long[] outShape = (long[])_run.OutputShape.Clone();
        outShape[0] = inShape[0];
        int planesIn = checked((int)(inShape[0] * inShape[1]));
        int rowLengthIn = RowLength(inShape);
        int planesOut = checked((int)(outShape[0] * outShape[1]));
        int rowLengthOut = RowLength(outShape);
        var output = DenseTensor.Create(TensorElementType.Float, outShape);
        for (int j = 0; j < Slices.Count; j++)
        {
            var slice = Slices[j];
            var sliceShape = (long[])inShape.Clone();
            sliceShape[2] = slice.InputRows;
            var band = DenseTensor.Create(TensorElementType.Float, sliceShape);
            RowBands.Copy(input.AsSpan<float>(), (int)inShape[2], slice.InputBegin, band.AsSpan<float>(), slice.InputRows, 0, slice.InputRows, planesIn, rowLengthIn);
            var result = _sessions[j].Run([new NamedTensor(_run.InputName, band)], [_run.OutputName])[0];
            RowBands.Copy(result.AsSpan<float>(), slice.OutputRows, 0, output.AsSpan<float>(), (int)outShape[2], slice.OutputBegin, slice.OutputRows, planesOut, rowLengthOut);
        }

        return output;
    }

    public void Dispose()
    {
        foreach (var s in _sessions)
        {
            s.Dispose();
        }
    }

    /// <summary>Values per row: the product of the axes after the rows (axis 2).</summary>
    public static int RowLength(long[] shape)
    {
        long n = 1;
        for (int i = 3; i < shape.Length; i++)
        {
            n *= shape[i];
        }

        return checked((int)n);
    }
}
