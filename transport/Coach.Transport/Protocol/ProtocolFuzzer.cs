using System.Buffers;
using System.Buffers.Binary;
using Coach.Engine.DataPlane;
using Coach.Transport.Security;

namespace Coach.Transport.Protocol;

/// <summary>What a fuzzing run found.</summary>
public sealed record FuzzReport(long Cases, long Rejected, long Accepted, long MaxAllocatedBytes, IReadOnlyList<string> Failures)
{
    /// <summary>True when every case was either parsed or refused with a <see cref="ProtocolViolationException"/>.</summary>
    public bool Clean => Failures.Count == 0;
}

/// <summary>
/// Seeded mutation fuzzer of the frame parser and the handshake messages: valid frames of every type
/// are mutated (bit flips, truncation, length fields set to extremes, shuffled fields, overwritten
/// ranges, appended garbage), half the time with the CRCs recomputed so the mutation reaches the
/// payload parsers, and parsed as the cloud and the edge parse them. Anything thrown other than
/// <see cref="ProtocolViolationException"/> is a failure; so is allocating more than the limits allow.
/// </summary>
public static class ProtocolFuzzer
{
    /// <summary>Most bytes one parse may allocate: a Hello's strings and auth field at their limits, with room.</summary>
    public static long AllocationBound(WireLimits limits) => (3L * limits.MaxStringBytes * 2) + (2L * limits.MaxAuthBytes) + (64 << 10);

    /// <summary>One valid frame of every type the protocol defines (what the mutations start from).</summary>
    public static IReadOnlyList<byte[]> SeedFrames()
    {
        var frames = new List<byte[]>();
        var hello = new HelloMessage
        {
            ClientId = "edge-fuzz",
            PlanId = "plan-7",
            TailName = "tail",
            ModelSha256 = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray(),
            PlanHash = Enumerable.Range(0, 32).Select(i => (byte)(255 - i)).ToArray(),
            Authentication = HandshakeAuthentication.ClientField(new byte[HandshakeAuthentication.NonceLength]),
        };
        frames.Add(Build(w => hello.Write(w)));
        frames.Add(Build(w => new HelloAckMessage { ConnectionId = 3, ServerId = "cloud", MaxBatch = 8, MaxInFlight = 256, MaxFrameBytes = 1 << 20, Authentication = new byte[32] }.Write(w)));
        frames.Add(Build(w => new RejectMessage(ReasonCode.AuthenticationFailed, "no").Write(w)));
        frames.Add(Build(w => new RejectMessage(ReasonCode.ShuttingDown, "bye").Write(w, FrameType.Goodbye)));
        frames.Add(Build(w => HandshakeAuthentication.WriteChallenge(w, new byte[HandshakeAuthentication.NonceLength])));
        frames.Add(Build(w => HandshakeAuthentication.WriteProof(w, new byte[HandshakeAuthentication.ProofLength])));
        frames.Add(Build(w => new ErrorMessage(5, ReasonCode.ShapeMismatch, "shape").Write(w)));
        frames.Add(Build(w => new PingMessage(123, 456).Write(w)));
        frames.Add(Build(w => ResultMessage.Write(w, new ResultMessage(9, 3, 2, 100, 20, 1000, 2000, 4), [0.1f, 0.2f, 0.9f, 0.3f])));
        float[] values = Enumerable.Range(0, 16).Select(i => i / 16f).ToArray();
        frames.Add(Build(w =>
        {
            int capacity = RequestFrameWriter.TensorCapacity(4, 16, 4) + RequestFrameWriter.TensorCapacity(2, 16, WireTensor.RawFloatBits);
            var request = RequestFrameWriter.Begin(w, new RequestHeader(11, 1, 2, 2), capacity);
            request.AddQuantized(0, values, [1, 4, 2, 2], 4);
            request.AddRaw(1, values, [4, 4]);
            request.Complete();
        }));
        // A request whose tensor is zstd-coded UAQ (compression code 2): runs of zero codes, as a ReLU output gives.
        float[] relu = Enumerable.Range(0, 1024).Select(i => i % 9 == 0 ? i / 1024f : 0f).ToArray();
        using var coder = new Native.Compression.Zstd();
        frames.Add(Build(w =>
        {
            var request = RequestFrameWriter.Begin(w, new RequestHeader(12, 1, 2, 1), RequestFrameWriter.TensorCapacity(4, relu.Length, 4));
            request.AddQuantizedCoded(0, relu, [1, 16, 8, 8], 4, coder, new byte[relu.Length]);
            request.Complete();
        }));
        return frames;
    }

