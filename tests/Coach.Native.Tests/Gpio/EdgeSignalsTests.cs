using System.Device.Gpio;
using Coach.Native.Gpio;

namespace Coach.Native.Tests.Gpio;

/// <summary>The status output and start trigger over an in-memory GPIO chip (no GPIO hardware on a build machine).</summary>
public sealed class EdgeSignalsTests
{
    [Fact]
    public void TheStatusLineIsLowAtOpenHighWhileStreamingAndLowAfterDispose()
    {
        var chip = new MemoryGpioChip();
        var signals = new EdgeSignals(chip, statusLine: 7, triggerLine: null);

        Assert.Equal(PinMode.Output, chip.Modes[7]);
        Assert.Equal(PinValue.Low, chip.Values[7]);
        signals.SetStatus(true);
        Assert.Equal(PinValue.High, chip.Values[7]);
        signals.Dispose();
        Assert.Equal(PinValue.Low, chip.LastWritten[7]);
        Assert.True(chip.Disposed);
    }

    [Fact]
    public async Task TheRunWaitsForTheConfiguredEdgeOfTheTriggerLine()
    {
        var chip = new MemoryGpioChip();
        using var signals = new EdgeSignals(chip, statusLine: null, triggerLine: 12, triggerOnRisingEdge: false);

        var wait = signals.WaitForTriggerAsync(TimeSpan.Zero, CancellationToken.None);
        await Task.Delay(50);
        Assert.False(wait.IsCompleted);
        chip.Edge(12, PinEventTypes.Rising); // the other edge does not start it
        await Task.Delay(50);
        Assert.False(wait.IsCompleted);
        chip.Edge(12, PinEventTypes.Falling);

        Assert.True(await wait.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(PinMode.Input, chip.Modes[12]);
    }

    [Fact]
    public async Task ATriggerThatNeverComesTimesOut()
    {
        using var signals = new EdgeSignals(new MemoryGpioChip(), statusLine: 3, triggerLine: 4);

        Assert.False(await signals.WaitForTriggerAsync(TimeSpan.FromMilliseconds(50), CancellationToken.None));
    }

    [Fact]
    public async Task WithoutATriggerLineTheRunStartsAtOnce()
    {
        using var signals = new EdgeSignals(new MemoryGpioChip(), statusLine: 3, triggerLine: null);

        Assert.True(await signals.WaitForTriggerAsync(TimeSpan.FromMilliseconds(1), CancellationToken.None));
    }

    /// <summary>A GPIO chip in memory: line modes and values, and edges raised by the test.</summary>
    private sealed class MemoryGpioChip : GpioDriver
    {
        private readonly Dictionary<int, TaskCompletionSource<PinEventTypes>> _waiting = [];

        public Dictionary<int, PinMode> Modes { get; } = [];

        public Dictionary<int, PinValue> Values { get; } = [];

        public Dictionary<int, PinValue> LastWritten { get; } = [];

        public bool Disposed { get; private set; }

        protected override int PinCount => 64;

        public void Edge(int line, PinEventTypes edge)
        {
            lock (_waiting)
            {
                if (_waiting.TryGetValue(line, out var waiter))
                {
                    waiter.TrySetResult(edge);
                }
            }
        }

        protected override void OpenPin(int pinNumber) => Values[pinNumber] = PinValue.Low;

        protected override void ClosePin(int pinNumber) => Modes.Remove(pinNumber);

        protected override void SetPinMode(int pinNumber, PinMode mode) => Modes[pinNumber] = mode;

        protected override PinMode GetPinMode(int pinNumber) => Modes[pinNumber];

        protected override bool IsPinModeSupported(int pinNumber, PinMode mode) => mode is PinMode.Input or PinMode.Output;

        protected override PinValue Read(int pinNumber) => Values[pinNumber];

        protected override void Toggle(int pinNumber) => Write(pinNumber, !Values[pinNumber]);

        protected override void Write(int pinNumber, PinValue value)
        {
            Values[pinNumber] = value;
            LastWritten[pinNumber] = value;
        }

        protected override WaitForEventResult WaitForEvent(int pinNumber, PinEventTypes eventTypes, CancellationToken cancellationToken)
        {
            while (true)
            {
                var waiter = new TaskCompletionSource<PinEventTypes>(TaskCreationOptions.RunContinuationsAsynchronously);
                lock (_waiting)
                {
                    _waiting[pinNumber] = waiter;
                }
                try
                {
                    var edge = waiter.Task.WaitAsync(cancellationToken).GetAwaiter().GetResult();
                    if ((edge & eventTypes) != 0)
                    {
                        return new WaitForEventResult { EventTypes = edge, TimedOut = false };
                    }
                }
                catch (OperationCanceledException)
                {
                    return new WaitForEventResult { EventTypes = PinEventTypes.None, TimedOut = true };
                }
            }
        }

        protected override void AddCallbackForPinValueChangedEvent(int pinNumber, PinEventTypes eventTypes, PinChangeEventHandler callback) =>
            throw new NotSupportedException("not used by the edge");

        protected override void RemoveCallbackForPinValueChangedEvent(int pinNumber, PinChangeEventHandler callback) =>
            throw new NotSupportedException("not used by the edge");

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }
}
