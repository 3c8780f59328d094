namespace Coach.Transport.Edge;

/// <summary>A progress bar on standard error (redrawn in place on a terminal; a line per quarter otherwise).</summary>
internal sealed class ProgressBar : IDisposable
{
    private readonly int _total;
    private readonly Func<int> _done;
    private readonly long _startMicros;
    private readonly Timer _timer;
    private readonly bool _interactive = !Console.IsErrorRedirected;
    private int _lastQuarter;
    private int _finished;

    public ProgressBar(int total, Func<int> done, long startMicros)
    {
        _total = Math.Max(1, total);
        _done = done;
        _startMicros = startMicros;
        _timer = new Timer(_ => Draw(false), null, TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(200));
    }

    public void Finish()
    {
        if (Interlocked.Exchange(ref _finished, 1) == 0)
        {
            _timer.Dispose();
            Draw(true);
        }
    }

    public void Dispose() => Finish();

    private void Draw(bool final)
    {
        int done = Math.Min(_done(), _total);
        double seconds = Math.Max(1e-6, (MonotonicClock.NowMicros - _startMicros) / 1e6);
        const int width = 30;
        int filled = done * width / _total;
        string line = FormattableString.Invariant($"[{new string('#', filled)}{new string('.', width - filled)}] {done}/{_total} frames, {done / seconds:0.0} frames/s");
        if (_interactive)
        {
            Console.Error.Write(final ? $"\r{line}\n" : $"\r{line}");
        }
        else
        {
            int quarter = done * 4 / _total;
            if (quarter > _lastQuarter || final)
            {
                _lastQuarter = quarter;
                if (!final || quarter < 4 || _lastQuarter == 4)
                {
                    Console.Error.WriteLine(line);
                }
            }
        }
    }
}
