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
        Assert.Equal(11u, OrtLibrary.ApiVersion);
    }

    [Fact]
    public void BuildOutputLibraryIsFoundBeforeAnyOtherLocation()
    {
        var expected = Path.Combine(AppContext.BaseDirectory, "runtimes", OrtLibrary.RuntimeIdentifier, "native", "libonnxruntime.so.1");
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
        Assert.Contains("scripts/fetch-onnxruntime.sh", error);
        Assert.Contains("onnxruntime-gpu", error);
        Assert.Equal(OrtLibrary.BundledVersion, OrtLibrary.Version); // the process-wide library is untouched
    }

    [Fact]
    public void LibraryThatIsNotOnnxRuntimeIsRefused()
    {
        // A real shared library that is not ONNX Runtime: the system liblz4.
        var lz4Path = Coach.Native.Compression.Lz4.SearchLocations().FirstOrDefault(p => Path.IsPathRooted(p) && File.Exists(p));
        Assert.True(lz4Path is not null, "liblz4.so.1 is missing; install it with: apt-get install liblz4-1");

        Assert.False(OrtLibrary.TryLoadFrom(lz4Path, out var error));

        Assert.Contains(lz4Path, error);
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
