using System.Globalization;
using Coach.Engine.Onnx.Proto;
using Coach.Engine.Planning;
using Coach.Engine.Splitting;
using Coach.Native.OnnxRuntime;
using Google.Protobuf;

namespace Coach.Transport.Cloud;

/// <summary>
/// Fragment re-alignment in a running cloud (docs/fleet.md §4): for every two plans of one model whose cuts nest (V_p ⊂ V_q)
/// it cuts the bridge V_q \ V_p out of p's tail, measures every tail and bridge at batch 1 and at the max batch, and then,
/// every interval, feeds the request rates of the last interval to <see cref="RealignmentPlanner"/> and routes each plan's
/// requests to its own tail or through a bridge into a later tail's batches.
/// </summary>
internal sealed class FragmentRealigner : IAsyncDisposable
{
    private readonly CloudServerOptions _options;
    private readonly TailModel[] _tails;
    private readonly Dictionary<(int, int), FragmentCost> _bridgeCosts = [];
    private readonly FragmentCost[] _tailCosts;
    private readonly long[] _lastReceived;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int[] _target;

    private FragmentRealigner(CloudServerOptions options, TailModel[] tails)
    {
        _options = options;
        _tails = tails;
        _tailCosts = new FragmentCost[tails.Length];
        _lastReceived = new long[tails.Length];
        _target = Enumerable.Range(0, tails.Length).ToArray();
        int batch = Math.Max(1, options.MaxBatch);
        for (int p = 0; p < tails.Length; p++)
        {
            TailModel tail = tails[p];
            int b = Math.Min(batch, tail.MaxBatch);
            _tailCosts[p] = FragmentCost.Fit(tail.TimeMs(1), b, tail.TimeMs(b));
        }

        for (int p = 0; p < tails.Length; p++)
        {
            for (int q = 0; q < tails.Length; q++)
            {
                if (p == q || tails[p].MaxBatch < 2 || !tails[p].Plan.ModelSha256.AsSpan().SequenceEqual(tails[q].Plan.ModelSha256))
                {
                    continue;
                }

                ModelProto? bridge = FragmentBridge.TryBuild(ModelProto.Parser.ParseFrom(File.ReadAllBytes(tails[p].Plan.TailPath!)), tails[q].Inputs.Select(i => i.Name).ToArray(), out _);
                if (bridge is null)
                {
                    continue;
                }

                var route = new FragmentRoute(tails[p], tails[q], InferenceSession.Open(bridge.ToByteArray(), options.TailSettings, $"bridge {tails[p].Plan.Id} → {tails[q].Plan.Id}"));
                int b = Math.Min(batch, tails[p].MaxBatch);
                _bridgeCosts[(p, q)] = FragmentCost.Fit(route.TimeMs(1, tails[p].InputsFor(1)), b, route.TimeMs(b, tails[p].InputsFor(b)));
                tails[p].AddBridge(route);
            }
        }

        options.Log($"cloud: re-alignment: {tails.Length} tails ({string.Join(", ", tails.Select((t, i) => $"{t.Plan.Id} {Describe(_tailCosts[i])}"))}), "
            + $"{_bridgeCosts.Count} bridge(s) ({string.Join(", ", _bridgeCosts.Select(kv => $"{tails[kv.Key.Item1].Plan.Id} → {tails[kv.Key.Item2].Plan.Id} {Describe(kv.Value)}"))}); "
            + $"budget {options.RealignBudget.TotalMilliseconds:0.#} ms, chosen again every {options.RealignInterval.TotalSeconds:0.##} s");
        _loop = _bridgeCosts.Count == 0 ? Task.CompletedTask : Task.Run(LoopAsync);
    }

    /// <summary>Sets up re-alignment over <paramref name="tails"/> (loaded, not yet serving); null when fewer than two share a model.</summary>
    public static FragmentRealigner Start(CloudServerOptions options, IReadOnlyList<TailModel> tails) => new(options, [.. tails]);

    /// <summary>The current choice: plan id → the plan id whose tail answers its requests.</summary>
    public IReadOnlyDictionary<string, string> Routes
    {
        get
        {
            int[] target = Volatile.Read(ref _target);
            return _tails.Select((t, p) => (t.Plan.Id, _tails[target[p]].Plan.Id)).ToDictionary(x => x.Item1, x => x.Item2, StringComparer.Ordinal);
        }
    }

    private static string Describe(FragmentCost cost) =>
        string.Create(CultureInfo.InvariantCulture, $"{cost.FixedMs:0.###} + {cost.PerRequestMs:0.###}·b ms");

    private async Task LoopAsync()
    {
        using var timer = new PeriodicTimer(_options.RealignInterval);
        long last = MonotonicClock.NowMicros;
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                long now = MonotonicClock.NowMicros;
                double seconds = Math.Max(1e-3, (now - last) / 1e6);
                last = now;
                var plans = new RealignedPlan[_tails.Length];
                for (int p = 0; p < _tails.Length; p++)
                {
                    long received = _tails[p].Received;
                    plans[p] = new RealignedPlan(_tails[p].Plan.Id, (received - _lastReceived[p]) / seconds, _options.RealignBudget.TotalMilliseconds, _tailCosts[p]);
                    _lastReceived[p] = received;
                }

                RealignmentChoice choice = RealignmentPlanner.Plan(new RealignmentProblem(plans, _bridgeCosts, _options.MaxBatch, _options.MaxWait.TotalMilliseconds));
                int[] target = choice.Feasible ? choice.Target : Enumerable.Range(0, _tails.Length).ToArray();
                Apply(target, plans, choice);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Apply(int[] target, RealignedPlan[] plans, RealignmentChoice choice)
    {
        int[] previous = Volatile.Read(ref _target);
        if (previous.SequenceEqual(target))
        {
            return;
        }

        // Targets first lose their own route, then the plans aligned to them take theirs.
        for (int p = 0; p < _tails.Length; p++)
        {
            if (target[p] == p)
            {
                _tails[p].Route = null;
            }
        }

        for (int p = 0; p < _tails.Length; p++)
        {
            if (target[p] != p)
            {
                _tails[p].Route = _tails[p].Bridges[_tails[target[p]]];
            }
        }

        Volatile.Write(ref _target, target);
        _options.Log($"cloud: re-aligned at {string.Join(", ", plans.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Id} {p.RequestsPerSecond:0.#}/s")))}: "
            + string.Join(", ", _tails.Select((t, p) => target[p] == p ? $"{t.Plan.Id} own tail" : $"{t.Plan.Id} → {_tails[target[p]].Plan.Id}"))
            + string.Create(CultureInfo.InvariantCulture, $" ({choice.ComputeMsPerSecond:0.#} ms of compute a second predicted{(choice.Feasible ? string.Empty : "; no re-alignment meets the budget")})"));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        foreach (TailModel tail in _tails)
        {
            tail.Route = null;
        }

        _stop.Dispose();
    }
}
