using System.Text;
using Coach.Engine.DataPlane;

namespace Coach.Engine.Tests.DataPlane;

public sealed class Crc32CTests
{
    [Theory]
    [InlineData("", 0x00000000u)]
    [InlineData("a", 0xC1D04330u)]
    [InlineData("abc", 0x364B3FB7u)]
    [InlineData("123456789", 0xE3069283u)]
    [InlineData("The quick brown fox jumps over the lazy dog", 0x22620404u)]
    public void KnownVectorsMatch(string text, uint expected)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        Assert.Equal(expected, Crc32C.Compute(bytes));
        Assert.Equal(expected, Crc32C.AppendScalar(0, bytes));
    }

    [Fact]
    public void ThirtyTwoZeroBytesAndThirtyTwoOnesMatchRfc3720()
    {
        Assert.Equal(0x8A9136AAu, Crc32C.Compute(new byte[32]));
        Assert.Equal(0x62A8AB43u, Crc32C.Compute(Enumerable.Repeat((byte)0xFF, 32).ToArray()));
        Assert.Equal(0x46DD794Eu, Crc32C.Compute(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()));
    }

    [Fact]
    public void HardwarePathEqualsTableOnRandomDataOfEveryLengthAndSplit()
    {
        var random = new Random(42);
        for (int length = 0; length < 300; length += 1 + (length / 16))
        {
            var data = new byte[length];
            random.NextBytes(data);
            uint whole = Crc32C.Compute(data);
            Assert.Equal(Crc32C.AppendScalar(0, data), whole);
            int split = length == 0 ? 0 : random.Next(length);
            Assert.Equal(whole, Crc32C.Append(Crc32C.Compute(data.AsSpan(0, split)), data.AsSpan(split)));
        }
    }
}
