using System.Buffers;
using System.IO.Pipelines;
using Coach.Transport.Protocol;

namespace Coach.Transport.Tests;

/// <summary>Requests carrying one 112×112 frame as codec data (compression 3 JPEG, 4 H.264), written field by field as
/// docs/protocol.md §4.4 lays them out, so a test can send data the edge's writer would never produce.</summary>
internal static class CodedFrameRequests
{
    public static void Write(IBufferWriter<byte> output, ulong id, TensorCompression compression, ReadOnlySpan<byte> data)
    {
        int payloadLength = RequestHeader.Size + WireTensor.DescriptorSize(4) + data.Length;
        var frame = FrameBuilder.Begin(output, FrameType.Request, FrameFlags.None, payloadLength);
        var w = new WireSpanWriter(frame.Payload);
        w.WriteUInt64(id);
        w.WriteInt64(0);
        w.WriteInt64(0);
        w.WriteUInt16(1);
        w.WriteUInt16(0);
        w.WriteUInt16(0);
        w.WriteByte((byte)WireElementType.Float32);
        w.WriteByte(8);
        w.WriteByte((byte)compression);
        w.WriteByte(4);
        w.WriteUInt16(0);
        w.WriteSingle(1f / 255f);
        w.WriteInt32(0);
        foreach (int d in new[] { 1, 3, 112, 112 })
        {
            w.WriteInt32(d);
        }

        w.WriteInt32(data.Length);
        w.WriteBytes(data);
        frame.Complete(w.Position);
    }

    /// <summary>Everything written to <paramref name="pipe"/> so far, to send on a socket.</summary>
    public static async Task<byte[]> Drain(Pipe pipe)
    {
        await pipe.Writer.FlushAsync();
        ReadResult read = await pipe.Reader.ReadAsync();
        byte[] bytes = read.Buffer.ToArray();
        pipe.Reader.AdvanceTo(read.Buffer.End);
        return bytes;
    }
}
