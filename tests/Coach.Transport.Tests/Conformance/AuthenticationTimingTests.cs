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

        for (int round = 1; round <= 3; round++)
        {
            // Interleaved pairs, alternating which goes first: load on the machine (other test assemblies
            // run beside this one) hits both members of a pair alike, so the paired difference cancels it.
            var differences = new double[Attempts];
            var all = new List<double>(2 * Attempts);
            var shapes = new HashSet<string>();
            for (int i = 0; i < Attempts; i++)
            {
                bool knownFirst = (i & 1) == 0;
                double known = 0, unknown = 0;
                for (int pass = 0; pass < 2; pass++)
                {
                    bool isKnown = (pass == 0) == knownFirst;
                    var (frames, seconds) = await AttemptAsync(isKnown ? ConformancePlans.ClientId : $"stranger-{round}-{i}");
                    shapes.Add(frames);
                    all.Add(seconds);
                    if (isKnown)
                    {
                        known = seconds;
                    }
                    else
                    {
                        unknown = seconds;
                    }
                }

                differences[i] = known - unknown;
            }

            Assert.True(shapes.Count == 1, $"known and unknown ids got different frames: {string.Join(" | ", shapes)}");
            Assert.Contains("Reject(204", shapes.Single());

            // A leak is a systematic gap: the 95 % bootstrap interval of the median paired difference lies
            // wholly beyond 10 % of the typical time. Noise that flips sign between rounds never does.
            double typical = Median(all);
            var (low, high) = MedianInterval(differences, seed: round);
            double lowShare = low / typical, highShare = high / typical;
            output.WriteLine($"authentication timing, round {round}: {Attempts} pairs, median proof→reject {typical * 1e6:0} µs, known − unknown median difference 95 % interval [{lowShare:P1}, {highShare:P1}]");
            bool leak = lowShare > 0.10 || highShare < -0.10;
            if (!leak)
            {
                break;
            }

            Assert.True(round < 3, $"known and unknown ids differ systematically in 3 rounds: the known − unknown median difference lies in [{lowShare:P1}, {highShare:P1}] of {typical * 1e6:0} µs, beyond ±10 %");
        }

        // The same log line, at the same level, for both.
        Assert.Contains(cloud.Process.Log, l => l.Contains($"client {ConformancePlans.ClientId}) handshake rejected: AuthenticationFailed: unknown client id or wrong key", StringComparison.Ordinal));
        Assert.Contains(cloud.Process.Log, l => l.Contains("client stranger-1-0) handshake rejected: AuthenticationFailed: unknown client id or wrong key", StringComparison.Ordinal));
    }

    private static double Median(IReadOnlyList<double> values)
    {
        double[] sorted = [.. values];
        Array.Sort(sorted);
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[(n / 2) - 1] + sorted[n / 2]) / 2;
    }

    /// <summary>Percentile bootstrap 95 % interval of the median (2000 resamples, seeded so a run repeats).</summary>
    private static (double Low, double High) MedianInterval(double[] values, int seed)
    {
        const int Resamples = 2000;
        var random = new Random(seed);
        var medians = new double[Resamples];
        var sample = new double[values.Length];
        for (int r = 0; r < Resamples; r++)
        {
            for (int i = 0; i < sample.Length; i++)
            {
                sample[i] = values[random.Next(values.Length)];
            }

            medians[r] = Median(sample);
        }

        Array.Sort(medians);
        return (medians[(int)(0.025 * Resamples)], medians[(int)(0.975 * Resamples) - 1]);
    }
}
