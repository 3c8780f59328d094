using System.Buffers;
using Coach.Engine.DataPlane;
using Coach.Transport.Protocol;

namespace Coach.Transport.Tests;

/// <summary>The engine's byte model of a Request (<see cref="FrameBytes"/>) against the bytes the transport's writer produces.</summary>
public sealed class FrameBytesTests
{
    public static TheoryData<int[][], int> Requests() => new()
    {
        { [[1, 32, 14, 14]], 3 },
        { [[1, 32, 14, 14]], 8 },
        { [[1, 7]], 1 },
        { [[1, 5, 3]], 5 },
        { [[1, 16, 7, 7], [1, 10]], 4 },
        { [[1, 3, 2, 2, 3]], 7 },
        { [[1, 2, 3, 1, 1, 1, 1, 2]], 2 },
        { [[1, 4, 2, 2], [1, 9], [1, 3, 3]], 32 },
    };

    [Theory]
    [MemberData(nameof(Requests))]
    public void FrameBytesPredictsTheExactLengthOfASerialisedRequest(int[][] shapes, int bits)
    {
        var random = new Random(shapes.Length * 31 + bits);
        float[][] values = [.. shapes.Select(shape => Enumerable.Range(0, shape.Aggregate(1, (a, d) => a * d)).Select(_ => (float)random.NextDouble()).ToArray())];
        int capacity = shapes.Select((shape, k) => RequestFrameWriter.TensorCapacity(shape.Length, values[k].Length, bits)).Sum();
        var output = new ArrayBufferWriter<byte>();
        var writer = RequestFrameWriter.Begin(output, new RequestHeader(7, 1, 2, shapes.Length), capacity);
        for (int k = 0; k < shapes.Length; k++)
        {
            if (bits == FrameBytes.RawFloatBits)
            {
                writer.AddRaw(k, values[k], shapes[k]);
            }
            else
            {
                writer.AddQuantized(k, values[k], shapes[k], bits);
            }
        }

        writer.Complete();
        int[] ranks = [.. shapes.Select(s => s.Length)];
        long[] elements = [.. values.Select(v => (long)v.Length)];
        Assert.Equal(output.WrittenCount, FrameBytes.Request(ranks, elements, bits));
    }

    [Fact]
    public void TheFixedPartIsTheFrameHeaderAndTheRequestHeaderOfTheProtocol()
    {
        Assert.Equal(FrameHeader.Size, FrameBytes.FrameHeaderBytes);
        Assert.Equal(RequestHeader.Size, FrameBytes.RequestHeaderBytes);
        for (int rank = 1; rank <= WireLimits.RankCapacity; rank++)
        {
            Assert.Equal(WireTensor.DescriptorSize(rank), FrameBytes.TensorHeaderBytes(rank));
        }
    }
}