    /// <summary>Runs <paramref name="cases"/> mutated frames through the parsers, seeded by <paramref name="seed"/>.</summary>
    public static FuzzReport RunInMemory(long cases, int seed, WireLimits? limits = null)
    {
        limits ??= WireLimits.Default;
        IReadOnlyList<byte[]> seeds = SeedFrames();
        var random = new Random(seed);
        var state = new ParseState(limits);
        var failures = new List<string>();
        long rejected = 0, accepted = 0, maxAllocated = 0;
        long bound = AllocationBound(limits);
        // The first throws of each exception type load resource strings and stack-trace metadata once per
        // process, and how much depends on what else ran first in it; the bound is for the steady state.
        long warmup = Math.Min(1_000, cases / 10);
        for (long i = 0; i < cases; i++)
        {
            byte[] frame = Mutate(seeds[random.Next(seeds.Count)], random);
            ReadOnlySequence<byte> stream = random.Next(4) == 0 ? Segmented(frame, random) : new ReadOnlySequence<byte>(frame);
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                ParseStream(stream, state);
                accepted++;
            }
            catch (ProtocolViolationException)
            {
                rejected++;
            }
            catch (Exception e)
            {
                if (failures.Count < 20)
                {
                    failures.Add($"case {i} (seed {seed}): {e.GetType().Name}: {e.Message} on {Convert.ToHexString(frame.AsSpan(0, Math.Min(frame.Length, 64)))}");
                }
                else
                {
                    break;
                }
            }

            if (i < warmup)
            {
                continue;
            }

            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            maxAllocated = Math.Max(maxAllocated, allocated);
            if (allocated > bound && failures.Count < 20)
            {
                failures.Add($"case {i} (seed {seed}) allocated {allocated} bytes, over the bound of {bound}");
            }
        }

