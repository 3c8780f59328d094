using Coach.Engine.Onnx;
using Coach.Engine.Onnx.Proto;
using Coach.Native.OnnxRuntime;
using Google.Protobuf;

namespace Coach.Native.Tests.Onnx;

public sealed class OnnxTensorReaderTests
{
    private static TensorProto Proto(TensorElementType type, params long[] dims)
    {
        var proto = new TensorProto { DataType = (int)type, Name = "t" };
        proto.Dims.AddRange(dims);
        return proto;
    }

    [Fact]
    public void RawDataIsCopiedAsLittleEndianElements()
    {
        var proto = Proto(TensorElementType.Float, 2, 2);
        var values = new[] { 1.5f, -2f, 0f, 3.25f };
        proto.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));

        var tensor = OnnxTensorReader.Read(proto);

        Assert.Equal(TensorElementType.Float, tensor.ElementType);
        Assert.Equal([2L, 2], tensor.Shape);
        Assert.Equal(values, tensor.AsSpan<float>().ToArray());
    }

    [Fact]
    public void TypedFieldsAreReadForEachElementType()
    {
        var floats = Proto(TensorElementType.Float, 3);
        floats.FloatData.AddRange([1f, 2f, 3f]);
        Assert.Equal([1f, 2f, 3f], OnnxTensorReader.Read(floats).AsSpan<float>().ToArray());

        var doubles = Proto(TensorElementType.Double, 2);
        doubles.DoubleData.AddRange([0.5, -0.25]);
        Assert.Equal([0.5, -0.25], OnnxTensorReader.Read(doubles).AsSpan<double>().ToArray());

        var int64 = Proto(TensorElementType.Int64, 2);
        int64.Int64Data.AddRange([long.MinValue, 42]);
        Assert.Equal([long.MinValue, 42L], OnnxTensorReader.Read(int64).AsSpan<long>().ToArray());

        var int32 = Proto(TensorElementType.Int32, 2);
        int32.Int32Data.AddRange([-7, int.MaxValue]);
        Assert.Equal([-7, int.MaxValue], OnnxTensorReader.Read(int32).AsSpan<int>().ToArray());

        var int16 = Proto(TensorElementType.Int16, 2);
        int16.Int32Data.AddRange([-300, 300]);
        Assert.Equal([(short)-300, (short)300], OnnxTensorReader.Read(int16).AsSpan<short>().ToArray());

        var uint16 = Proto(TensorElementType.UInt16, 1);
        uint16.Int32Data.Add(65535);
        Assert.Equal([(ushort)65535], OnnxTensorReader.Read(uint16).AsSpan<ushort>().ToArray());

        var int8 = Proto(TensorElementType.Int8, 2);
        int8.Int32Data.AddRange([-128, 127]);
        Assert.Equal([(sbyte)-128, (sbyte)127], OnnxTensorReader.Read(int8).AsSpan<sbyte>().ToArray());

        var uint8 = Proto(TensorElementType.UInt8, 2);
        uint8.Int32Data.AddRange([0, 255]);
        Assert.Equal([(byte)0, (byte)255], OnnxTensorReader.Read(uint8).AsSpan<byte>().ToArray());

        var flags = Proto(TensorElementType.Bool, 3);
        flags.Int32Data.AddRange([1, 0, 1]);
        Assert.Equal([(byte)1, (byte)0, (byte)1], OnnxTensorReader.Read(flags).AsSpan<byte>().ToArray());

        var uint32 = Proto(TensorElementType.UInt32, 1);
        uint32.Uint64Data.Add(uint.MaxValue);
        Assert.Equal([uint.MaxValue], OnnxTensorReader.Read(uint32).AsSpan<uint>().ToArray());

        var uint64 = Proto(TensorElementType.UInt64, 1);
        uint64.Uint64Data.Add(ulong.MaxValue);
        Assert.Equal([ulong.MaxValue], OnnxTensorReader.Read(uint64).AsSpan<ulong>().ToArray());
    }

    [Fact]
    public void ScalarHasOneElement()
    {
        var scalar = Proto(TensorElementType.Float);
        scalar.FloatData.Add(9f);

        var tensor = OnnxTensorReader.Read(scalar);

        Assert.Empty(tensor.Shape);
        Assert.Equal(1, tensor.ElementCount);
        Assert.Equal(9f, tensor.AsSpan<float>()[0]);
    }

    [Fact]
    public void ExternalDataIsRejectedWithAFix()
    {
        var proto = Proto(TensorElementType.Float, 4);
        proto.DataLocation = TensorProto.Types.DataLocation.External;
        proto.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "weights.bin" });

        var error = Assert.Throws<NotSupportedException>(() => OnnxTensorReader.Read(proto, "model.onnx"));

        Assert.Contains("external", error.Message);
        Assert.Contains("model.onnx", error.Message);
    }

    [Fact]
    public void StringTensorIsRejected()
    {
        var proto = Proto(TensorElementType.String, 1);
        proto.StringData.Add(ByteString.CopyFromUtf8("cat"));

        var error = Assert.Throws<NotSupportedException>(() => OnnxTensorReader.Read(proto));

        Assert.Contains("string", error.Message);
    }

    [Fact]
    public void ValueCountThatDoesNotMatchTheShapeIsRejected()
    {
        var proto = Proto(TensorElementType.Float, 2, 3);
        proto.FloatData.AddRange([1f, 2f]);
        Assert.Throws<InvalidDataException>(() => OnnxTensorReader.Read(proto));

        var raw = Proto(TensorElementType.Int64, 2);
        raw.RawData = ByteString.CopyFrom(new byte[12]);
        var error = Assert.Throws<InvalidDataException>(() => OnnxTensorReader.Read(raw));
        Assert.Contains("12 bytes", error.Message);
    }

    [Fact]
    public void OutOfRangeNarrowIntegerIsRejected()
    {
        var proto = Proto(TensorElementType.Int8, 1);
        proto.Int32Data.Add(200);

        Assert.Throws<InvalidDataException>(() => OnnxTensorReader.Read(proto));
    }

    [Fact]
    public void BackendTestVectorFileIsRead()
    {
        var tensor = OnnxTensorReader.ReadFile(Path.Combine(
            OnnxRuntime.OnnxTestData.CaseDirectory("test_basic_conv_with_padding"), "test_data_set_0", "input_0.pb"));

        Assert.Equal(TensorElementType.Float, tensor.ElementType);
        Assert.Equal([1L, 1, 5, 5], tensor.Shape);
        Assert.Equal(Enumerable.Range(0, 25).Select(i => (float)i), tensor.AsSpan<float>().ToArray());
    }
}
