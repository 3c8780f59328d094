using Coach.Transport.Protocol;

namespace Coach.Transport.Cloud;

/// <summary>
/// What a <see cref="CloudServer"/> hands a connection's validated requests to, one per plan: the tail that answers them
/// (<see cref="TailModel"/>), or a relay's stage that runs its part of a pipeline and forwards the rest
/// (<see cref="Relay.RelayStage"/>, docs/edgepipe.md). Either answers every request it takes once, through its requester.
/// </summary>
internal interface IRequestStage : IDisposable
{
    PlanDirectory Plan { get; }

    /// <summary>Largest batch granted in the HelloAck.</summary>
    int MaxBatch { get; }

    /// <summary>Checks a request's tensors; on a mismatch returns the reason and says what was wrong.</summary>
    ReasonCode Validate(ReadOnlySpan<WireTensor> tensors, out string message);

    /// <summary>Requests taken and not yet answered or started: the load the cloud sheds at (docs/fleet.md).</summary>
    int Waiting { get; }

    /// <summary>Takes a validated request; it is answered (or failed) through its requester exactly once.</summary>
    void Enqueue(TailJob job);

    /// <summary>One log line on what was loaded.</summary>
    string Describe();
}
