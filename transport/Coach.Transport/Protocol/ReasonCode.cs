namespace Coach.Transport.Protocol;

/// <summary>
/// Why a frame, a handshake or a request was refused. Carried as a little-endian u16 in Reject and
/// Error frames and in <see cref="ProtocolViolationException"/>; values are stable across versions.
/// </summary>
public enum ReasonCode : ushort
{
    None = 0,

    // Framing (1xx): the connection is closed after these.
    BadMagic = 100,
    UnsupportedVersion = 101,
    HeaderChecksumMismatch = 102,
    PayloadChecksumMismatch = 103,
    FrameTooLarge = 104,
    UnknownFrameType = 105,
    TruncatedPayload = 106,
    MalformedPayload = 107,
    TooManyTensors = 108,
    RankTooLarge = 109,
    TensorTooLarge = 110,
    StringTooLong = 111,
    UnexpectedFrame = 112,
    ConnectionClosedMidFrame = 113,

    // Handshake (2xx): answered by Reject.
    HandshakeRequired = 200,
    UnknownPlan = 201,
    ModelMismatch = 202,
    AuthenticationRequired = 203,
    AuthenticationFailed = 204,
    ServerBusy = 205,
    HandshakeTimeout = 206,

    // Per request (3xx): answered by Error with the request id; the connection stays open.
    UnsupportedCompression = 300,
    UnsupportedElementType = 301,
    UnsupportedBits = 302,
    ShapeMismatch = 303,
    TensorMissing = 304,
    TailFailed = 305,
    TooManyInFlight = 306,
    DuplicateRequestId = 307,
    ShuttingDown = 308,
    IdleTimeout = 309,

    /// <summary>The cloud sheds the request: its plan's queue is past the cloud's limit (docs/fleet.md §5); the edge answers the frame itself.</summary>
    Overloaded = 310,
}
