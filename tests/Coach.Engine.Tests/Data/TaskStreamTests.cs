using Coach.Engine.Data;

namespace Coach.Engine.Tests.Data;

public class TaskStreamTests
{
    private static readonly FrameSet Frames = BundledData.LoadSlice(DataSplit.Test);

    [Fact]
    public void LowCorrelationDrawsVaryingLabels()
    {
        var stream = TaskStream.Create(Frames, StreamCorrelation.Low, 200, runLength: 10, seed: 1);
        var labels = Enumerable.Range(0, stream.Count).Select(stream.Label).ToArray();
        Assert.True(labels.Distinct().Count() >= 8, $"only {labels.Distinct().Count()} classes in 200 random tasks");
        int repeats = Enumerable.Range(1, labels.Length - 1).Count(t => labels[t] == labels[t - 1]);
        Assert.InRange(repeats, 0, 60);  // ~10 % expected for independent draws over 10 classes
        Assert.Equal(stream.Count, Enumerable.Range(0, stream.Count).Select(stream.SampleIndex).Count());
    }

    [Fact]
    public void MediumCorrelationGivesRunsOfOneClassWithDifferentSamples()
    {
        const int run = 8;
        var stream = TaskStream.Create(Frames, StreamCorrelation.Medium, 20 * run, run, seed: 7);
        for (int start = 0; start < stream.Count; start += run)
        {
            var tasks = Enumerable.Range(start, run).ToArray();
            Assert.Single(tasks.Select(stream.Label).Distinct());
            Assert.Equal(run, tasks.Select(stream.SampleIndex).Distinct().Count());
            Assert.All(tasks, t => Assert.Equal(FrameJitter.None, stream.Jitter(t)));
            if (start > 0)
            {
                Assert.NotEqual(stream.Label(start - 1), stream.Label(start));
            }
        }
    }

    [Fact]
    public void HighCorrelationRepeatsOneSamplePerRunWithSmallJitter()
    {
        const int run = 10;
        var stream = TaskStream.Create(Frames, StreamCorrelation.High, 10 * run, run, seed: 3);
        var distinctRunSamples = new HashSet<int>();
        for (int start = 0; start < stream.Count; start += run)
        {
            var tasks = Enumerable.Range(start, run).ToArray();
            Assert.Single(tasks.Select(stream.SampleIndex).Distinct());
            distinctRunSamples.Add(stream.SampleIndex(start));
            var jitters = tasks.Select(stream.Jitter).ToArray();
            Assert.All(jitters, j =>
            {
                Assert.InRange(j.Dx, -TaskStream.MaxShift, TaskStream.MaxShift);
                Assert.InRange(j.Dy, -TaskStream.MaxShift, TaskStream.MaxShift);
                Assert.True(j.NoiseAmplitude > 0);
            });
            Assert.True(jitters.Distinct().Count() > 1, "frames of a run should differ by their jitter");
        }

        Assert.True(distinctRunSamples.Count > 5);

        // consecutive frames of a run are near-identical: mean absolute difference of a few grey levels
        var a = new byte[FrameRenderer.PixelCount];
        var b = new byte[FrameRenderer.PixelCount];
        stream.RenderFrame(0, a);
        stream.RenderFrame(1, b);
        double mad = a.Zip(b, (x, y) => Math.Abs(x - y)).Average();
        Assert.InRange(mad, 0.5, 20);
    }

    [Theory]
    [InlineData(StreamCorrelation.Low)]
    [InlineData(StreamCorrelation.Medium)]
    [InlineData(StreamCorrelation.High)]
    public void TheSameSeedGivesTheSameStreamAndAnotherSeedAnother(StreamCorrelation correlation)
    {
        var one = TaskStream.Create(Frames, correlation, 300, 6, seed: 42);
        var two = TaskStream.Create(Frames, correlation, 300, 6, seed: 42);
        var other = TaskStream.Create(Frames, correlation, 300, 6, seed: 43);
        var tasks = Enumerable.Range(0, 300).ToArray();
        Assert.Equal(tasks.Select(one.SampleIndex), tasks.Select(two.SampleIndex));
        Assert.Equal(tasks.Select(one.Jitter), tasks.Select(two.Jitter));
        Assert.NotEqual(tasks.Select(one.SampleIndex), tasks.Select(other.SampleIndex));

        var x = new float[FrameRenderer.PixelCount];
        var y = new float[FrameRenderer.PixelCount];
        one.RenderFrame(17, x);
        two.RenderFrame(17, y);
        Assert.Equal(x, y);
    }

    [Fact]
    public void BadParametersAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TaskStream.Create(Frames, StreamCorrelation.Medium, 10, 0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => TaskStream.Create(Frames, StreamCorrelation.Low, -1, 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => TaskStream.Create(Frames, StreamCorrelation.Low, 10, 1, 1, framesPerSecond: 0));
        var stream = TaskStream.Create(Frames, StreamCorrelation.Low, 10, 1, 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => stream.Label(10));
    }
}
