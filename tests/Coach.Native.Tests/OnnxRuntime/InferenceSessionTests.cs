using System.Text.Json;
using Coach.Native.OnnxRuntime;

namespace Coach.Native.Tests.OnnxRuntime;

public sealed class InferenceSessionTests
{
    private const string ConvCase = "test_basic_conv_with_padding";

    [Fact]
    public void SessionReportsInputAndOutputMetadataOfTheModel()
    {
        using var session = InferenceSession.Open(OnnxTestData.Model(ConvCase));

        Assert.Equal(["x", "W"], session.Inputs.Select(i => i.Name));
        Assert.All(session.Inputs, i => Assert.Equal(TensorElementType.Float, i.ElementType));
        Assert.Equal([1L, 1, 5, 5], session.Inputs[0].Shape);
        Assert.Equal([1L, 1, 3, 3], session.Inputs[1].Shape);
        var output = Assert.Single(session.Outputs);
        Assert.Equal("y", output.Name);
        Assert.Equal([1L, 1, 5, 5], output.Shape);
    }

    [Fact]
    public void MissingModelFileRaisesFileNotFoundNamingThePath()
    {
        var path = Path.Combine(Path.GetTempPath(), $"coach-missing-{Guid.NewGuid():N}.onnx");

        var error = Assert.Throws<FileNotFoundException>(() => InferenceSession.Open(path));

        Assert.Contains(path, error.Message);
        Assert.Contains("not found", error.Message);
    }

