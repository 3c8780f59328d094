namespace Coach.Native.Tests.Telemetry;

/// <summary>
/// A writable copy of one of the sysfs fixture trees under <c>Telemetry/Fixtures/</c> (shaped like a Jetson's
/// <c>/sys</c>), in a temporary directory deleted on dispose, so tests can change sensor values between samples.
/// </summary>
internal sealed class SysfsFixture : IDisposable
{
    private SysfsFixture(string root) => Root = root;

    /// <summary>The sysfs root to pass to the telemetry readers (it holds <c>sys/...</c>).</summary>
    public string Root { get; }

    /// <summary>Copies the named fixture tree (<c>orin-jp6</c>, <c>xavier-nx-jp5</c>, <c>tx2-jp4</c>).</summary>
    public static SysfsFixture Copy(string name)
    {
        var source = Locate(name);
        var fixture = Empty();
        CopyDirectory(source, fixture.Root);
        return fixture;
    }

    /// <summary>An empty root: a machine without any Jetson telemetry.</summary>
    public static SysfsFixture Empty() =>
        new(Directory.CreateTempSubdirectory("coach-sysfs-").FullName);

    /// <summary>Writes a sensor value in place (truncate and rewrite: the same inode, as the kernel updates a live attribute).</summary>
    public void Write(string relativePath, string value)
    {
        var path = PathOf(relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite);
        stream.SetLength(0);
        var bytes = System.Text.Encoding.ASCII.GetBytes(value + "\n");
        stream.Write(bytes);
    }

    public void Write(string relativePath, long value) => Write(relativePath, value.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Reads a fixture value as the kernel would present it, for computing expected figures from the tree itself.</summary>
    public long ReadInt64(string relativePath) =>
        long.Parse(File.ReadAllText(PathOf(relativePath)).Trim(), System.Globalization.CultureInfo.InvariantCulture);

    public string PathOf(string relativePath) => Path.Combine(Root, relativePath);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp directory is harmless.
        }
    }

    /// <summary>
    /// The fixture's source tree: beside the test assembly when the project copies it to the output, else found by
    /// the directory of this source file, or walking up to the repository's <c>tests/Coach.Native.Tests/Telemetry/Fixtures</c>.
    /// </summary>
    private static string Locate(string name)
    {
        var beside = Path.Combine(AppContext.BaseDirectory, "Telemetry", "Fixtures", name);
        if (Directory.Exists(beside))
        {
            return beside;
        }
        var besideSource = Path.Combine(SourceDirectory(), "Fixtures", name);
        if (Directory.Exists(besideSource))
        {
            return besideSource;
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "Coach.Native.Tests", "Telemetry", "Fixtures", name);
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new DirectoryNotFoundException($"sysfs fixture '{name}' not found beside {AppContext.BaseDirectory} nor under tests/Coach.Native.Tests/Telemetry/Fixtures of any parent directory");
    }

    private static string SourceDirectory([System.Runtime.CompilerServices.CallerFilePath] string sourceFile = "") =>
        Path.GetDirectoryName(sourceFile) ?? ".";

    private static void CopyDirectory(string source, string destination)
    {
        Directory.CreateDirectory(destination);
        foreach (var file in Directory.GetFiles(source))
        {
            File.Copy(file, Path.Combine(destination, Path.GetFileName(file)));
        }
        foreach (var directory in Directory.GetDirectories(source))
        {
            CopyDirectory(directory, Path.Combine(destination, Path.GetFileName(directory)));
        }
    }
}

/// <summary>
/// A clock the test moves by hand: timestamps in 100 ns ticks, and timers that fire when <see cref="Advance"/>
/// passes their due time, on the caller's thread — deterministic, no sleeps.
/// </summary>
internal sealed class ManualClock : TimeProvider
{
    private readonly List<ManualTimer> timers = [];
    private long now = 1_000_000; // not zero: a zero timestamp must not look special

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => now;

    public int ActiveTimers => timers.Count(t => !t.Disposed);

    /// <summary>Moves time forward by <paramref name="by"/>, firing every timer as its due times pass.</summary>
    public void Advance(TimeSpan by)
    {
        long end = now + by.Ticks;
        while (true)
        {
            // A plain loop, not LINQ: allocation tests advance this clock inside their measured loop.
            ManualTimer? next = null;
            foreach (var timer in timers)
            {
                if (!timer.Disposed && timer.DueAt <= end && (next is null || timer.DueAt < next.DueAt))
                {
                    next = timer;
                }
            }
            if (next is null)
            {
                break;
            }
            now = Math.Max(now, next.DueAt);
            next.Fire();
        }
        now = end;
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state, dueTime, period);
        timers.Add(timer);
        return timer;
    }

    private sealed class ManualTimer(ManualClock clock, TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) : ITimer
    {
        private TimeSpan periodTime = period;

        public long DueAt { get; private set; } = clock.now + dueTime.Ticks;

        public bool Disposed { get; private set; }

        public void Fire()
        {
            DueAt = periodTime > TimeSpan.Zero ? DueAt + periodTime.Ticks : long.MaxValue;
            callback(state);
        }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            DueAt = clock.now + dueTime.Ticks;
            periodTime = period;
            return true;
        }

        public void Dispose() => Disposed = true;

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
