using System.Collections.Concurrent;

namespace Coach.Transport.Edge;

/// <summary>
/// What the cloud's answers teach the online scheduler — the label of a frame it answered (eq. 7's
/// semantic centre update) and a transfer sample for the bandwidth estimate (eq. 11) — queued on the
/// receive loop and handed to the scheduler on the schedule stage, which alone calls it.
/// </summary>
internal sealed class SchedulerFeedback
{
    private readonly ConcurrentQueue<Item> _items = new();

    public void CloudLabel(int frame, int label) => _items.Enqueue(new Item(Kind.CloudLabel, frame, label, 0, 0));

    public void Transfer(long bytes, double seconds) => _items.Enqueue(new Item(Kind.Transfer, 0, 0, bytes, seconds));

    /// <summary>Gives <paramref name="scheduler"/> everything queued so far, in arrival order.</summary>
    public void DrainInto(IFrameScheduler scheduler)
    {
        while (_items.TryDequeue(out Item item))
        {
            if (item.Type == Kind.CloudLabel)
            {
                scheduler.OnCloudLabel(item.FrameId, item.Label);
            }
            else
            {
                scheduler.OnTransferSample(item.Bytes, item.Seconds);
            }
        }
    }

    private enum Kind : byte
    {
        CloudLabel,
        Transfer,
    }

    private readonly record struct Item(Kind Type, int FrameId, int Label, long Bytes, double Seconds);
}
