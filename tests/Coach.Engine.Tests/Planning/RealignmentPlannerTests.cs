using Coach.Engine.Planning;

namespace Coach.Engine.Tests.Planning;

public class RealignmentPlannerTests
{
    /// <summary>Every target vector, valid or not, through the same cost model: the optimum the planner must find.</summary>
    private static RealignmentChoice BruteForce(RealignmentProblem problem)
    {
        int n = problem.Plans.Count;
        int[] target = new int[n];
        RealignmentChoice? best = null;
        int total = (int)Math.Pow(n, n);
        for (int code = 0; code < total; code++)
        {
            int c = code;
            for (int p = 0; p < n; p++)
            {
                target[p] = c % n;
                c /= n;
            }

            RealignmentChoice candidate = RealignmentPlanner.Evaluate(problem, target);
            if (double.IsPositiveInfinity(candidate.ComputeMsPerSecond))
            {
                continue;
            }

            if (best is null || (candidate.Feasible && !best.Feasible)
                || (candidate.Feasible == best.Feasible && candidate.ComputeMsPerSecond < best.ComputeMsPerSecond - 1e-9))
            {
                best = candidate;
            }
        }

        return best!;
    }

    /// <summary>Plans cut one after the other along a chain (as ResNet's cuts are): p can be bridged to every later q.</summary>
    private static RealignmentProblem RandomChain(Random random, int n)
    {
        var plans = new List<RealignedPlan>();
        var bridges = new Dictionary<(int, int), FragmentCost>();
        double[] depth = Enumerable.Range(0, n).Select(_ => random.NextDouble()).Order().ToArray();
        for (int p = 0; p < n; p++)
        {
            // Later cuts leave less of the model to the cloud: tails shrink with depth.
            double perRequest = 0.2 + (2 * (1 - depth[p]));
            var tail = new FragmentCost(0.5 + (3 * random.NextDouble()), perRequest);
            plans.Add(new RealignedPlan($"p{p}", 5 + (random.NextDouble() * 300), 6 + (random.NextDouble() * 40), tail));
        }

        for (int p = 0; p < n; p++)
        {
            for (int q = p + 1; q < n; q++)
            {
                double share = Math.Max(0.05, plans[p].Tail.PerRequestMs - plans[q].Tail.PerRequestMs);
                bridges[(p, q)] = new FragmentCost(0.3 + random.NextDouble(), share);
            }
        }

        return new RealignmentProblem(plans, bridges, MaxBatch: 8, MaxWaitMs: 2 + (random.NextDouble() * 3));
    }

    [Fact]
    public void TheBranchAndBoundFindsTheBruteForceOptimumOnSmallPlanSets()
    {
        var random = new Random(24);
        int realigned = 0;
        for (int trial = 0; trial < 300; trial++)
        {
            RealignmentProblem problem = RandomChain(random, 2 + (trial % 4));
            RealignmentChoice planned = RealignmentPlanner.Plan(problem);
            RealignmentChoice brute = BruteForce(problem);
            Assert.Equal(brute.Feasible, planned.Feasible);
            Assert.Equal(brute.ComputeMsPerSecond, planned.ComputeMsPerSecond, 6);
            Assert.Equal(planned.ComputeMsPerSecond, RealignmentPlanner.Evaluate(problem, planned.Target).ComputeMsPerSecond, 9);
            realigned += planned.Bridged > 0 ? 1 : 0;
        }

        // The instances must exercise both answers, or the comparison proves little.
        Assert.InRange(realigned, 30, 270);
    }

    [Fact]
    public void SparseRequestsOfThreeCutsShareTheLastTailWhenTheBudgetAllowsAndNotWhenItDoesNot()
    {
        // Three plans at 40 requests/s each: alone, each batches ~1.1 requests and pays its fixed cost per run.
        var tails = new[] { new FragmentCost(3, 1.5), new FragmentCost(3, 1.0), new FragmentCost(3, 0.5) };
        var bridges = new Dictionary<(int, int), FragmentCost>
        {
            [(0, 1)] = new(0.2, 0.5), [(0, 2)] = new(0.3, 1.0), [(1, 2)] = new(0.2, 0.5),
        };
        RealignmentProblem Problem(double budget) => new(
            tails.Select((t, i) => new RealignedPlan($"p{i}", 40, budget, t)).ToArray(), bridges, MaxBatch: 8, MaxWaitMs: 2);

        RealignmentChoice loose = RealignmentPlanner.Plan(Problem(50));
        Assert.True(loose.Feasible);
        Assert.Equal([2, 2, 2], loose.Target);
        double independent = RealignmentPlanner.Evaluate(Problem(50), [0, 1, 2]).ComputeMsPerSecond;
        Assert.True(loose.ComputeMsPerSecond < independent * 0.97, $"{loose.ComputeMsPerSecond} vs {independent}");

        // A budget that two waits and two runs exceed keeps every plan on its own tail.
        RealignmentChoice tight = RealignmentPlanner.Plan(Problem(7));
        Assert.True(tight.Feasible);
        Assert.Equal([0, 1, 2], tight.Target);
    }

    [Fact]
    public void ABridgeThatDoesNotExistIsNeverChosen()
    {
        var plans = new[] { new RealignedPlan("a", 100, 100, new FragmentCost(5, 1)), new RealignedPlan("b", 100, 100, new FragmentCost(5, 1)) };
        RealignmentChoice choice = RealignmentPlanner.Plan(new RealignmentProblem(plans, new Dictionary<(int, int), FragmentCost>(), 8, 2));
        Assert.Equal([0, 1], choice.Target);
        Assert.False(RealignmentPlanner.Evaluate(new RealignmentProblem(plans, new Dictionary<(int, int), FragmentCost>(), 8, 2), [1, 1]).Feasible);
    }
}