        return new FuzzReport(cases, rejected, accepted, maxAllocated, failures);
    }

    /// <summary>One mutation of <paramref name="valid"/> (a fresh array).</summary>
    public static byte[] Mutate(byte[] valid, Random random)
    {
        ArgumentNullException.ThrowIfNull(valid);
        ArgumentNullException.ThrowIfNull(random);
        byte[] frame = (byte[])valid.Clone();
        int kind = random.Next(7);
        switch (kind)
        {
            case 0: // bit flips
                for (int flips = random.Next(1, 9); flips > 0; flips--)
                {
                    int bit = random.Next(frame.Length * 8);
                    frame[bit >> 3] ^= (byte)(1 << (bit & 7));
                }

                break;
            case 1: // truncation
                frame = frame[..random.Next(frame.Length)];
                break;
            case 2: // the header's payload length set to an extreme
                BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(8), Extreme32(random));
                break;
            case 3: // a length-like field inside the payload set to an extreme
                if (frame.Length > FrameHeader.Size + 4)
                {
                    int at = random.Next(FrameHeader.Size, frame.Length - 3);
                    if (random.Next(2) == 0)
                    {
                        BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(at), (ushort)Extreme32(random));
                    }
                    else
                    {
                        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(at), Extreme32(random));
                    }
                }

                break;
            case 4: // shuffled fields: two payload ranges swapped
                if (frame.Length > FrameHeader.Size + 2)
                {
                    int payload = frame.Length - FrameHeader.Size;
                    int length = random.Next(1, Math.Max(2, payload / 2));
                    int a = FrameHeader.Size + random.Next(payload - length + 1);
                    int b = FrameHeader.Size + random.Next(payload - length + 1);
                    byte[] copy = frame.AsSpan(a, length).ToArray();
                    frame.AsSpan(b, length).CopyTo(frame.AsSpan(a));
                    copy.CopyTo(frame.AsSpan(b));
                }

                break;
            case 5: // a range overwritten with random bytes
                {
                    int at = random.Next(frame.Length);
                    random.NextBytes(frame.AsSpan(at, Math.Min(frame.Length - at, random.Next(1, 16))));
                    break;
                }

            default: // garbage or a second, corrupt frame appended
                {
                    byte[] tail = new byte[random.Next(1, 64)];
                    random.NextBytes(tail);
                    frame = [.. frame, .. tail];
                    break;
                }
        }

        if (random.Next(2) == 0)
        {
            FixChecksums(frame);
        }

        return frame;
    }

    /// <summary>Recomputes both CRCs of a (mutated) frame so the parse goes past them.</summary>
    public static void FixChecksums(byte[] frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        if (frame.Length < FrameHeader.Size)
        {
            return;
        }

        uint length = BinaryPrimitives.ReadUInt32LittleEndian(frame.AsSpan(8));
        long available = frame.Length - FrameHeader.Size;
        int covered = (int)Math.Min(length, available);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(12), Crc32C.Compute(frame.AsSpan(FrameHeader.Size, covered)));
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(16), Crc32C.Compute(frame.AsSpan(0, 16)));
    }

    /// <summary>Parses every whole frame in <paramref name="stream"/> as the cloud and the edge would; returns how many.</summary>
    public static int ParseStream(ReadOnlySequence<byte> stream, ParseState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        int count = 0;
        while (FrameReader.TryReadFrame(ref stream, state.Limits, out Frame frame))
        {
            count++;
            Span<byte> scratch = state.Scratch(frame.PayloadLength);
            switch (frame.Type)
            {
                case FrameType.Hello:
                    HelloMessage hello = HelloMessage.Read(frame, state.Limits, scratch);
                    _ = HandshakeAuthentication.TryReadClientField(hello.Authentication, out _);
                    break;
                case FrameType.HelloAck:
                    _ = HelloAckMessage.Read(frame, state.Limits, scratch);
                    break;
                case FrameType.Reject or FrameType.Goodbye:
                    _ = RejectMessage.Read(frame, state.Limits, scratch);
                    break;
                case FrameType.Request:
                    ReadOnlySpan<byte> payload = frame.GetPayloadSpan(scratch);
                    RequestHeader request = RequestReader.Read(payload, state.Limits, state.Tensors);
                    for (int t = 0; t < request.TensorCount; t++)
                    {
                        state.DecodeCoded(payload, state.Tensors[t]);
                    }
                    break;
                case FrameType.Result:
                    _ = ResultMessage.Read(frame.GetPayloadSpan(scratch), state.Limits, state.Logits);
                    break;
                case FrameType.Error:
                    _ = ErrorMessage.Read(frame, state.Limits, scratch);
                    break;
                case FrameType.Ping or FrameType.Pong:
                    _ = PingMessage.Read(frame.GetPayloadSpan(scratch));
                    break;
                case FrameType.Challenge:
                    _ = HandshakeAuthentication.ReadChallenge(frame, scratch);
                    break;
                case FrameType.Proof:
                    _ = HandshakeAuthentication.ReadProof(frame, scratch);
                    break;
            }
        }

        FrameReader.ThrowIfIncompleteAtEnd(stream);
        return count;
    }

    private static uint Extreme32(Random random) => random.Next(6) switch
    {
        0 => 0,
        1 => uint.MaxValue,
        2 => int.MaxValue,
        3 => (uint)WireLimits.Default.MaxFrameBytes + 1,
        4 => 0xFFFF,
        _ => (uint)random.Next(),
    };

    private static byte[] Build(Action<ArrayBufferWriter<byte>> write)
    {
        var writer = new ArrayBufferWriter<byte>();
        write(writer);
        return writer.WrittenSpan.ToArray();
    }

    private static ReadOnlySequence<byte> Segmented(byte[] bytes, Random random)
    {
        if (bytes.Length < 2)
        {
            return new ReadOnlySequence<byte>(bytes);
        }

        var first = new Segment(bytes.AsMemory(0, random.Next(1, bytes.Length)), 0);
        Segment last = first;
        int offset = first.Memory.Length;
        while (offset < bytes.Length)
        {
            int size = Math.Min(bytes.Length - offset, random.Next(1, 48));
            last = last.Append(bytes.AsMemory(offset, size));
            offset += size;
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>Reusable parse buffers (sized by the limits, allocated once).</summary>
    public sealed class ParseState(WireLimits limits)
    {
        private byte[] _scratch = new byte[4096];

        public WireLimits Limits { get; } = limits;

        public WireTensor[] Tensors { get; } = new WireTensor[limits.MaxTensorsPerFrame];

        public float[] Logits { get; } = new float[limits.MaxLogits];

        /// <summary>Coded tensors up to this many packed bytes are decoded as the cloud decodes them (larger ones no tail of
        /// the fuzzer's size would take).</summary>
        public const int MaxDecodedBytes = 64 << 10;

        private readonly byte[] _decoded = new byte[MaxDecodedBytes];
        private readonly Native.Compression.Zstd _zstd = new();

        /// <summary>
        /// Decodes an LZ4- or zstd-coded tensor into its packed size, as the cloud's tail does before dequantizing; a coding
        /// that does not decode to exactly that size is the cloud's <see cref="ReasonCode.MalformedPayload"/>.
        /// </summary>
        public void DecodeCoded(ReadOnlySpan<byte> payload, in WireTensor tensor)
        {
            if (tensor.Compression is not (TensorCompression.Lz4 or TensorCompression.Zstd) || tensor.Bits is not ((>= 1 and <= 8) or WireTensor.RawFloatBits))
            {
                return;
            }
            long expected = WireTensor.EncodedByteCount(tensor.ElementCount, tensor.Bits);
            if (expected > MaxDecodedBytes)
            {
                return;
            }
            ReadOnlySpan<byte> source = payload.Slice(tensor.DataOffset, tensor.DataLength);
            Span<byte> destination = _decoded.AsSpan(0, (int)expected);
            int written;
            bool decoded = tensor.Compression == TensorCompression.Lz4
                ? Native.Compression.Lz4.TryDecompress(source, destination, out written)
                : _zstd.TryDecompress(source, destination, out written);
            if (!decoded || written != expected)
            {
                throw new ProtocolViolationException(ReasonCode.MalformedPayload, "a coded tensor does not decode to its packed size");
            }
        }

        public Span<byte> Scratch(int length)
        {
            if (_scratch.Length < length)
            {
                _scratch = new byte[length];
            }

            return _scratch;
        }
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
