using Coach.Native.OnnxRuntime;

namespace Coach.Native.Tests.OnnxRuntime;

public sealed class OrtLibraryTests
{
    [Fact]
    public void LoadedLibraryIsTheBundledOnnxRuntimeWithTheCpuProvider()
    {
        Assert.Equal(OrtLibrary.BundledVersion, OrtLibrary.Version);
        Assert.True(File.Exists(OrtLibrary.LoadedPath), OrtLibrary.LoadedPath);
        Assert.Contains("CPUExecutionProvider", OrtLibrary.AvailableProviders);
        Assert.Equal(14u, OrtLibrary.ApiVersion);
    }

    [Fact]
    public void BuildOutputLibraryIsFoundBeforeAnyOtherLocation()
    {
        var expected = Path.Combine(AppContext.BaseDirectory, "runtimes", OrtLibrary.RuntimeIdentifier, "native", "libonnxruntime.so");
        if (Environment.GetEnvironmentVariable(OrtLibrary.LibraryPathVariable) is { Length: > 0 } chosen)
        {
            Assert.Equal([Path.GetFullPath(chosen)], OrtLibrary.SearchLocations());
        }
        else
        {
            Assert.Equal(expected, OrtLibrary.SearchLocations()[0]);
            Assert.Equal(expected, OrtLibrary.LoadedPath);
        }
    }

    [Fact]
    public void MissingLibraryFileGivesAnErrorNamingThePathAndTheFix()
    {
        var path = Path.Combine(Path.GetTempPath(), $"coach-no-ort-{Guid.NewGuid():N}", "libonnxruntime.so.1");

        Assert.False(OrtLibrary.TryLoadFrom(path, out var error));

        Assert.Contains(path, error);
        Assert.Contains("no such file", error);
        Assert.Contains("Microsoft.ML.OnnxRuntime", error);
        Assert.Contains(OrtLibrary.LibraryPathVariable, error);
        Assert.Contains("JetPack", error);
        Assert.Equal(OrtLibrary.BundledVersion, OrtLibrary.Version); // the process-wide library is untouched
    }

    [Fact]
    public void LibraryThatIsNotOnnxRuntimeIsRefused()
    {
        // A real shared library that is not ONNX Runtime: the provider bridge the NuGet package ships beside it.
        var bridge = Path.Combine(Path.GetDirectoryName(OrtLibrary.LoadedPath)!, "libonnxruntime_providers_shared.so");
        Assert.True(File.Exists(bridge), $"{bridge} is missing: the build copies it from the Microsoft.ML.OnnxRuntime package");

        Assert.False(OrtLibrary.TryLoadFrom(bridge, out var error));

        Assert.Contains(bridge, error);
        Assert.Contains("OrtGetApiBase", error);
    }

    [Fact]
    public void FileThatIsNotASharedLibraryIsRefusedWithTheLoadersReason()
    {
        var path = Path.Combine(Path.GetTempPath(), $"coach-fake-{Guid.NewGuid():N}.so");
        File.WriteAllBytes(path, new byte[256]);
        try
        {
            Assert.False(OrtLibrary.TryLoadFrom(path, out var error));

            Assert.Contains(path, error);
            Assert.Contains("dynamic loader refused it", error);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void BundledLibraryPassesTheProbe()
    {
        Assert.True(OrtLibrary.TryLoadFrom(OrtLibrary.LoadedPath, out var version, out var error), error);
        Assert.Equal(OrtLibrary.BundledVersion, version);
    }
}
