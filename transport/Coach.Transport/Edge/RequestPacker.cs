using System.IO.Pipelines;
using Coach.Engine.DataPlane;
using Coach.Native.OnnxRuntime;
using Coach.Transport.Protocol;

namespace Coach.Transport.Edge;

/// <summary>
/// Quantizes and packs a slot's cut tensors into one Request frame written straight into a
/// connection's pipe, without allocating (docs/protocol.md; UAQ and bit packing, docs/architecture.md §5).
/// Each tensor goes at its planned bits, or at the scheduler's (eq. 11) when it chose one.
/// </summary>
/// <remarks>
/// The scheduler's bits apply to every cut tensor, including those the plan sends unquantized (32 bits): eq. 11 offline picks
/// 32 when the planned link has room for raw floats, but the online scheduler was calibrated with every cut tensor round-tripped
/// through UAQ at each width from its minimum to the plan's safe bits (<c>PlanOnlineCalibration.PlanBits</c>), so any width it
/// picks is within the calibrated safe range. Keeping such tensors raw would silently switch the online component off for
/// that plan: its bits would be recorded but never sent (docs/online.md, "Plans with raw cut tensors").
/// </remarks>
internal sealed class RequestPacker : IDisposable
{
    /// <summary>Fixed UAQ parameters of an 8-bit frame in [0,1] (the cloud-only plan): q = 255·x exactly.</summary>
    private static readonly QuantizationParameters EightBitFrame = new(1f / 255f, 0, 8);

    private readonly IReadOnlyList<CutTensorSpec> _specs;
    private readonly int[][] _frameShapes;
    private readonly bool _cloudOnly;
    private readonly FrameFlags _flags;

    /// <summary>The zstd contexts and the packing buffer when the plan codes its tensors (plan.json <c>wire_coding</c>).</summary>
    private readonly Native.Compression.Zstd? _coder;
    private readonly byte[] _packed = [];

    /// <summary>The JPEG encoder, its quality and RGB pixels when a cloud-only plan sends JPEG frames (plan.json <c>input_codec</c>).</summary>
    private readonly Native.Imaging.TurboJpeg? _jpeg;
    private readonly int _jpegQuality;
    private readonly byte[] _rgb = [];
    private readonly int[] _jpegShape = [];

    /// <summary>The H.264 encoder when a cloud-only plan streams its frames as H.264 (plan.json <c>input_codec</c>), and the
    /// connection its stream goes to: a new connection starts a new stream with an IDR frame.</summary>
    private readonly Native.Imaging.H264Encoder? _h264;
    private PipeWriter? _h264Connection;

    public RequestPacker(EdgeHead head, bool cloudOnly, bool wantLogits, TensorCompression coding = TensorCompression.None, int jpegQuality = 0, int? h264RateFactor = null)
    {
        if (h264RateFactor is { } crf)
        {
            int[] frame = head.OutputSpecs.Count == 1 ? head.OutputSpecs[0].FrameShape() : [];
            if (!cloudOnly || jpegQuality != 0 || frame is not [1, 3, > 0, > 0])
            {
                throw new ArgumentException("H.264 frames (plan.json input_codec) are for a cloud-only plan whose one input is a [1,3,H,W] frame", nameof(h264RateFactor));
            }

            _h264 = new Native.Imaging.H264Encoder(frame[3], frame[2], crf);
            _rgb = new byte[3 * frame[2] * frame[3]];
            _jpegShape = frame;
        }

        if (jpegQuality != 0)
        {
            int[] frame = head.OutputSpecs.Count == 1 ? head.OutputSpecs[0].FrameShape() : []; // [1,C,H,W], batch included
            if (!cloudOnly || frame is not [1, 3, > 0, > 0])
            {
                throw new ArgumentException("JPEG frames (plan.json input_codec) are for a cloud-only plan whose one input is a [1,3,H,W] frame", nameof(jpegQuality));
            }

            _jpeg = new Native.Imaging.TurboJpeg();
            _jpegQuality = jpegQuality;
            _rgb = new byte[3 * frame[2] * frame[3]];
            _jpegShape = frame;
        }

        _specs = head.OutputSpecs;
        _frameShapes = head.OutputSpecs.Select(s => s.FrameShape()).ToArray();
        _cloudOnly = cloudOnly;
        _flags = wantLogits ? FrameFlags.WantLogits : FrameFlags.None;
        if (coding == TensorCompression.Zstd && !cloudOnly)
        {
            _coder = new Native.Compression.Zstd();
            _packed = new byte[_specs.Max(s => Uaq.PackedByteCount(checked((int)s.ElementsPerFrame), 8))];
        }
        else if (coding is not (TensorCompression.None or TensorCompression.Zstd))
        {
            throw new ArgumentOutOfRangeException(nameof(coding), coding, "the edge codes cut tensors with zstd or not at all");
        }
    }

