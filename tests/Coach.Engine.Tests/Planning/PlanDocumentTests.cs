using Coach.Engine.Planning;

namespace Coach.Engine.Tests.Planning;

/// <summary>plan.json read back as the typed <see cref="PlanDocument"/>: what is required and how a bad file is refused.</summary>
public sealed class PlanDocumentTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("coach-plan-document-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Write(string json)
    {
        string file = Path.Combine(_directory, "plan.json");
        File.WriteAllText(file, json);
        return file;
    }

    [Fact]
    public void AHandWrittenPlanWithOnlyTheRequiredFieldsLoads()
    {
        var plan = PlanDocument.Load(Write("""{"id":"p","method":"test","cut_tensors":[{"name":"cut","shape":[1,4,2,2],"bits":8}], "unknown": 1, }"""));
        Assert.Equal("p", plan.Id);
        Assert.Equal(("cut", 8), (plan.CutTensors[0].Name, plan.CutTensors[0].Bits));
        Assert.Equal([1L, 4, 2, 2], plan.CutTensors[0].Shape);
        Assert.Null(plan.Model);
    }

    [Theory]
    [InlineData("""{"method":"test","cut_tensors":[]}""", "id")]
    [InlineData("""{"id":"p","cut_tensors":[]}""", "method")]
    [InlineData("""{"id":"p","method":"test","cutTensors":[]}""", "cut_tensors")]
    [InlineData("""{"id":"p","method":"test","cut_tensors":[{"shape":[1,2],"bits":8}]}""", "cut_tensors[0].name")]
    [InlineData("""{"id":"p","method":"test","cut_tensors":[{"name":"a","bits":8},{"name":"b","bits":9}]}""", "cut_tensors[1].bits")]
    [InlineData("""{"id":"p","method":"test","cut_tensors":[{"name":"a"}]}""", "cut_tensors[0].bits")]
    public void AMissingOrInvalidRequiredFieldIsNamedWithTheFile(string json, string field)
    {
        string file = Write(json);
        var e = Assert.Throws<InvalidDataException>(() => PlanDocument.Load(file));
        Assert.Contains(file, e.Message);
        Assert.Contains($"'{field}'", e.Message);
    }

    [Fact]
    public void AnotherSchemaIsRefused()
    {
        string file = Write("""{"schema":"coach.plan/0","id":"p","method":"test","cut_tensors":[]}""");
        Assert.Contains("coach.plan/0", Assert.Throws<InvalidDataException>(() => PlanDocument.Load(file)).Message);
    }
}
