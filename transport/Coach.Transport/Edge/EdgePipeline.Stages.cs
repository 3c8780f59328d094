using Coach.Engine.Data;

namespace Coach.Transport.Edge;

public sealed partial class EdgePipeline
{
    private async Task HeadStageAsync(CancellationToken cancellationToken)
    {
        try
        {
            double interval = _options.FramesPerSecond is double fps and > 0 ? 1e6 / fps : 0;
            long firstArrival = MonotonicClock.NowMicros;
            long stopAt = _options.Duration is { } duration ? firstArrival + (long)duration.TotalMicroseconds : long.MaxValue;
            for (int frame = 0; frame < _ledger.Capacity; frame++)
            {
                if (MonotonicClock.NowMicros >= stopAt || _options.StopTaking.IsCancellationRequested)
                {
                    // Time is up: the frames taken so far are the run; completing them ends it.
                    _ledger.StopTakingAt(frame);

                    break;
                }

                long arrival = 0;
                if (interval > 0)
                {
                    // A camera delivers frame i at t0 + i/fps; the head cannot start it earlier.
                    arrival = firstArrival + (long)(frame * interval);
                    long early = arrival - MonotonicClock.NowMicros;
                    if (early > 1500)
                    {
                        await Task.Delay(TimeSpan.FromMicroseconds(early - 1000), cancellationToken).ConfigureAwait(false);
                    }

                    while (MonotonicClock.NowMicros < arrival)
                    {
                        Thread.SpinWait(64);
                    }
                }

                if (frame == WarmupFrames)
                {
                    Volatile.Write(ref _cpuTicksAtWarm, Environment.CpuUsage.TotalTime.Ticks);
                }

                long waitStart = MonotonicClock.NowMicros;
                HeadSlot slot = await _freeSlots.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                long start = MonotonicClock.NowMicros;
                HeadClock.AddWait(start - waitStart);
                ref FrameRecord record = ref _ledger[frame];
                record.FrameId = frame;
                record.TrueLabel = _source.Label(frame);
                record.PredictedLabel = -1;
                record.StartMicros = interval > 0 ? arrival : start;
                _source.RenderFrame(frame, slot.Input.AsSpan<float>());
                slot.Run();
                slot.FrameId = frame;
                // Camera-paced: the frame queued when the head took it a quarter interval or more after it arrived.
                slot.Saturated = interval <= 0 || start - arrival > interval / 4;
                long end = _deviceClock.Dilate(start, MonotonicClock.NowMicros);
                record.HeadMicros = (int)(end - start);
                HeadClock.AddBusy(end - start);
                if (!_toSchedule.Writer.TryWrite(slot))
                {
                    await _toSchedule.Writer.WriteAsync(slot, cancellationToken).ConfigureAwait(false);
                    HeadClock.AddWait(MonotonicClock.NowMicros - end);
                }
            }
        }
        finally
        {
            _toSchedule.Writer.TryComplete();
        }
    }

    private async Task ScheduleStageAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                long waitStart = MonotonicClock.NowMicros;
                if (!_toSchedule.Reader.TryRead(out HeadSlot? slot))
                {
                    if (!await _toSchedule.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        break;
                    }

                    continue;
                }

                long start = MonotonicClock.NowMicros;
                ScheduleClock.AddWait(start - waitStart);
                ref FrameRecord record = ref _ledger[slot.FrameId];
                if (_feedback.DrainInto(_scheduler, LoadFeedback) && LoadFeedback is { } load)
                {
                    _options.Log(load.OnFallback
                        ? $"edge: the cloud reports {load.QueueSeconds * 1000:0.#} ms of queueing (over {load.EnterSeconds * 1000:0.#} ms): answering on the edge with the full model, one frame in {load.ProbeEvery} still to the cloud"
                        : $"edge: the cloud reports {load.QueueSeconds * 1000:0.#} ms of queueing (under {load.LeaveSeconds * 1000:0.#} ms): back to the cloud plan");
                }

                bool forward = false;
                if (_plan.IsEdgeOnly)
                {
                    _ledger.Complete(slot.FrameId, FrameDecision.EdgeOnly, ModelEvaluator.ArgMax(slot.Outputs[0].AsSpan<float>()), MonotonicClock.NowMicros);
                }
                else if (LoadFeedback is { } loaded && loaded.AnswerOnEdge() && _link.AnswerUnderLoad(slot))
                {
                    // The cloud's queue is long (docs/fleet.md §7): the full model answered on the edge.
                }
                else
                {
                    _scheduler.OnLoad(slot.Saturated);
                    SchedulingDecision decision = _scheduler.Decide(slot.FrameId, slot.Outputs, record.HeadMicros / 1e6);
                    if (decision.EarlyExit)
                    {
                        _ledger.Complete(slot.FrameId, FrameDecision.EarlyExit, decision.Label, MonotonicClock.NowMicros);
                    }
                    else
                    {
                        _slotBits[slot.Index] = decision.Bits;
                        forward = true;
                    }
                }

                long end = _deviceClock.Dilate(start, MonotonicClock.NowMicros);
                record.ScheduleMicros = (int)(end - start);
                ScheduleClock.AddBusy(end - start);
                if (!forward)
                {
                    _freeSlots.Writer.TryWrite(slot);
                }
                else if (!_toSend.Writer.TryWrite(slot))
                {
                    await _toSend.Writer.WriteAsync(slot, cancellationToken).ConfigureAwait(false);
                    ScheduleClock.AddWait(MonotonicClock.NowMicros - end);
                }
            }
        }
        finally
        {
            _toSend.Writer.TryComplete();
        }
    }

    private async Task SendStageAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            long waitStart = MonotonicClock.NowMicros;
            if (!_toSend.Reader.TryRead(out HeadSlot? slot))
            {
                if (!await _toSend.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    break;
                }

                continue;
            }

            // Room at the cloud: at most the in-flight requests its HelloAck allows.
            await _link.WaitForPermitAsync(cancellationToken).ConfigureAwait(false);

            long start = MonotonicClock.NowMicros;
            SendClock.AddWait(start - waitStart);
            int frame = slot.FrameId;
            await _link.SendAsync(slot, _slotBits[slot.Index], start, cancellationToken).ConfigureAwait(false);

            long end = MonotonicClock.NowMicros;
            _ledger[frame].SendMicros = (int)(end - start);
            SendClock.AddBusy(end - start);
            _freeSlots.Writer.TryWrite(slot);
        }
    }
}
