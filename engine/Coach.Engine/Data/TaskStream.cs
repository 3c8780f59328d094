namespace Coach.Engine.Data;

/// <summary>How alike consecutive tasks of a stream are (the paper's Table II).</summary>
public enum StreamCorrelation
{
    /// <summary>Independent random samples.</summary>
    Low,

    /// <summary>Runs of one class; every frame of a run is a different sample of that class.</summary>
    Medium,

    /// <summary>Runs of near-identical frames: one sample, each frame with a small seeded jitter (shift ±2 px, noise),
    /// like consecutive frames of a video.</summary>
    High,
}

/// <summary>
/// A reproducible stream of inference tasks drawn from a <see cref="FrameSet"/>: which sample each task shows,
/// with which jitter, at which time. Same (frames, correlation, count, run length, seed) → same stream.
/// </summary>
public sealed class TaskStream
{
    public const int MaxShift = 2;
    public const int HighNoiseAmplitude = 4;

    private const uint SaltPick = 0x51;
    private const uint SaltClass = 0x52;
    private const uint SaltShuffle = 0x53;
    private const uint SaltJitter = 0x54;

    private readonly int[] _samples;
    private readonly FrameJitter[] _jitters;

    private TaskStream(FrameSet frames, StreamCorrelation correlation, int runLength, int seed, double framesPerSecond,
        int[] samples, FrameJitter[] jitters)
    {
        Frames = frames;
        Correlation = correlation;
        RunLength = runLength;
        Seed = seed;
        FramesPerSecond = framesPerSecond;
        _samples = samples;
        _jitters = jitters;
    }

    public FrameSet Frames { get; }

    public StreamCorrelation Correlation { get; }

    public int RunLength { get; }

    public int Seed { get; }

    /// <summary>Arrival rate of the tasks (a camera's frame rate).</summary>
    public double FramesPerSecond { get; }

    public int Count => _samples.Length;

    /// <summary>Builds a stream of <paramref name="count"/> tasks. <paramref name="runLength"/> is the number of
    /// consecutive tasks that share a class (Medium) or a sample (High); Low ignores it.</summary>
    public static TaskStream Create(FrameSet frames, StreamCorrelation correlation, int count, int runLength, int seed,
        double framesPerSecond = 30)
    {
        ArgumentNullException.ThrowIfNull(frames);
        if (count < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, "the task count cannot be negative");
        }

        if (runLength < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(runLength), runLength, "a run holds at least one task");
        }

        if (!(framesPerSecond > 0) || double.IsInfinity(framesPerSecond))
        {
            throw new ArgumentOutOfRangeException(nameof(framesPerSecond), framesPerSecond, "the frame rate must be a positive number");
        }

        if (frames.Count == 0)
        {
            throw new ArgumentException($"{frames.Source} holds no samples to stream", nameof(frames));
        }

        uint s = (uint)seed;
        var samples = new int[count];
        var jitters = new FrameJitter[count];
        switch (correlation)
        {
            case StreamCorrelation.Low:
                for (int t = 0; t < count; t++)
                {
                    samples[t] = (int)(FrameRenderer.Mix(s, (uint)t, 0, SaltPick) % (uint)frames.Count);
                }

                break;
            case StreamCorrelation.Medium:
                FillClassRuns(frames, samples, runLength, s);
                break;
            case StreamCorrelation.High:
                for (int t = 0; t < count; t++)
                {
                    int run = t / runLength;
                    samples[t] = (int)(FrameRenderer.Mix(s, (uint)run, 1, SaltPick) % (uint)frames.Count);
                    uint h = FrameRenderer.Mix(s, (uint)t, 2, SaltJitter);
                    int dx = (int)(h % (2 * MaxShift + 1)) - MaxShift;
                    int dy = (int)((h >> 8) % (2 * MaxShift + 1)) - MaxShift;
                    jitters[t] = new FrameJitter(dx, dy, FrameRenderer.Mix(s, (uint)t, 3, SaltJitter), HighNoiseAmplitude);
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(correlation), correlation, "unknown stream correlation");
        }

        return new TaskStream(frames, correlation, runLength, seed, framesPerSecond, samples, jitters);
    }

    /// <summary>The index in <see cref="Frames"/> of the sample task <paramref name="taskIndex"/> shows.</summary>
    public int SampleIndex(int taskIndex) => _samples[CheckTask(taskIndex)];

    public FrameJitter Jitter(int taskIndex) => _jitters[CheckTask(taskIndex)];

    public int Label(int taskIndex) => Frames.Label(SampleIndex(taskIndex));

    /// <summary>Renders the task's frame (planar float32 [3, 112, 112] in [0, 1]) without allocating.</summary>
    public void RenderFrame(int taskIndex, Span<float> chw) =>
        Frames.RenderFrame(SampleIndex(taskIndex), chw, Jitter(taskIndex));

    public void RenderFrame(int taskIndex, Span<byte> rgb) =>
        Frames.RenderFrame(SampleIndex(taskIndex), rgb, Jitter(taskIndex));

    private int CheckTask(int taskIndex)
    {
        if ((uint)taskIndex >= (uint)_samples.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(taskIndex), taskIndex, $"the stream holds {_samples.Length} tasks");
        }

        return taskIndex;
    }

    // Each run picks a class other than the previous run's, then walks a seeded shuffle of that class's samples,
    // so the samples of a run differ (as long as the run is no longer than the class).
    private static void FillClassRuns(FrameSet frames, int[] samples, int runLength, uint seed)
    {
        var byClass = new List<int>[frames.ClassNames.Count];
        for (int c = 0; c < byClass.Length; c++)
        {
            byClass[c] = [];
        }

        for (int i = 0; i < frames.Count; i++)
        {
            byClass[frames.Label(i)].Add(i);
        }

        var present = new List<int>();
        for (int c = 0; c < byClass.Length; c++)
        {
            if (byClass[c].Count > 0)
            {
                // Fisher–Yates with the integer hash as the random source
                var list = byClass[c];
                for (int k = list.Count - 1; k > 0; k--)
                {
                    int j = (int)(FrameRenderer.Mix(seed, (uint)c, (uint)k, SaltShuffle) % (uint)(k + 1));
                    (list[k], list[j]) = (list[j], list[k]);
                }

                present.Add(c);
            }
        }

        var cursor = new int[byClass.Length];
        int previous = -1;
        for (int start = 0, run = 0; start < samples.Length; start += runLength, run++)
        {
            int choices = previous < 0 || present.Count == 1 ? present.Count : present.Count - 1;
            int pick = (int)(FrameRenderer.Mix(seed, (uint)run, 0, SaltClass) % (uint)choices);
            int cls = present[pick];
            if (previous >= 0 && present.Count > 1 && cls == previous)
            {
                cls = present[present.Count - 1];   // the slot of the excluded previous class takes the last one
            }

            var list = byClass[cls];
            int end = Math.Min(start + runLength, samples.Length);
            for (int t = start; t < end; t++)
            {
                samples[t] = list[cursor[cls]];
                cursor[cls] = (cursor[cls] + 1) % list.Count;
            }

            previous = cls;
        }
    }
}
