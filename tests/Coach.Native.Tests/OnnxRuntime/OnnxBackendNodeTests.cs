using Coach.Native.OnnxRuntime;

namespace Coach.Native.Tests.OnnxRuntime;

/// <summary>
/// The binding against reference vectors nobody in this project wrote: ONNX's backend node tests
/// (libonnx-testdata), each a one-operator model with inputs and expected outputs, run through
/// <see cref="InferenceSession.Run"/> and matched within 1e-4 (absolute + relative).
/// </summary>
public sealed class OnnxBackendNodeTests
{
    // Every case is listed by name: float inputs, operators of COACH's CNNs, all supported by ORT 1.30.
    // Left out on purpose: *_training_mode BatchNormalization (training outputs), *_expanded Softmax
    // (function bodies of other operators), integer/uint8 variants.
    private static readonly string[] CaseNames =
    [
        // Conv
        "test_basic_conv_with_padding",
        "test_basic_conv_without_padding",
        "test_conv_with_autopad_same",
        "test_conv_with_strides_and_asymmetric_padding",
        "test_conv_with_strides_no_padding",
        "test_conv_with_strides_padding",
        // Relu
        "test_relu",
        // Add
        "test_add",
        "test_add_bcast",
        // Concat
        "test_concat_1d_axis_0",
        "test_concat_1d_axis_negative_1",
        "test_concat_2d_axis_0",
        "test_concat_2d_axis_1",
        "test_concat_2d_axis_negative_2",
        "test_concat_3d_axis_1",
        "test_concat_3d_axis_2",
        "test_concat_3d_axis_negative_3",
        // MaxPool
        "test_maxpool_1d_default",
        "test_maxpool_2d_ceil",
        "test_maxpool_2d_default",
        "test_maxpool_2d_dilations",
        "test_maxpool_2d_pads",
        "test_maxpool_2d_precomputed_pads",
        "test_maxpool_2d_precomputed_same_upper",
        "test_maxpool_2d_precomputed_strides",
        "test_maxpool_2d_same_lower",
        "test_maxpool_2d_same_upper",
        "test_maxpool_2d_strides",
        "test_maxpool_3d_default",
        "test_maxpool_with_argmax_2d_precomputed_pads",
        // AveragePool
        "test_averagepool_1d_default",
        "test_averagepool_2d_ceil",
        "test_averagepool_2d_default",
        "test_averagepool_2d_pads",
        "test_averagepool_2d_pads_count_include_pad",
        "test_averagepool_2d_precomputed_pads",
        "test_averagepool_2d_precomputed_pads_count_include_pad",
        "test_averagepool_2d_precomputed_same_upper",
        "test_averagepool_2d_precomputed_strides",
        "test_averagepool_2d_same_lower",
        "test_averagepool_2d_same_upper",
        "test_averagepool_2d_strides",
        "test_averagepool_3d_default",
        // GlobalAveragePool
        "test_globalaveragepool",
        "test_globalaveragepool_precomputed",
        // Gemm
        "test_gemm_all_attributes",
        "test_gemm_alpha",
        "test_gemm_beta",
        "test_gemm_default_matrix_bias",
        "test_gemm_default_no_bias",
        "test_gemm_default_scalar_bias",
        "test_gemm_default_single_elem_vector_bias",
        "test_gemm_default_vector_bias",
        "test_gemm_default_zero_bias",
        "test_gemm_transposeA",
        "test_gemm_transposeB",
        // MatMul
        "test_matmul_2d",
        "test_matmul_3d",
        "test_matmul_4d",
        // BatchNormalization (inference)
        "test_batchnorm_epsilon",
        "test_batchnorm_example",
        // Softmax
        "test_softmax_axis_0",
        "test_softmax_axis_1",
        "test_softmax_axis_2",
        "test_softmax_default_axis",
        "test_softmax_example",
        "test_softmax_large_number",
        "test_softmax_negative_axis",
    ];

    public static TheoryData<string> Cases => new(CaseNames);

    [Fact]
    public void AtLeastThirtyCasesCoverEveryRequiredOperator()
    {
        var names = CaseNames;
        Assert.True(names.Length >= 30, $"only {names.Length} cases");
        foreach (var op in new[] { "conv", "relu", "add", "concat", "maxpool", "averagepool", "globalaveragepool", "gemm", "matmul", "batchnorm", "softmax" })
        {
            Assert.Contains(names, n => n.StartsWith($"test_{op}", StringComparison.Ordinal) || n.StartsWith($"test_basic_{op}", StringComparison.Ordinal));
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void NodeTestMatchesReferenceOutputs(string caseName)
    {
        using var session = InferenceSession.Open(OnnxTestData.Model(caseName), new SessionSettings { IntraOpThreads = 1 });
        var inputs = OnnxTestData.Inputs(session, caseName);
        var expected = OnnxTestData.ReadTensors(caseName, "output");
        Assert.NotEmpty(expected);
        Assert.Equal(session.Outputs.Count, expected.Length);

        var actual = session.Run(inputs);

        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            OnnxTestData.AssertClose(expected[i], actual[i], $"{caseName} output {session.Outputs[i].Name}");
        }
    }
}
