using Coach.Engine.Planning;

namespace Coach.Engine.Tests.Planning;

/// <summary>JPS's schedule (Johnson's rule over two cut points) and DADS's switch between its light- and heavy-load cuts.</summary>
public class JpsAndDadsTests
{
    private static IEnumerable<int[]> Permutations(int n)
    {
        var p = Enumerable.Range(0, n).ToArray();
        while (true)
        {
            yield return (int[])p.Clone();
            int i = n - 2;
            while (i >= 0 && p[i] >= p[i + 1])
            {
                i--;
            }

            if (i < 0)
            {
                yield break;
            }

            int j = n - 1;
            while (p[j] <= p[i])
            {
                j--;
            }

            (p[i], p[j]) = (p[j], p[i]);
            Array.Reverse(p, i + 1, n - i - 1);
        }
    }

    [Fact]
    public void JohnsonsOrderHasTheShortestMakespanOfEveryPermutation()
    {
        var random = new Random(22);
        for (int set = 0; set < 60; set++)
        {
            int n = 2 + (set % 6);
            // Ties on purpose (integer times) beside distinct ones.
            var a = Enumerable.Range(0, n).Select(_ => set % 2 == 0 ? random.Next(1, 6) : random.NextDouble() * 10).ToArray();
            var b = Enumerable.Range(0, n).Select(_ => set % 2 == 0 ? random.Next(1, 6) : random.NextDouble() * 10).ToArray();
            double johnson = JohnsonSchedule.Makespan(JohnsonSchedule.Order(a, b), a, b);
            double best = Permutations(n).Min(order => JohnsonSchedule.Makespan(order, a, b));
            Assert.Equal(best, johnson, 9);
            // A poor order exists whenever the jobs differ: the test can tell orders apart.
            if (set == 1)
            {
                Assert.True(Permutations(n).Max(order => JohnsonSchedule.Makespan(order, a, b)) > best + 1e-9);
            }
        }
    }

    [Fact]
    public void TwoCutMakespanIsJohnsonsMakespanOfTheJobsItDescribes()
    {
        var random = new Random(7);
        for (int i = 0; i < 200; i++)
        {
            double a1 = random.Next(0, 5), b1 = random.Next(0, 5), a2 = random.Next(0, 5), b2 = random.Next(0, 5);
            int n1 = random.Next(0, 5), n2 = random.Next(0, 5);
            var a = Enumerable.Repeat(a1, n1).Concat(Enumerable.Repeat(a2, n2)).ToArray();
            var b = Enumerable.Repeat(b1, n1).Concat(Enumerable.Repeat(b2, n2)).ToArray();
            Assert.Equal(JohnsonSchedule.Makespan(JohnsonSchedule.Order(a, b), a, b), JpsPlanner.TwoTypeMakespan(a1, b1, n1, a2, b2, n2), 9);
        }
    }

    [Fact]
    public void JpsTwoCutScheduleMatchesEveryAssignmentOfCutsToJobsOnChainProfiles()
    {
        // A chain's cut points: device time grows and the sent bytes shrink with depth (JPS's setting). Brute force: every way to
        // give each of 5 jobs one of 4 cut points, each in Johnson's order.
        var random = new Random(3);
        int strictlyMixed = 0;
        for (int instance = 0; instance < 40; instance++)
        {
            int cuts = 4;
            var a = new double[cuts];
            var b = new double[cuts];
            for (int c = 1; c < cuts; c++)
            {
                a[c] = a[c - 1] + random.Next(1, 6);
            }

            b[cuts - 1] = 0;
            for (int c = cuts - 2; c >= 0; c--)
            {
                b[c] = b[c + 1] + random.Next(1, 6);
            }

            const int jobs = 5;
            var jps = JpsPlanner.Schedule(a, b, jobs);
            double best = double.PositiveInfinity;
            var assignment = new int[jobs];
            for (int code = 0; code < (int)Math.Pow(cuts, jobs); code++)
            {
                for (int j = 0, rest = code; j < jobs; j++, rest /= cuts)
                {
                    assignment[j] = rest % cuts;
                }

                var ja = assignment.Select(c => a[c]).ToArray();
                var jb = assignment.Select(c => b[c]).ToArray();
                best = Math.Min(best, JohnsonSchedule.Makespan(JohnsonSchedule.Order(ja, jb), ja, jb));
            }

            // Two cut points are enough up to the batch's end effects: the first job may start with no device work and the
            // last end with nothing to send, at most one job's longest stage each.
            Assert.True(jps.Makespan >= best - 1e-9, $"instance {instance}: JPS {jps.Makespan} below the brute-force optimum {best}");
            Assert.True(jps.Makespan <= best + a.Max() + b.Max(), $"instance {instance}: JPS {jps.Makespan}, brute force {best}");
            double single = Enumerable.Range(0, cuts).Min(c => JpsPlanner.TwoTypeMakespan(a[c], b[c], jobs, 0, 0, 0));
            Assert.True(jps.Makespan <= single);
            strictlyMixed += jps.FirstCut != jps.SecondCut && jps.Makespan < single - 1e-9 ? 1 : 0;
        }

        // Mixing two cut points pays on some instances: the search over pairs is not the single-cut search in disguise.
        Assert.True(strictlyMixed > 0);
    }

    [Fact]
    public void DadsSwitchesToItsHeavyLoadCutWhenFramesArriveFasterThanTheLightLoadCutServesThem()
    {
        int switched = 0;
        for (int seed = 0; seed < 60; seed++)
        {
            var problem = RandomDags.Create(seed);
            var light = new DadsPlanner(DadsLoad.Light).Plan(problem, new FixedBits(32));
            var heavy = new DadsPlanner(DadsLoad.Heavy).Plan(problem, new FixedBits(32));
            if (light.OnEdge.AsSpan().SequenceEqual(heavy.OnEdge))
            {
                continue;
            }

            switched++;
            double service = light.Cost.ThroughputPerSecond;
            var below = new DadsPlanner(DadsLoad.Auto, service * 0.99).Plan(problem, new FixedBits(32));
            var above = new DadsPlanner(DadsLoad.Auto, service * 1.01).Plan(problem, new FixedBits(32));
            var saturated = new DadsPlanner(DadsLoad.Auto).Plan(problem, new FixedBits(32));
            Assert.Equal(light.OnEdge, below.OnEdge);
            Assert.Equal(heavy.OnEdge, above.OnEdge);
            Assert.Equal(heavy.OnEdge, saturated.OnEdge);
            Assert.StartsWith("lightly loaded", below.Note);
            Assert.StartsWith("heavily loaded", above.Note);
            Assert.True(heavy.Cost.ThroughputPerSecond >= light.Cost.ThroughputPerSecond * (1 - 1e-12));
        }

        Assert.True(switched >= 3, $"only {switched} of 60 DAGs have different light- and heavy-load cuts");
        Assert.Throws<ArgumentOutOfRangeException>(() => new DadsPlanner(DadsLoad.Auto, 0));
    }
}
