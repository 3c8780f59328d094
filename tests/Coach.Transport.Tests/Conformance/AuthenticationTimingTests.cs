using System.Diagnostics;
using System.Security.Cryptography;

namespace Coach.Transport.Tests.Conformance;

/// <summary>
/// docs/protocol.md §4.7 and docs/security.md: an unknown client id is refused exactly like a known
/// one with a wrong proof — the same frames, the same timing within noise, the same log line — so the
/// wire does not tell an attacker which client ids exist.
/// </summary>
[Collection(ConformanceCollection.Name)]
public sealed class AuthenticationTimingTests(ConformanceCloud cloud, ITestOutputHelper output)
{
    private const int Attempts = 200;

    /// <summary>One refused attempt: the frames until the close, and the seconds from the Proof to the Reject.</summary>
    private async Task<(string Frames, double Seconds)> AttemptAsync(string clientId)
    {
        await using WireClient client = await WireClient.ConnectAsync(cloud.EndPoint);
        byte[] clientNonce = RandomNumberGenerator.GetBytes(32);
        ConformancePlans plans = cloud.Plans;
        await client.SendAsync(SpecWire.Frame(SpecWire.Hello, SpecWire.HelloPayload(clientId, plans.ModelSha256, "chaos", plans.PlanHash, "chaos", SpecWire.AuthField(clientNonce))));
        var frames = new List<SpecWire.Received> { (await client.ReceiveAsync())! };
        double seconds = double.NaN;
        if (frames[0].Type == SpecWire.Challenge)
        {
            byte[] wrong = RandomNumberGenerator.GetBytes(32);
            long start = Stopwatch.GetTimestamp();
            await client.SendAsync(SpecWire.Frame(SpecWire.Proof, SpecWire.AuthProof(wrong, "client", clientId, plans.ModelSha256, plans.PlanHash, clientNonce, frames[0].Payload[1..])));
            frames.Add((await client.ReceiveAsync())!);
            seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }

        frames.AddRange(await client.ReceiveUntilClosedAsync());
        // Nonces differ per attempt: the shape (type, length) and the refusal itself are compared.
        return (string.Join(" ", frames.Select(f => f.Type == SpecWire.Challenge ? $"Challenge[{f.Payload.Length}]" : $"{f}")), seconds);
    }

    [Fact]
    [Spec("§4.7", Reasons = [204], Frames = [SpecWire.Challenge, SpecWire.Proof, SpecWire.Reject])]
    public async Task KnownAndUnknownClientIdsAreIndistinguishableInFramesAndTiming()
    {
        // Warm both paths (JIT, pools) before measuring.
        for (int i = 0; i < 10; i++)
        {
            await AttemptAsync(ConformancePlans.ClientId);
            await AttemptAsync($"stranger-{i}");
        }

        double knownMedian = 0, unknownMedian = 0;
        for (int round = 1; round <= 3; round++)
        {
            var known = new List<double>();
            var unknown = new List<double>();
            var shapes = new HashSet<string>();
            for (int i = 0; i < Attempts; i++)
            {
                // Interleaved, alternating which goes first, so load on the machine hits both alike.
                bool knownFirst = (i & 1) == 0;
                for (int pass = 0; pass < 2; pass++)
                {
                    bool isKnown = (pass == 0) == knownFirst;
                    var (frames, seconds) = await AttemptAsync(isKnown ? ConformancePlans.ClientId : $"stranger-{round}-{i}");
                    shapes.Add(frames);
                    (isKnown ? known : unknown).Add(seconds);
                }
            }

            Assert.True(shapes.Count == 1, $"known and unknown ids got different frames: {string.Join(" | ", shapes)}");
            Assert.Contains("Reject(204", shapes.Single());
            knownMedian = Median(known);
            unknownMedian = Median(unknown);
            double gap = Math.Abs(knownMedian - unknownMedian) / Math.Min(knownMedian, unknownMedian);
            output.WriteLine($"authentication timing, round {round}: {Attempts} attempts each, median proof→reject known {knownMedian * 1e6:0} µs, unknown {unknownMedian * 1e6:0} µs ({gap:P1} apart)");
            if (gap <= 0.10)
            {
                break;
            }

            Assert.True(round < 3, $"medians more than 10 % apart in 3 rounds: known {knownMedian * 1e6:0} µs, unknown {unknownMedian * 1e6:0} µs");
        }

        // The same log line, at the same level, for both.
        Assert.Contains(cloud.Process.Log, l => l.Contains($"client {ConformancePlans.ClientId}) handshake rejected: AuthenticationFailed: unknown client id or wrong key", StringComparison.Ordinal));
        Assert.Contains(cloud.Process.Log, l => l.Contains("client stranger-1-0) handshake rejected: AuthenticationFailed: unknown client id or wrong key", StringComparison.Ordinal));
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values.Count % 2 == 1 ? values[values.Count / 2] : (values[(values.Count / 2) - 1] + values[values.Count / 2]) / 2;
    }
}