    /// <summary>Whether the cut tensors go zstd-coded.</summary>
    public bool Codes => _coder is not null;

    /// <summary>Whether the frames go as one H.264 stream.</summary>
    public bool SendsH264 => _h264 is not null;

    public void Dispose()
    {
        _h264?.Dispose();
        _coder?.Dispose();
        _jpeg?.Dispose();
    }

    /// <summary>The bits a frame is recorded as sent with: the scheduler's choice, else the first tensor's planned bits.</summary>
    public int RecordedBits(int bitsOverride) => bitsOverride != 0 ? bitsOverride : _specs[0].Bits;

    /// <summary>Writes the slot's Request (request id = frame id + 1) into <paramref name="output"/>; returns its size on the wire
    /// (as coded, when the tensors are).</summary>
    /// <param name="bitsOverride">The scheduler's bits for every quantized tensor; 0 = as planned.</param>
    public int Write(PipeWriter output, HeadSlot slot, int bitsOverride, long captureMicros)
    {
        IReadOnlyList<PinnedTensor> outputs = slot.Outputs;
        if (_h264 is not null)
        {
            // The cloud-h264 baseline: the frame as the stream's next access unit; the cloud decodes a connection's
            // requests in order, so a new connection (a reconnect) starts a new stream, with an IDR frame.
            if (!ReferenceEquals(output, _h264Connection))
            {
                if (_h264Connection is not null)
                {
                    _h264.Restart();
                }

                _h264Connection = output;
            }

            var h264Header = new RequestHeader((ulong)slot.FrameId + 1, captureMicros, MonotonicClock.NowMicros, 1);
            var h264Writer = RequestFrameWriter.Begin(output, h264Header, RequestFrameWriter.H264FrameCapacity(_jpegShape[2], _jpegShape[3]), _flags);
            h264Writer.AddH264Frame(0, outputs[0].AsSpan<float>(), _jpegShape, _h264, _rgb);
            return FrameHeader.Size + h264Writer.Complete();
        }

        if (_jpeg is not null)
        {
            // The cloud-jpeg baseline: the frame as one JPEG; the scheduler's bits do not apply to a codec's quality.
            var jpegHeader = new RequestHeader((ulong)slot.FrameId + 1, captureMicros, MonotonicClock.NowMicros, 1);
            var jpegWriter = RequestFrameWriter.Begin(output, jpegHeader, RequestFrameWriter.JpegFrameCapacity(_jpegShape[2], _jpegShape[3]), _flags);
            jpegWriter.AddJpegFrame(0, outputs[0].AsSpan<float>(), _jpegShape, _jpegQuality, _jpeg, _rgb);
            return FrameHeader.Size + jpegWriter.Complete();
        }

        int capacity = 0;
        for (int t = 0; t < outputs.Count; t++)
        {
            capacity += RequestFrameWriter.TensorCapacity(_frameShapes[t].Length, outputs[t].ElementCount, BitsFor(t, bitsOverride));
        }

        var header = new RequestHeader((ulong)slot.FrameId + 1, captureMicros, MonotonicClock.NowMicros, outputs.Count);
        var writer = RequestFrameWriter.Begin(output, header, capacity, _flags);
        for (int t = 0; t < outputs.Count; t++)
        {
            ReadOnlySpan<float> values = outputs[t].AsSpan<float>();
            int bits = BitsFor(t, bitsOverride);
            if (bits == WireTensor.RawFloatBits)
            {
                writer.AddRaw(t, values, _frameShapes[t]);
            }
            else if (_cloudOnly && bits == 8)
            {
                writer.AddQuantized(t, values, _frameShapes[t], EightBitFrame);
            }
            else if (_coder is not null)
            {
                writer.AddQuantizedCoded(t, values, _frameShapes[t], bits, _coder, _packed);
            }
            else
            {
                writer.AddQuantized(t, values, _frameShapes[t], bits);
            }
        }

        return FrameHeader.Size + writer.Complete();
    }

    private int BitsFor(int tensor, int bitsOverride) => bitsOverride != 0 ? bitsOverride : _specs[tensor].Bits;
}
