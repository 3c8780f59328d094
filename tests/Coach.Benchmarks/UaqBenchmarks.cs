using BenchmarkDotNet.Attributes;
using Coach.Engine.DataPlane;

namespace Coach.Benchmarks;

/// <summary>UAQ kernels on a 1 MiB post-ReLU FP32 tensor at each SIMD width; 0 B allocated is the budget.</summary>
[MemoryDiagnoser]
public class UaqBenchmarks
{
    private float[] _values = [];
    private float[] _restored = [];
    private float[] _copy = [];
    private byte[] _packed = [];
    private QuantizationParameters _parameters;

    [Params(2, 4, 8)]
    public int Bits { get; set; }

    [Params(VectorWidth.Scalar, VectorWidth.V256, VectorWidth.V512)]
    public VectorWidth Width { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _values = UaqThroughput.PostReluTensor(UaqThroughput.DefaultValueCount, seed: 1);
        _restored = new float[_values.Length];
        _copy = new float[_values.Length];
        _packed = new byte[Uaq.PackedByteCount(_values.Length, 8)];
        _parameters = Uaq.Fit(_values, Bits);
        Uaq.QuantizePack(_values, _parameters, _packed, Width);
    }

    [Benchmark(Baseline = true)]
    public void Copy() => _values.AsSpan().CopyTo(_copy);

    [Benchmark]
    public QuantizationParameters FitQuantizePack()
    {
        var p = Uaq.Fit(_values, Bits, Width);
        Uaq.QuantizePack(_values, p, _packed, Width);
        return p;
    }

    [Benchmark]
    public void UnpackDequantize() => Uaq.UnpackDequantize(_packed, _parameters, _restored, Width);
}

/// <summary>CRC-32C of a 64 KiB frame.</summary>
[MemoryDiagnoser]
public class Crc32CBenchmarks
{
    private readonly byte[] _frame = new byte[65_536];

    [GlobalSetup]
    public void Setup() => new Random(2).NextBytes(_frame);

    [Benchmark(Baseline = true)]
    public uint Hardware() => Crc32C.Compute(_frame);

    [Benchmark]
    public uint Table() => Crc32C.AppendScalar(0, _frame);
}
