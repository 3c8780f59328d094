using Coach.Engine.Data;
using Coach.Engine.Planning;

namespace Coach.Experiments.Fleet;

/// <summary>One plan of the fleet: where it is, the link and device it was made for, and where it cuts the model.</summary>
public sealed record FleetPlan(string Name, string DirectoryPath, string PlanId, string Link, double EdgeSlowdown, IReadOnlyList<string> CutTensors, double PlannedThroughputFps);

/// <summary>
/// The plans of <c>coach bench fleet</c>: COACH partitions of one bundled model for edges on different links and devices, so
/// they cut the model at different points (the mixed plans a fleet cloud serves at once, docs/fleet.md). Every plan is made
/// by the planner (<see cref="PlanningSession"/>, what <c>coach plan</c> runs) into one folder that every cloud serves.
/// </summary>
public static class FleetPlans
{
    /// <summary>The deployments the fleet mixes: (name, uplink, how many times slower than this machine the edge is).</summary>
    public static readonly (string Name, string Link, double Slowdown)[] Deployments =
    [
        ("slow-link", "4mbit", 8),
        ("mid-link", "20mbit", 8),
        ("fast-link", "200mbit", 4),
    ];

    public const string Model = "resnet-fm112";

    /// <summary>Plans every deployment into <paramref name="plansRoot"/>/NAME; plans that cut at the same tensors as an earlier one are kept (their edges still differ by link).</summary>
    public static IReadOnlyList<FleetPlan> Write(string plansRoot, Action<string> log)
    {
        string root = ModelCatalog.RepositoryRoot;
        string model = Path.Combine(root, "models", Model + ".onnx");
        string profile = Path.Combine(root, "models", "profiles", Model + ".cpu.json");
        var plans = new List<FleetPlan>();
        foreach (var (name, link, slowdown) in Deployments)
        {
            string directory = Path.Combine(plansRoot, name);
            PlanningResult result = PlanningSession.Run(new PlanningOptions
            {
                Model = model,
                EdgeProfile = profile,
                CloudProfile = profile,
                EdgeSlowdown = slowdown,
                Bandwidth = link,
                BitsSource = "fixed:4",
                OutputDirectory = directory,
            });
            PlanDocument doc = result.Document;
            if (doc.CutTensors.Length == 0)
            {
                throw new InvalidOperationException($"the {name} plan ({link}, edge ×{slowdown}) is edge-only or cloud-only ({doc.Method}); a fleet bench needs split plans");
            }

            var plan = new FleetPlan(name, directory, doc.Id, link, slowdown, doc.CutTensors.Select(c => c.Name).ToArray(), doc.ThroughputFps);
            log($"fleet: plan {name}: {doc.Id}, cut [{string.Join(", ", plan.CutTensors)}] for {link} and an edge ×{slowdown}, planned {doc.ThroughputFps:0.#} frames/s");
            plans.Add(plan);
        }

        int distinct = plans.Select(p => string.Join(',', p.CutTensors.Order(StringComparer.Ordinal))).Distinct().Count();
        log($"fleet: {plans.Count} plans, {distinct} distinct cut(s) of {Model}");
        return plans;
    }
}
