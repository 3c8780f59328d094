using Coach.Engine.Data;
using Coach.Engine.Planning;
using Coach.Engine.Profiling;

namespace Coach.Experiments.Tests.Offline;

/// <summary>The engine's offline sessions as the experiment runner calls them, without a command line.</summary>
public sealed class OfflineSessionTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"coach-sessions-{Guid.NewGuid():N}");

    public OfflineSessionTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void TheEdgeSlowdownScalesTheEdgeStageOfAnEdgeOnlyPlan()
    {
        var options = new PlanningOptions { Model = "synthetic:resnet101", Method = "edge", BitsSource = "fixed:8" };

        var atSpeed = PlanningSession.Run(options).Document;
        var slower = PlanningSession.Run(options with { EdgeSlowdown = 4 }).Document;

        Assert.Equal("edge", slower.Method);
        Assert.True(atSpeed.TEdgeMs > 0);
        Assert.Equal(4 * atSpeed.TEdgeMs, slower.TEdgeMs, 6);
    }

    [Fact]
    public void ARangeOfLinkRatesIsRefusedForABaseline()
    {
        var options = new PlanningOptions { Model = "synthetic:vgg16", Method = "ns", BandwidthRange = "20mbit,10mbit" };

        var error = Assert.Throws<ArgumentException>(() => PlanningSession.Run(options));

        Assert.Contains("'ns'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ASyntheticGraphIsNotWrittenToAPlanDirectory()
    {
        var options = new PlanningOptions { Model = "synthetic:vgg16", BitsSource = "fixed:4", OutputDirectory = Path.Combine(_directory, "plan") };

        Assert.Throws<ArgumentException>(() => PlanningSession.Run(options));
        Assert.False(File.Exists(Path.Combine(_directory, "plan", "plan.json")));
    }

    [Fact]
    public void AProfiledModelIsPlannedAndSplitIntoItsPlanDirectory()
    {
        string model = ModelCatalog.Get("resnet-fm112").Path;
        string profilePath = Path.Combine(_directory, "profile.json");

        var profile = ProfilingSession.Run(new ProfilingOptions { Model = model, Device = "test-machine", OutputPath = profilePath, Runs = 2, IntraOpThreads = 1 });
        var result = PlanningSession.Run(new PlanningOptions
        {
            Model = model, EdgeProfile = profilePath, CloudProfile = profilePath, EdgeSlowdown = 8, BitsSource = "fixed:4", InputCodec = "none",
            OutputDirectory = Path.Combine(_directory, "plan"),
        });

        Assert.Equal("test-machine", LayerProfile.Load(profilePath).Device);
        Assert.NotEmpty(profile.Layers);
        var written = PlanDocument.Load(Path.Combine(_directory, "plan"));
        Assert.Equal(result.Document.Id, written.Id);
        Assert.Equal(8, written.EdgeSlowdown);
    }
}
