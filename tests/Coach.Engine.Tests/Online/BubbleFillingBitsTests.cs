using Coach.Engine.Online;
using Coach.Engine.Planning;
using Coach.Engine.Tests.Planning;

namespace Coach.Engine.Tests.Online;

/// <summary>Eq. 11 (<see cref="BubbleFillingBits"/>), online and offline, against the equation read off by brute force.</summary>
public sealed class BubbleFillingBitsTests
{
    /// <summary>
    /// Eq. 11 by enumeration: among Q_r and the admitted candidates above it, the smallest period max{T_e, T_t(Q), T_c},
    /// then the smallest |T_t(Q) − period| (the bubble), then the widest.
    /// </summary>
    private static int BruteForce(int minimumBits, IEnumerable<int> candidates, double computeBottleneck, Func<int, double> transmission, Func<int, bool> admits) =>
        candidates.Where(q => q > minimumBits && admits(q)).Append(minimumBits)
            .OrderBy(q => Math.Max(computeBottleneck, transmission(q)))
            .ThenBy(q => Math.Abs(transmission(q) - Math.Max(computeBottleneck, transmission(q))))
            .ThenByDescending(q => q)
            .First();

    private readonly struct TableLink(double[] seconds, bool[] admitted) : ITransmissionAtBits
    {
        public double TransmissionSeconds(int bits) => seconds[bits];

        public bool Admits(int bits) => admitted[bits];
    }

    [Fact]
    public void ChooseAgreesWithEnumerationOnRandomIncreasingLinks()
    {
        var random = new Random(11);
        int[] offline = [2, 3, 4, 5, 6, 7, 8, 32];
        int raised = 0;
        for (int trial = 0; trial < 2000; trial++)
        {
            var seconds = new double[33];
            double t = random.NextDouble() * 1e-3;
            for (int q = 1; q <= 32; q++)
            {
                t += (random.NextDouble() + 0.01) * 1e-3; // T_t grows with Q
                seconds[q] = t;
            }

            var admitted = Enumerable.Range(0, 33).Select(_ => random.NextDouble() < 0.8).ToArray();
            double compute = random.NextDouble() * seconds[32] * 1.1;
            int minimum = random.Next(1, 9);
            int[] candidates = trial % 2 == 0 ? offline : [.. BubbleFillingBits.UaqWidthsUpTo(random.Next(minimum, 9))];
            var link = new TableLink(seconds, admitted);
            int chosen = BubbleFillingBits.Choose(minimum, candidates, compute, ref link);
            Assert.Equal(BruteForce(minimum, candidates, compute, q => seconds[q], q => admitted[q]), chosen);
            raised += chosen > minimum ? 1 : 0;
        }

        Assert.InRange(raised, 200, 1800); // both outcomes are exercised
    }

    [Fact]
    public void OnlineBitsAreEquationElevenOverEveryWidthUpToTheMaximum()
    {
        var random = new Random(5);
        for (int trial = 0; trial < 500; trial++)
        {
            int length = random.Next(1, 50_000);
            var cost = new TransferCostModel(random.NextDouble() * 0.05, random.NextDouble() * 0.05, [length], [4], random.NextDouble() * 1e-3);
            double bytesPerSecond = random.Next(10_000, 10_000_000);
            int minimum = random.Next(1, 9);
            int maximum = random.Next(minimum, 9);
            int expected = BruteForce(minimum, Enumerable.Range(1, maximum), Math.Max(cost.EdgeSeconds, cost.CloudSeconds), q => cost.TransmissionSeconds(q, bytesPerSecond), _ => true);
            Assert.Equal(expected, OnlineScheduler.ChooseBits(minimum, maximum, cost, bytesPerSecond));
        }
    }

    [Fact]
    public void OfflineBitsAreEquationElevenOverTheCalibratedWidthsUnderTheLatencyBudget()
    {
        int checkedPartitions = 0;
        for (int seed = 0; seed < 40; seed++)
        {
            var problem = RandomDags.Create(seed);
            var bits = new HashedBits(seed);
            foreach (var onEdge in BruteForcePlanner.AllIdeals(problem).Take(30))
            {
                var cut = PipelineCostModel.CutTensors(problem, onEdge);
                if (cut.Length == 0)
                {
                    continue;
                }

                double atTwoBits = PipelineCostModel.Evaluate(problem, onEdge, cut, PipelineCostModel.UniformBits(cut.Length, 2)).LatencySeconds;
                // Half the partitions with a T_max between their 2-bit and raw latency, so T_max decides some widths.
                var settings = problem.Settings with { LatencyBudgetSeconds = seed % 2 == 0 ? null : atTwoBits * 1.3 };
                var budgeted = problem.WithSettings(settings);
                var chooser = new BitChooser(budgeted, bits);
                var plan = chooser.Choose("coach", onEdge, out _);
                if (plan is null)
                {
                    continue;
                }

                int minimum = chooser.MinimumBits(cut);
                double compute = Math.Max(PipelineCostModel.EdgeSeconds(budgeted, onEdge), PipelineCostModel.CloudSeconds(budgeted, onEdge));
                double Transmission(int q) => PipelineCostModel.TransmissionSeconds(budgeted, cut, PipelineCostModel.UniformBits(cut.Length, q));
                bool Admits(int q) => settings.LatencyBudgetSeconds is not { } tmax
                    || PipelineCostModel.Evaluate(budgeted, onEdge, cut, PipelineCostModel.UniformBits(cut.Length, q)).LatencySeconds <= tmax;
                // Every float tensor gets the (uniform) width; non-float values go raw and are recorded as 32.
                int firstFloat = Array.FindIndex(cut, k => problem.Tensors[k].IsFloat);
                Assert.Equal(BruteForce(minimum, [2, 3, 4, 5, 6, 7, 8, 32], compute, Transmission, Admits), firstFloat < 0 ? 32 : plan.Bits[firstFloat]);
                checkedPartitions++;
            }
        }

        Assert.True(checkedPartitions > 200, $"only {checkedPartitions} partitions checked");
    }
}
