namespace Coach.Transport.Protocol;

/// <summary>
/// The peer sent bytes that break the wire protocol (docs/protocol.md). The connection that
/// received them is closed with <see cref="Reason"/>; other connections are unaffected.
/// </summary>
public sealed class ProtocolViolationException : Exception
{
    public ProtocolViolationException()
        : this(ReasonCode.MalformedPayload, "malformed frame")
    {
    }

    public ProtocolViolationException(string message)
        : this(ReasonCode.MalformedPayload, message)
    {
    }

    public ProtocolViolationException(string message, Exception innerException)
        : base(message, innerException)
    {
        Reason = ReasonCode.MalformedPayload;
    }

    public ProtocolViolationException(ReasonCode reason, string message)
        : base($"{reason}: {message}")
    {
        Reason = reason;
    }

    /// <summary>The reason code sent to the peer (when it can still be told) and logged.</summary>
    public ReasonCode Reason { get; }
}
