namespace Coach.Transport.Edge;

/// <summary>
/// Every frame of a run and where it stands: its <see cref="FrameRecord"/> (request id = frame id + 1,
/// so the record array is the pending table), whether it has ended (exactly once: a late or
/// duplicate answer finds it ended), and on which connection epoch it was sent, so an answer from
/// a connection the frame no longer waits on is told apart. The run ends when every frame taken
/// has ended.
/// </summary>
internal sealed class FrameLedger
{
    private readonly FrameRecord[] _records;
    private readonly int[] _finished;
    private readonly int[] _sentEpoch;
    private readonly TaskCompletionSource _allAnswered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _completed;

    /// <summary>Frames the run answers: the source's count, lowered to the frames taken when a duration ends the run early.</summary>
    private int _target;
    private int _duplicates;
    private int _staleAnswers;

    public FrameLedger(int frames)
    {
        _records = new FrameRecord[frames];
        _finished = new int[frames];
        _sentEpoch = new int[frames];
        _target = frames;
        for (int i = 0; i < _records.Length; i++)
        {
            _records[i].FrameId = i;
        }

        EndIfAllAnswered(0); // a source without frames
    }

    /// <summary>Frames the source offers.</summary>
    public int Capacity => _records.Length;

    public ref FrameRecord this[int frame] => ref _records[frame];

    /// <summary>Records of the frames taken.</summary>
    public ReadOnlySpan<FrameRecord> Taken => _records.AsSpan(0, Target);

    public int Target => Volatile.Read(ref _target);

    public int Completed => Volatile.Read(ref _completed);

    public bool AllAnswered => Completed >= Target;

    /// <summary>Completes once every frame taken has ended.</summary>
    public Task AllAnsweredTask => _allAnswered.Task;

    /// <summary>Answers from the cloud for frames that had already ended (not answered locally first).</summary>
    public int Duplicates => Volatile.Read(ref _duplicates);

    /// <summary>Answers dropped because the frame no longer waited on their connection, or was answered locally first.</summary>
    public int StaleAnswers => Volatile.Read(ref _staleAnswers);

    /// <summary>No frame from <paramref name="frames"/> on is taken: the frames taken so far are the run.</summary>
    public void StopTakingAt(int frames)
    {
        Interlocked.Exchange(ref _target, frames);
        EndIfAllAnswered(Completed);
    }

    /// <summary>Ends a frame exactly once; false when it had already ended (a duplicate answer).</summary>
    public bool Complete(int frame, FrameDecision decision, int label, long endMicros)
    {
        if (Interlocked.CompareExchange(ref _finished[frame], 1, 0) != 0)
        {
            return false;
        }

        ref FrameRecord record = ref _records[frame];
        record.Decision = decision;
        record.PredictedLabel = label;
        record.EndMicros = endMicros;
        EndIfAllAnswered(Interlocked.Increment(ref _completed));
        return true;
    }

    public bool IsFinished(int frame) => Volatile.Read(ref _finished[frame]) != 0;

    /// <summary>The frame's request goes out on the connection of <paramref name="epoch"/>.</summary>
    public void MarkSent(int frame, int epoch) => Volatile.Write(ref _sentEpoch[frame], epoch);

    /// <summary>Whether the frame's request was last sent on the connection of <paramref name="epoch"/>.</summary>
    public bool WasSentOn(int frame, int epoch) => Volatile.Read(ref _sentEpoch[frame]) == epoch;

    /// <summary>An answer from a connection the frame no longer waits on.</summary>
    public void CountStale() => Interlocked.Increment(ref _staleAnswers);

    /// <summary>An answer for a frame that had already ended.</summary>
    public void CountLateOrDuplicate(int frame)
    {
        ref FrameRecord record = ref _records[frame];
        if (record.Decision == FrameDecision.Fallback)
        {
            CountStale(); // answered locally first; the late cloud answer is dropped
        }
        else
        {
            Interlocked.Increment(ref _duplicates);
            record.Duplicates++;
        }
    }

    private void EndIfAllAnswered(int completed)
    {
        if (completed >= Target)
        {
            _allAnswered.TrySetResult();
        }
    }
}
