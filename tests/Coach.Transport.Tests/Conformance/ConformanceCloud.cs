namespace Coach.Transport.Tests.Conformance;

/// <summary>
/// One coach-cloud process shared by the conformance tests that need no special settings: keys
/// required, a 2 s handshake timeout and a 5 s idle timeout (so §1.1 and §1.6 are observed in
/// seconds, while no other test's connection sits idle that long, even on a loaded machine).
/// </summary>
public sealed class ConformanceCloud() : CloudFixture("--handshake-timeout-s", "2", "--idle-timeout-s", "5");

/// <summary>One coach-cloud process over the conformance plans and keys, started with extra options.</summary>
public abstract class CloudFixture(params string[] options) : IAsyncLifetime
{
    internal ConformancePlans Plans { get; } = new();

    internal CloudProcess Process { get; private set; } = null!;

    internal System.Net.IPEndPoint EndPoint => Process.EndPoint;

    public async ValueTask InitializeAsync() =>
        Process = await CloudProcess.StartAsync(Plans.PlansDirectory, ["--keys", Plans.KeysDirectory, .. options]);

    public async ValueTask DisposeAsync()
    {
        if (Process is not null)
        {
            await Process.DisposeAsync();
        }

        Plans.Dispose();
        GC.SuppressFinalize(this);
    }
}

[CollectionDefinition(Name)]
public sealed class ConformanceCollection : ICollectionFixture<ConformanceCloud>
{
    public const string Name = "coach-cloud conformance";
}
