using System.Collections.Concurrent;
using Coach.Engine.Online;

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

    /// <summary>The queueing one Result reported (docs/protocol.md §4.5).</summary>
    public void CloudQueue(double seconds) => _items.Enqueue(new Item(Kind.CloudQueue, 0, 0, 0, seconds));

    /// <summary>Gives <paramref name="scheduler"/> everything queued so far, in arrival order.</summary>
    /// <param name="load">The load feedback that reported queueing moves between the cloud plan and the fallback; null = none.</param>
    /// <returns>Whether a report changed the plan (to the fallback or back).</returns>
    public bool DrainInto(IFrameScheduler scheduler, CloudLoadFeedback? load = null)
    {
        bool changed = false;
        while (_items.TryDequeue(out Item item))
        {
            switch (item.Type)
            {
                case Kind.CloudLabel:
                    scheduler.OnCloudLabel(item.FrameId, item.Label);
                    break;
                case Kind.Transfer:
                    scheduler.OnTransferSample(item.Bytes, item.Seconds);
                    break;
                default:
                    if (load is not null)
                    {
                        changed |= load.Report(item.Seconds);
                        scheduler.OnCloudQueue(load.QueueSeconds);
                    }

                    break;
            }
        }

        return changed;
    }

    private enum Kind : byte
    {
        CloudLabel,
        Transfer,
        CloudQueue,
    }

    private readonly record struct Item(Kind Type, int FrameId, int Label, long Bytes, double Seconds);
}
