using Coach.Engine.Planning;

namespace Coach.Engine.Tests.Planning;

/// <summary>Eq. 4 as a checked constraint: <see cref="PartitionSchedule.Violation"/> on hand-made and model-made schedules.</summary>
public class PartitionScheduleTests
{
    /// <summary>layer0 (edge) → t1 → layer1 (cloud) → t2 → layer2 (cloud); 1 ms per layer.</summary>
    private static PlanningProblem Chain() => new(
        ["layer0", "layer1", "layer2"], [1e-3, 1e-3, 1e-3], [1e-3, 1e-3, 1e-3],
        [new PlanTensor("t0", -1, [0], 100, 1, [100]), new PlanTensor("t1", 0, [1], 100, 1, [100]),
         new PlanTensor("t2", 1, [2], 100, 1, [100]), new PlanTensor("t3", 2, [], 10, 1, [10])],
        new CostSettings { BandwidthBitsPerSecond = 1e6 });

    private static readonly bool[] FirstOnEdge = [true, false, false];

    private static PartitionCost Cost(double latency) => new(1e-3, 5e-4, 2e-3, latency, 0, 0);

    [Fact]
    public void ACloudLayerStartingBeforeItsInputArrivesBreaksEq4()
    {
        var problem = Chain();
        // t1 arrives at 1.5 ms; layer1 starts at 1.0 ms: eq. 4 broken.
        var early = new PartitionSchedule([0, 1e-3, 2e-3], [1e-3, 2e-3, 3e-3], [double.NaN, 1.5e-3, double.NaN, double.NaN], Cost(3e-3));
        var broken = early.Violation(problem, FirstOnEdge);
        Assert.NotNull(broken);
        Assert.Contains("eq. 4", broken);
        Assert.Contains("layer1", broken);
        Assert.Throws<InvalidOperationException>(() => early.EnsureValid(problem, FirstOnEdge));

        // The same layers started when t1 is there, each after the previous: valid.
        var valid = new PartitionSchedule([0, 1.5e-3, 2.5e-3], [1e-3, 2.5e-3, 3.5e-3], [double.NaN, 1.5e-3, double.NaN, double.NaN], Cost(3.5e-3));
        Assert.Null(valid.Violation(problem, FirstOnEdge));

        // A latency that is not the schedule's finish, an edge value that never crosses, and overlapping cloud layers.
        Assert.Contains("finishes at", (valid with { Cost = Cost(3e-3) }).Violation(problem, FirstOnEdge));
        var lost = new PartitionSchedule([0, 1.5e-3, 2.5e-3], [1e-3, 2.5e-3, 3.5e-3], [double.NaN, double.NaN, double.NaN, double.NaN], Cost(3.5e-3));
        Assert.Contains("never crosses", lost.Violation(problem, FirstOnEdge));
        var overlap = new PartitionSchedule([0, 1.5e-3, 2.4e-3], [1e-3, 2.5e-3, 3.4e-3], [double.NaN, 1.5e-3, double.NaN, double.NaN], Cost(3.4e-3));
        Assert.NotNull(overlap.Violation(problem, FirstOnEdge));
    }

    [Fact]
    public void TheCostModelsSchedulesMeetEq4OnRandomDags()
    {
        int schedules = 0;
        for (int seed = 0; seed < 120; seed++)
        {
            var problem = RandomDags.Create(seed);
            var random = new Random(seed);
            foreach (var ideal in BruteForcePlanner.AllIdeals(problem).Where((_, i) => i % 3 == 0))
            {
                var cut = PipelineCostModel.CutTensors(problem, ideal);
                var bits = cut.Select(_ => new[] { 2, 3, 4, 5, 6, 7, 8, 32 }[random.Next(8)]).ToArray();
                var schedule = PipelineCostModel.Schedule(problem, ideal, cut, bits);
                Assert.Null(schedule.Violation(problem, ideal));
                Assert.Equal(PipelineCostModel.Evaluate(problem, ideal, cut, bits), schedule.Cost);
                schedules++;
            }
            // And the planner's own choice (it checks itself before returning).
            var plan = new CoachPlanner().Plan(problem, new HashedBits(seed));
            var planned = PipelineCostModel.Schedule(problem, plan.OnEdge, plan.CutTensors, plan.Bits);
            Assert.Null(planned.Violation(problem, plan.OnEdge, plan.Cost.LatencySeconds));
            // A plan whose latency is not its schedule's finish is caught (0.1 % off).
            Assert.Contains("finishes at", planned.Violation(problem, plan.OnEdge, plan.Cost.LatencySeconds * 1.001));
        }
        Assert.True(schedules > 1000, $"{schedules} schedules");
    }
}
