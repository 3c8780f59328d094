namespace Coach.Transport.Protocol;

/// <summary>The kind of a frame, byte 5 of the header (docs/protocol.md §3).</summary>
public enum FrameType : byte
{
    /// <summary>Edge → cloud, first frame of a connection.</summary>
    Hello = 1,
    /// <summary>Cloud → edge, the handshake succeeded.</summary>
    HelloAck = 2,
    /// <summary>Cloud → edge, the handshake failed; the connection closes after it.</summary>
    Reject = 3,
    /// <summary>Edge → cloud, one inference task: the cut tensors of one frame.</summary>
    Request = 4,
    /// <summary>Cloud → edge, the answer to one request.</summary>
    Result = 5,
    /// <summary>Either direction, a request (or the connection) failed.</summary>
    Error = 6,
    /// <summary>Either direction, liveness probe; answered by <see cref="Pong"/>.</summary>
    Ping = 7,
    /// <summary>The answer to a <see cref="Ping"/>, echoing its payload.</summary>
    Pong = 8,
    /// <summary>Either direction, orderly close: no more requests will be sent.</summary>
    Goodbye = 9,
    // 16..31: the authentication exchange (docs/protocol.md §4.7); 18..31 stay reserved.
    /// <summary>Cloud → edge, during the handshake: the server's fresh nonce (pre-shared-key authentication).</summary>
    Challenge = 16,
    /// <summary>Edge → cloud, during the handshake: HMAC proof of the key over both nonces.</summary>
    Proof = 17,
}

/// <summary>Header flags (bytes 6–7).</summary>
[Flags]
public enum FrameFlags : ushort
{
    None = 0,
    /// <summary>On a Request: the cloud returns the full logits in the Result, not only the label.</summary>
    WantLogits = 1,
}
