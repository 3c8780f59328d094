using System.Device.Gpio;
using System.Device.Gpio.Drivers;

namespace Coach.Native.Gpio;

/// <summary>
/// The edge's GPIO lines through System.Device.Gpio: a status output held high while frames stream, and an optional
/// trigger input whose edge starts the run. On a Jetson the lines go through the GPIO character device (libgpiod,
/// present on JetPack); where libgpiod is missing, through the kernel's sysfs GPIO interface.
/// </summary>
public sealed class EdgeSignals : IDisposable
{
    private readonly GpioController _controller;
    private readonly int? _statusLine;
    private readonly int? _triggerLine;
    private readonly PinEventTypes _triggerEdge;

    /// <summary>Opens the lines on <paramref name="driver"/> (the caller's driver is owned from here on).</summary>
    public EdgeSignals(GpioDriver driver, int? statusLine, int? triggerLine, bool triggerOnRisingEdge = true)
    {
        ArgumentNullException.ThrowIfNull(driver);
        _controller = new GpioController(driver);
        _statusLine = statusLine;
        _triggerLine = triggerLine;
        _triggerEdge = triggerOnRisingEdge ? PinEventTypes.Rising : PinEventTypes.Falling;
        try
        {
            if (statusLine is int output)
            {
                _controller.OpenPin(output, PinMode.Output, PinValue.Low);
            }
            if (triggerLine is int input)
            {
                _controller.OpenPin(input, PinMode.Input);
            }
        }
        catch
        {
            _controller.Dispose();
            throw;
        }
    }

    /// <summary>Opens the lines on GPIO chip <paramref name="chip"/>: libgpiod when the system has it, else sysfs.</summary>
    /// <exception cref="IOException">Neither interface can reach the chip; the message says what to install or check.</exception>
    public static EdgeSignals Open(int chip, int? statusLine, int? triggerLine, bool triggerOnRisingEdge = true)
    {
        GpioDriver driver;
        try
        {
            driver = new LibGpiodDriver(chip);
        }
        catch (Exception gpiod) when (gpiod is DllNotFoundException or PlatformNotSupportedException or IOException or ArgumentException)
        {
            try
            {
                driver = new SysFsDriver();
            }
            catch (Exception sysfs) when (sysfs is PlatformNotSupportedException or IOException or UnauthorizedAccessException)
            {
                throw new IOException(
                    $"GPIO chip {chip} is not reachable: libgpiod said \"{gpiod.Message}\" and sysfs GPIO said \"{sysfs.Message}\". " +
                    "On a Jetson install libgpiod (apt-get install libgpiod2) and run coach-edge as a member of the gpio group, " +
                    "or leave gpio.statusLine and gpio.triggerLine out of edge.json.", sysfs);
            }
        }
        return new EdgeSignals(driver, statusLine, triggerLine, triggerOnRisingEdge);
    }

    /// <summary>Drives the status line (no-op without one).</summary>
    public void SetStatus(bool streaming)
    {
        if (_statusLine is int output)
        {
            _controller.Write(output, streaming ? PinValue.High : PinValue.Low);
        }
    }

    /// <summary>Waits for the trigger line's edge; returns at once without a trigger line. False when
    /// <paramref name="timeout"/> (zero: none) passed first.</summary>
    public async Task<bool> WaitForTriggerAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (_triggerLine is not int input)
        {
            return true;
        }
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeout > TimeSpan.Zero)
        {
            deadline.CancelAfter(timeout);
        }
        var result = await _controller.WaitForEventAsync(input, _triggerEdge, deadline.Token).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return !result.TimedOut;
    }

    public void Dispose()
    {
        try
        {
            SetStatus(false);
        }
        catch (InvalidOperationException)
        {
            // The line was never opened (a failed start); nothing to reset.
        }
        _controller.Dispose();
    }
}