    [Fact]
    public void CorruptModelFileRaisesOrtExceptionNamingThePathAndOrtsReason()
    {
        var path = Path.Combine(Path.GetTempPath(), $"coach-corrupt-{Guid.NewGuid():N}.onnx");
        var garbage = new byte[4096];
        new Random(20261122).NextBytes(garbage);
        File.WriteAllBytes(path, garbage);
        try
        {
            var error = Assert.Throws<OrtException>(() => InferenceSession.Open(path));

            Assert.Contains(path, error.Message);
            Assert.NotEqual(0, error.Code);
            Assert.True(error.Message.Length > path.Length + 30, error.Message); // ORT's own reason follows the path
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void CorruptModelBytesRaiseOrtExceptionNamingTheDisplayName()
    {
        var garbage = new byte[512];
        new Random(7).NextBytes(garbage);

        var error = Assert.Throws<OrtException>(() => InferenceSession.Open(garbage, displayName: "head.onnx from the plan"));

        Assert.Contains("head.onnx from the plan", error.Message);
    }

    [Fact]
    public void ModelFromBytesRunsLikeModelFromFile()
    {
        var modelPath = OnnxTestData.Model(ConvCase);
        using var fromFile = InferenceSession.Open(modelPath);
        using var fromBytes = InferenceSession.Open(File.ReadAllBytes(modelPath), displayName: "conv");
        var inputs = OnnxTestData.Inputs(fromFile, ConvCase);

        var expected = fromFile.Run(inputs)[0];
        var actual = fromBytes.Run(inputs)[0];

        Assert.Equal(expected.Data, actual.Data);
    }

    [Fact]
    public void WrongInputNameOrTypeIsRejectedWithTheModelsSignature()
    {
        using var session = InferenceSession.Open(OnnxTestData.Model(ConvCase));

        var wrongName = Assert.Throws<ArgumentException>(() =>
            session.Run([new NamedTensor("frame", DenseTensor.Create(TensorElementType.Float, [1, 1, 5, 5]))]));
        Assert.Contains("no input 'frame'", wrongName.Message);
        Assert.Contains("x float32[1,1,5,5]", wrongName.Message);

        var wrongType = Assert.Throws<ArgumentException>(() =>
            session.Run([new NamedTensor("x", DenseTensor.Create(TensorElementType.Int64, [1, 1, 5, 5]))]));
        Assert.Contains("int64", wrongType.Message);
    }

    [Fact]
    public void BoundRunWritesTheSameOutputsAsTheAllocatingRun()
    {
        using var session = InferenceSession.Open(OnnxTestData.Model(ConvCase));
        var inputs = OnnxTestData.Inputs(session, ConvCase);
        var expected = OnnxTestData.ReadTensors(ConvCase, "output")[0];

        using var x = PinnedTensor.CopyOf(inputs[0].Tensor);
        using var w = PinnedTensor.CopyOf(inputs[1].Tensor);
        using var y = PinnedTensor.Create(TensorElementType.Float, [1, 1, 5, 5]);
        using var binding = session.Bind([("x", x), ("W", w)], [("y", y)]);
        binding.Run();

        OnnxTestData.AssertClose(expected, y.ToDense(), "bound conv");

        // New input values in the same buffer, same binding: the output follows.
        x.AsSpan<float>().Clear();
        binding.Run();
        Assert.All(y.AsSpan<float>().ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void BindingKeepsWorkingWhenItsTensorsAndSessionAreDisposedFirst()
    {
        var session = InferenceSession.Open(OnnxTestData.Model("test_relu"));
        var input = session.Inputs[0];
        var shape = input.ConcreteShape();
        var x = PinnedTensor.Create(TensorElementType.Float, shape);
        var y = PinnedTensor.Create(TensorElementType.Float, shape);
        x.AsSpan<float>().Fill(-2f);
        x.AsSpan<float>()[0] = 3f;
        using var binding = session.Bind([(input.Name, x)], [(session.Outputs[0].Name, y)]);
        var output = y.AsSpan<float>().Length;

        session.Dispose();
        x.Dispose();
        binding.Run(); // the binding holds references on the session and both buffers

        Assert.Throws<ObjectDisposedException>(() => x.AsSpan<float>());
        Assert.True(output > 1);
        var result = y.ToDense().AsSpan<float>().ToArray();
        Assert.Equal(3f, result[0]);
        Assert.All(result.Skip(1), v => Assert.Equal(0f, v));
        y.Dispose();
    }

    [Fact]
    public void PreferredProvidersFallBackToCpuWithOrtsReasonsRecorded()
    {
        using var session = InferenceSession.Open(OnnxTestData.Model(ConvCase), new SessionSettings
        {
            Providers = [ExecutionProvider.TensorRt, ExecutionProvider.Cuda, ExecutionProvider.Cpu],
            TensorRt = new TensorRtSettings { EngineCachePath = Path.Combine(Path.GetTempPath(), "coach-trt-cache"), DlaCore = 0 },
        });

        Assert.Contains("CPUExecutionProvider", OrtLibrary.AvailableProviders);
        // ORT's GPU providers are separate libraries loaded through libonnxruntime_providers_shared.so
        // beside libonnxruntime; the bundled CPU build lists them as available but ships none.
        var gpuProvidersShipped = File.Exists(Path.Combine(
            Path.GetDirectoryName(Path.GetFullPath(OrtLibrary.LoadedPath))!, "libonnxruntime_providers_shared.so"));
        if (gpuProvidersShipped)
        {
            // A GPU build: whatever it chose, every provider before it must carry a reason.
            Assert.All(session.RefusedProviders, r => Assert.False(string.IsNullOrWhiteSpace(r.Reason)));
            Assert.DoesNotContain(session.RefusedProviders, r => r.Provider == session.Provider);
        }
        else
        {
            // This CPU build: TensorRT and CUDA are refused, in order, with ORT's messages; CPU runs.
            Assert.Equal(ExecutionProvider.Cpu, session.Provider);
            Assert.Equal([ExecutionProvider.TensorRt, ExecutionProvider.Cuda], session.RefusedProviders.Select(r => r.Provider));
            Assert.All(session.RefusedProviders, r => Assert.Contains("libonnxruntime_providers_shared.so", r.Reason));
        }
        var inputs = OnnxTestData.Inputs(session, ConvCase);
        OnnxTestData.AssertClose(OnnxTestData.ReadTensors(ConvCase, "output")[0], session.Run(inputs)[0], "conv after fallback");
    }

    [Fact]
    public void CpuOnlySettingsRefuseNothing()
    {
        using var session = InferenceSession.Open(OnnxTestData.Model(ConvCase),
            new SessionSettings { Providers = [ExecutionProvider.Cpu], IntraOpThreads = 1, InterOpThreads = 1, Optimization = GraphOptimization.Disabled });

        Assert.Equal(ExecutionProvider.Cpu, session.Provider);
        Assert.Empty(session.RefusedProviders);
    }

    [Fact]
    public void EndProfilingReturnsAnExistingOrtProfileJson()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"coach-profile-{Guid.NewGuid():N}");
        try
        {
            using var session = InferenceSession.Open(OnnxTestData.Model(ConvCase),
                new SessionSettings { EnableProfiling = true, ProfilePrefix = Path.Combine(folder, "conv") });
            var inputs = OnnxTestData.Inputs(session, ConvCase);
            for (var i = 0; i < 3; i++)
            {
                session.Run(inputs);
            }

            var path = session.EndProfiling();

            Assert.True(File.Exists(path), path);
            Assert.StartsWith(folder, path);
            using var json = JsonDocument.Parse(File.ReadAllBytes(path));
            Assert.Equal(JsonValueKind.Array, json.RootElement.ValueKind);
            Assert.Contains(json.RootElement.EnumerateArray(),
                e => e.TryGetProperty("cat", out var cat) && cat.GetString() == "Node");
        }
        finally
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    [Fact]
    public void EndProfilingWithoutProfilingSaysHowToTurnItOn()
    {
        using var session = InferenceSession.Open(OnnxTestData.Model(ConvCase));

        var error = Assert.Throws<InvalidOperationException>(() => session.EndProfiling());

        Assert.Contains("EnableProfiling", error.Message);
    }
}
