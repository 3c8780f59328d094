namespace Coach.Transport.Edge;

/// <summary>Busy and waiting time of one pipeline stage, so bubbles are a measured number.</summary>
public sealed class StageClock(string name)
{
    private long _busyMicros;
    private long _waitMicros;
    private long _items;

    public string Name { get; } = name;

    public long BusyMicros => Interlocked.Read(ref _busyMicros);

    /// <summary>Time spent waiting for input or for room downstream.</summary>
    public long WaitMicros => Interlocked.Read(ref _waitMicros);

    public long Items => Interlocked.Read(ref _items);

    public void AddBusy(long micros)
    {
        Interlocked.Add(ref _busyMicros, micros);
        Interlocked.Increment(ref _items);
    }

    public void AddWait(long micros) => Interlocked.Add(ref _waitMicros, micros);

    /// <summary>Busy share of <paramref name="wallMicros"/>.</summary>
    public double Utilisation(long wallMicros) => wallMicros <= 0 ? 0 : Math.Clamp(BusyMicros / (double)wallMicros, 0, 1);
}
