namespace Coach.Engine.Deployment;

/// <summary>
/// The edge's GPIO lines (edge.json <c>gpio</c>): a status output that is high while <c>coach-edge run</c> streams
/// frames (an LED, or a line a supervisor watches), and an optional trigger input whose edge starts the run (a start
/// button, a PLC, a camera's sync output). Both off unless a line number is given. Lines are numbered within
/// <see cref="Chip"/> as the kernel's GPIO character device numbers them (<c>gpioinfo</c> lists them).
/// </summary>
public sealed class GpioConfiguration
{
    /// <summary>The GPIO chip, /dev/gpiochip<i>N</i> (0 on a Jetson's main controller).</summary>
    public int Chip { get; set; }

    /// <summary>Output line driven high while the run streams frames, low before and after; null: none.</summary>
    public int? StatusLine { get; set; }

    /// <summary>Input line whose edge starts the run; null: the run starts at once.</summary>
    public int? TriggerLine { get; set; }

    /// <summary>Which edge of <see cref="TriggerLine"/> starts the run: <c>rising</c> or <c>falling</c>.</summary>
    public string TriggerEdge { get; set; } = "rising";

    /// <summary>Give up waiting for the trigger after this many seconds (0: wait for ever).</summary>
    public double TriggerTimeoutS { get; set; }

    /// <summary>True when any line is configured.</summary>
    public bool IsUsed => StatusLine is not null || TriggerLine is not null;

    internal void Validate(List<string> problems)
    {
        if (Chip < 0)
        {
            problems.Add($"gpio.chip must be a chip number (0 for /dev/gpiochip0), got {Chip}");
        }
        if (StatusLine is < 0)
        {
            problems.Add($"gpio.statusLine must be a line number or null, got {StatusLine}");
        }
        if (TriggerLine is < 0)
        {
            problems.Add($"gpio.triggerLine must be a line number or null, got {TriggerLine}");
        }
        if (StatusLine is not null && StatusLine == TriggerLine)
        {
            problems.Add($"gpio.statusLine and gpio.triggerLine are both line {StatusLine}: one line cannot be an output and an input");
        }
        if (TriggerEdge is not ("rising" or "falling"))
        {
            problems.Add($"gpio.triggerEdge must be \"rising\" or \"falling\", got \"{TriggerEdge}\"");
        }
        if (TriggerTimeoutS < 0 || double.IsNaN(TriggerTimeoutS))
        {
            problems.Add($"gpio.triggerTimeoutS must be 0 (wait for ever) or a number of seconds, got {TriggerTimeoutS}");
        }
    }
}
