using System.Runtime.InteropServices;
using Coach.Engine.Data;

namespace Coach.Experiments;

/// <summary>Where <c>./coach publish</c> puts coach-edge and coach-cloud for this machine.</summary>
public static class PublishedBinaries
{
    /// <summary>The runtime identifier of this machine's binaries: linux-arm64 on a Jetson, linux-x64 elsewhere.</summary>
    public static string RuntimeIdentifier => RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "linux-arm64" : "linux-x64";

    /// <summary>dist/RID under the repository.</summary>
    public static string DefaultDirectory => Path.Combine(ModelCatalog.RepositoryRoot, "dist", RuntimeIdentifier);
}
