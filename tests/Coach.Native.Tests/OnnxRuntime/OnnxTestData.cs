using Coach.Engine.Onnx;
using Coach.Native.OnnxRuntime;

namespace Coach.Native.Tests.OnnxRuntime;

/// <summary>The ONNX backend node test vectors of Debian's libonnx-testdata (written by the ONNX project).</summary>
internal static class OnnxTestData
{
    public const string NodeRoot = "/usr/share/libonnx-testdata/data/node";

    /// <summary>The case folder; fails the test (never skips) when the package is missing.</summary>
    public static string CaseDirectory(string caseName)
    {
        if (!Directory.Exists(NodeRoot))
        {
            Assert.Fail($"the ONNX backend test vectors are missing ({NodeRoot}); install them with: apt-get install libonnx-testdata");
        }
        var directory = Path.Combine(NodeRoot, caseName);
        if (!File.Exists(Path.Combine(directory, "model.onnx")))
        {
            Assert.Fail($"test case {caseName} is not in {NodeRoot} (libonnx-testdata version changed?)");
        }
        return directory;
    }

    public static string Model(string caseName) => Path.Combine(CaseDirectory(caseName), "model.onnx");

    public static DenseTensor[] ReadTensors(string caseName, string prefix)
    {
        var set = Path.Combine(CaseDirectory(caseName), "test_data_set_0");
        var tensors = new List<DenseTensor>();
        for (var i = 0; File.Exists(Path.Combine(set, $"{prefix}_{i}.pb")); i++)
        {
            tensors.Add(OnnxTensorReader.ReadFile(Path.Combine(set, $"{prefix}_{i}.pb")));
        }
        return tensors.ToArray();
    }

    /// <summary>The case's inputs, named after the model's inputs in graph order.</summary>
    public static NamedTensor[] Inputs(InferenceSession session, string caseName)
    {
        var tensors = ReadTensors(caseName, "input");
        Assert.Equal(session.Inputs.Count, tensors.Length);
        return tensors.Select((t, i) => new NamedTensor(session.Inputs[i].Name, t)).ToArray();
    }

    /// <summary>Asserts |actual − expected| ≤ tolerance·(1 + |expected|) for floating point; exact otherwise.</summary>
    public static void AssertClose(DenseTensor expected, DenseTensor actual, string what, double tolerance = 1e-4)
    {
        Assert.Equal(expected.ElementType, actual.ElementType);
        Assert.Equal(expected.Shape, actual.Shape);
        switch (expected.ElementType)
        {
            case TensorElementType.Float:
                Compare(expected.AsSpan<float>().ToArray().Select(v => (double)v).ToArray(),
                    actual.AsSpan<float>().ToArray().Select(v => (double)v).ToArray(), what, tolerance);
                break;
            case TensorElementType.Double:
                Compare(expected.AsSpan<double>().ToArray(), actual.AsSpan<double>().ToArray(), what, tolerance);
                break;
            default:
                Assert.True(expected.Data.AsSpan().SequenceEqual(actual.Data), $"{what}: {expected.ElementType} values differ");
                break;
        }
    }

    private static void Compare(double[] expected, double[] actual, string what, double tolerance)
    {
        for (var i = 0; i < expected.Length; i++)
        {
            var bound = tolerance + tolerance * Math.Abs(expected[i]);
            if (!(Math.Abs(actual[i] - expected[i]) <= bound))
            {
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, reference {expected[i]:R} (allowed ±{bound:G3})");
            }
        }
    }
}
