using System.IO.Pipelines;
using Coach.Engine.Data;
using Coach.Native.OnnxRuntime;
using Coach.Transport.Protocol;

namespace Coach.Transport.Edge;

public sealed partial class EdgePipeline
{
    /// <summary>Fixed UAQ parameters of an 8-bit frame in [0,1] (the cloud-only plan): q = 255·x exactly.</summary>
    private static readonly Engine.DataPlane.QuantizationParameters EightBitFrame = new(1f / 255f, 0, 8);

    private async Task HeadStageAsync(CancellationToken cancellationToken)
    {
        try
        {
            double interval = _options.FramesPerSecond is double fps and > 0 ? 1e6 / fps : 0;
            long firstArrival = MonotonicClock.NowMicros;
            long stopAt = _options.Duration is { } duration ? firstArrival + (long)duration.TotalMicroseconds : long.MaxValue;
            for (int frame = 0; frame < _records.Length; frame++)
            {
                if (MonotonicClock.NowMicros >= stopAt || _options.StopTaking.IsCancellationRequested)
                {
                    // Time is up: the frames taken so far are the run; completing them ends it.
                    Interlocked.Exchange(ref _target, frame);
                    EndIfAllAnswered(Volatile.Read(ref _completed));

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
                ref FrameRecord record = ref _records[frame];
                record.FrameId = frame;
                record.TrueLabel = _source.Label(frame);
                record.PredictedLabel = -1;
                record.StartMicros = interval > 0 ? arrival : start;
                _source.RenderFrame(frame, slot.Input.AsSpan<float>());
                slot.Run();
                slot.FrameId = frame;
                // Camera-paced: the frame queued when the head took it a quarter interval or more after it arrived.
                slot.Saturated = interval <= 0 || start - arrival > interval / 4;
                long end = Dilate(start, MonotonicClock.NowMicros);
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
                ref FrameRecord record = ref _records[slot.FrameId];
                DrainFeedback();
                bool forward = false;
                if (_plan.IsEdgeOnly)
                {
                    Complete(ref record, FrameDecision.EdgeOnly, ModelEvaluator.ArgMax(slot.Outputs[0].AsSpan<float>()), MonotonicClock.NowMicros);
                }
                else
                {
                    _scheduler.OnLoad(slot.Saturated);
                    SchedulingDecision decision = _scheduler.Decide(slot.FrameId, slot.Outputs, record.HeadMicros / 1e6);
                    if (decision.EarlyExit)
                    {
                        Complete(ref record, FrameDecision.EarlyExit, decision.Label, MonotonicClock.NowMicros);
                    }
                    else
                    {
                        _slotDecisions[slot.Index] = decision;
                        forward = true;
                    }
                }

                long end = Dilate(start, MonotonicClock.NowMicros);
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
            if (!_inFlight.Wait(0))
            {
                await _inFlight.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            long start = MonotonicClock.NowMicros;
            SendClock.AddWait(start - waitStart);
            int frame = slot.FrameId;
            await SendAsync(slot, frame, start, cancellationToken).ConfigureAwait(false);

            long end = MonotonicClock.NowMicros;
            _records[frame].SendMicros = (int)(end - start);
            SendClock.AddBusy(end - start);
            _freeSlots.Writer.TryWrite(slot);
        }
    }

    /// <summary>Sends one frame on the current connection, or answers it on the edge when there is none.</summary>
    private async Task SendAsync(HeadSlot slot, int frame, long start, CancellationToken cancellationToken)
    {
        while (true)
        {
            EdgeClient? client;
            int epoch;
            Task? handover;
            lock (_linkGate)
            {
                client = _connected ? _client : null;
                epoch = _epoch;
                handover = client is null ? _handover?.Task : null;
            }

            if (handover is not null)
            {
                // The cloud is shutting down and the next connection is being made: the frame waits for it
                // (bounded), so a rolling restart loses nothing (docs/protocol.md §1.7).
                try
                {
                    await handover.WaitAsync(_options.HandshakeTimeout, cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    EndHandover();
                }

                continue;
            }

            if (client is null)
            {
                AnswerUnsent(slot);
                return;
            }

            if (!_sendLock.Wait(0))
            {
                await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            try
            {
                lock (_linkGate)
                {
                    if (!_connected || !ReferenceEquals(_client, client) || _epoch != epoch)
                    {
                        continue; // handed over or lost meanwhile: choose again
                    }

                    // Marked under the gate: a connection loss after this point finds the frame and answers it.
                    Volatile.Write(ref _sentEpoch[frame], epoch);
                }

                int bits = _slotDecisions[slot.Index].Bits;
                _records[frame].Bits = bits != 0 ? bits : _head.OutputSpecs[0].Bits;
                try
                {
                    _records[frame].WireBytes = WriteRequest(client, slot, bits, _records[frame].StartMicros);
                    Dilate(start, MonotonicClock.NowMicros);
                    Interlocked.Increment(ref _requestsSent);
                    FlushResult flush = await client.Output.FlushAsync(cancellationToken).ConfigureAwait(false);
                    if (flush.IsCompleted || flush.IsCanceled)
                    {
                        LinkDown(epoch, "the connection's send side closed");
                    }
                }
                catch (Exception e) when (e is InvalidOperationException or IOException or ObjectDisposedException)
                {
                    LinkDown(epoch, $"sending failed: {e.Message}");
                }

                return;
            }
            finally
            {
                _sendLock.Release();
            }
        }
    }

    /// <summary>
    /// Emulated slower device (<see cref="EdgeRunOptions.EmulatedSlowdown"/>): a compute step that ran from
    /// <paramref name="start"/> to <paramref name="end"/> is stretched to <c>slowdown × (end − start)</c> by waiting
    /// (sleep, then a spin for the last millisecond so the stretch is exact to a few microseconds). Returns the new end.
    /// </summary>
    private long Dilate(long start, long end)
    {
        double slowdown = _options.EmulatedSlowdown;
        if (slowdown <= 1)
        {
            return end;
        }

        long until = end + (long)((end - start) * (slowdown - 1));
        long remaining;
        while ((remaining = until - MonotonicClock.NowMicros) > 1500)
        {
            Thread.Sleep((int)((remaining - 1000) / 1000));
        }

        while (MonotonicClock.NowMicros < until)
        {
            Thread.SpinWait(32);
        }

        return MonotonicClock.NowMicros;
    }

    /// <summary>
    /// Packs the slot's cut tensors into one Request frame written straight into the connection's
    /// pipe (no allocation). Returns the frame's size on the wire.
    /// </summary>
    private int WriteRequest(EdgeClient client, HeadSlot slot, int bitsOverride, long captureMicros)
    {
        IReadOnlyList<PinnedTensor> outputs = slot.Outputs;
        int capacity = 0;
        for (int t = 0; t < outputs.Count; t++)
        {
            capacity += RequestFrameWriter.TensorCapacity(_frameShapes[t].Length, outputs[t].ElementCount, BitsFor(t, bitsOverride));
        }

        var header = new RequestHeader((ulong)slot.FrameId + 1, captureMicros, MonotonicClock.NowMicros, outputs.Count);
        var writer = RequestFrameWriter.Begin(client.Output, header, capacity, _options.WantLogits ? FrameFlags.WantLogits : FrameFlags.None);
        for (int t = 0; t < outputs.Count; t++)
        {
            ReadOnlySpan<float> values = outputs[t].AsSpan<float>();
            int bits = BitsFor(t, bitsOverride);
            if (bits == WireTensor.RawFloatBits)
            {
                writer.AddRaw(t, values, _frameShapes[t]);
            }
            else if (_plan.IsCloudOnly && bits == 8)
            {
                writer.AddQuantized(t, values, _frameShapes[t], EightBitFrame);
            }
            else
            {
                writer.AddQuantized(t, values, _frameShapes[t], bits);
            }
        }

        writer.Complete();
        return FrameHeader.Size + RequestHeader.Size + capacity;
    }

    /// <summary>A frame that cannot be sent (no connection now): the full model answers it from the slot's input, else it fails.</summary>
    private void AnswerUnsent(HeadSlot slot)
    {
        int frame = slot.FrameId;
        if (_fallback is not null)
        {
            int label = _fallback.Answer(slot.Input.AsSpan<float>());
            if (CompleteSent(ref _records[frame], FrameDecision.Fallback, label, MonotonicClock.NowMicros))
            {
                Interlocked.Increment(ref _fallbackAnswers);
            }
        }
        else
        {
            CompleteSent(ref _records[frame], FrameDecision.Failed, -1, MonotonicClock.NowMicros);
        }
    }

    private int BitsFor(int tensor, int bitsOverride)
    {
        int planned = _head.OutputSpecs[tensor].Bits;
        return bitsOverride != 0 && planned != WireTensor.RawFloatBits ? bitsOverride : planned;
    }

    private void DrainFeedback()
    {
        while (_feedback.TryDequeue(out Feedback item))
        {
            if (item.Kind == FeedbackKind.CloudLabel)
            {
                _scheduler.OnCloudLabel(item.FrameId, item.Label);
            }
            else
            {
                _scheduler.OnTransferSample(item.Bytes, item.Seconds);
            }
        }
    }
}
