using System.Buffers;
using Coach.Transport.Protocol;

namespace Coach.Transport.Cloud;

/// <summary>
/// Whoever queued a request at a <see cref="TailModel"/> (on the cloud, an edge's connection): the
/// tail's batch loop answers each request through it. Implementations are thread-safe.
/// </summary>
internal interface ITailRequester
{
    /// <summary>Names the requester in the cloud's log.</summary>
    string ClientId { get; }

    /// <summary>Queues the request's Result; <paramref name="logits"/> is valid only during the call.</summary>
    void Answer(in ResultMessage result, ReadOnlySpan<float> logits);

    /// <summary>Queues an Error for one request.</summary>
    void Fail(ulong requestId, ReasonCode reason, string message);

    /// <summary>A framing fault found after the request was queued (its tensor data does not decode): the requester closes (docs/protocol.md §6).</summary>
    void Violate(ReasonCode reason, string message);

    /// <summary>The requester's connection has closed: nothing it sent is coming any more (its H.264 stream state can go).</summary>
    bool IsClosed { get; }
}

/// <summary>One validated request waiting for its tail: a copy of its payload (pooled) and descriptors.</summary>
internal sealed class TailJob
{
    /// <summary>Who sent the request, and is answered for it.</summary>
    public required ITailRequester Requester { get; init; }

    public required ulong RequestId { get; init; }

    public required byte[] Data { get; init; }

    public required int DataLength { get; init; }

    public required WireTensor[] Tensors { get; init; }

    public required int TensorCount { get; init; }

    public required bool WantLogits { get; init; }

    public long FirstByteMicros { get; init; }

    public long LastByteMicros { get; init; }

    public long EnqueuedMicros { get; init; }

    public bool Failed { get; set; }

    public void Release() => ArrayPool<byte>.Shared.Return(Data);
}
