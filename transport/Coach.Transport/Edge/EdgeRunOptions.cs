using System.Net;
using Coach.Native.OnnxRuntime;

namespace Coach.Transport.Edge;

/// <summary>Settings of one edge run.</summary>
public sealed record EdgeRunOptions
{
    /// <summary>The cloud to send to; null is fine for an edge-only plan.</summary>
    public EndPoint? Cloud { get; init; }

    public string ClientId { get; init; } = $"coach-edge@{Environment.MachineName}";

    /// <summary>Frames that can be in the pipeline's stages at once (head outputs held).</summary>
    public int Slots { get; init; } = 4;

    /// <summary>Capacity of each bounded queue between stages.</summary>
    public int QueueCapacity { get; init; } = 2;

    /// <summary>In-process link shaper for the send path, or null.</summary>
    public LinkShaper? Shaper { get; init; }

    /// <summary>ORT settings of the head.</summary>
    public SessionSettings? HeadSettings { get; init; }

    /// <summary>The full model, for an edge-only plan without head.onnx.</summary>
    public string? FullModelPath { get; init; }

    /// <summary>Ask the cloud for full logits in every Result.</summary>
    public bool WantLogits { get; init; }

    /// <summary>Writes a progress bar (stderr) while running.</summary>
    public bool ShowProgress { get; init; }

    public Action<string> Log { get; init; } = static line => Console.Error.WriteLine(line);
}
