namespace Coach.Transport.Tests.Conformance;

/// <summary>Checks shared by the conformance tests.</summary>
internal static class ConformanceAssert
{
    /// <summary>Words of .NET exception messages that must never reach the wire (the spec's messages are the server's own).</summary>
    private static readonly string[] RuntimeText = ["(Parameter '", "Actual value was", "Exception", "   at ", "System."];

    /// <summary>The last frame is <paramref name="type"/> with <paramref name="reason"/> (request id 0 for an Error) and the cloud closed after it.</summary>
    public static void ClosedWith(IReadOnlyList<SpecWire.Received> frames, byte type, ushort reason)
    {
        Assert.True(frames.Count > 0, $"the cloud closed without sending {SpecWire.Name(type)}({reason})");
        SpecWire.Received last = frames[^1];
        Assert.True(last.Type == type && last.Reason == reason, $"expected {SpecWire.Name(type)}({reason}) before the close, got: {string.Join(", ", frames)}");
        if (type == SpecWire.Error)
        {
            Assert.Equal(0UL, last.AsError().RequestId);
        }

        NoRuntimeText(last);
    }

    public static void NoRuntimeText(SpecWire.Received frame)
    {
        string message = frame.Type switch
        {
            SpecWire.Reject or SpecWire.Goodbye => frame.AsReason().Message,
            SpecWire.Error => frame.AsError().Message,
            _ => string.Empty,
        };
        foreach (string word in RuntimeText)
        {
            Assert.False(message.Contains(word, StringComparison.Ordinal), $"runtime exception text '{word}' on the wire: {message}");
        }
    }
}
