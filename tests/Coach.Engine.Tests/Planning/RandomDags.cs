using Coach.Engine.Planning;

namespace Coach.Engine.Tests.Planning;

/// <summary>Seeded random layer DAGs shaped like real networks: chains, residual blocks, inception-like blocks, dense skips.</summary>
internal static class RandomDags
{
    public static PlanningProblem Create(int seed, int maxLayers = 16, CostSettings? settings = null)
    {
        var random = new Random(seed);
        var producers = new List<int>();        // tensor -> producing layer (-1 = model input)
        var consumers = new List<List<int>>();  // tensor -> layers
        var sizes = new List<long>();
        var types = new List<int>();
        int layers = 0;

        int NewTensor(int producer)
        {
            producers.Add(producer);
            consumers.Add([]);
            sizes.Add(random.Next(0, 4) == 0 ? random.Next(10, 200) : random.Next(500, 60_000));
            types.Add(random.Next(0, 12) == 0 ? 7 : 1); // an occasional int64 value (shape arithmetic)
            return producers.Count - 1;
        }

        int Layer(params int[] inputs)
        {
            int layer = layers++;
            foreach (var t in inputs.Distinct())
            {
                consumers[t].Add(layer);
            }
            return NewTensor(layer);
        }

        int current = NewTensor(-1);
        int secondInput = random.Next(0, 5) == 0 ? NewTensor(-1) : -1;
        var history = new List<int> { current };
        while (layers < maxLayers - 4)
        {
            switch (random.Next(0, 5))
            {
                case 0: // chain
                    current = Layer(current);
                    break;
                case 1: // residual block, optional projection shortcut
                {
                    int branch = current;
                    int length = random.Next(1, 4);
                    for (int i = 0; i < length; i++)
                    {
                        branch = Layer(branch);
                    }
                    int shortcut = random.Next(0, 3) == 0 ? Layer(current) : current;
                    current = Layer(branch, shortcut);
                    break;
                }
                case 2: // inception-like: 2-4 branches joined by a concat
                {
                    int width = random.Next(2, 5);
                    var ends = new int[width];
                    for (int b = 0; b < width; b++)
                    {
                        ends[b] = current;
                        int length = random.Next(1, 3);
                        for (int i = 0; i < length; i++)
                        {
                            ends[b] = Layer(ends[b]);
                        }
                    }
                    current = Layer(ends);
                    break;
                }
                case 3: // dense block: every layer reads all earlier outputs of the block
                {
                    var block = new List<int> { current };
                    int count = random.Next(2, 4);
                    for (int i = 0; i < count; i++)
                    {
                        block.Add(Layer([.. block]));
                    }
                    current = block[^1];
                    break;
                }
                default: // long skip from an older value
                    current = Layer(current, history[random.Next(history.Count)]);
                    break;
            }
            history.Add(current);
        }
        if (secondInput >= 0)
        {
            current = Layer(current, secondInput);
        }
        Layer(current); // classifier head: the model output

        var tensors = new List<PlanTensor>();
        for (int k = 0; k < producers.Count; k++)
        {
            tensors.Add(new PlanTensor($"t{k}", producers[k], [.. consumers[k]], sizes[k], types[k], [sizes[k]]));
        }
        var names = Enumerable.Range(0, layers).Select(i => $"layer{i}").ToArray();
        var te = Enumerable.Range(0, layers).Select(_ => random.NextDouble() * 4e-3).ToArray();
        var tc = te.Select(t => t * (0.05 + 0.3 * random.NextDouble())).ToArray();
        settings ??= new CostSettings { BandwidthBitsPerSecond = random.Next(1, 100) * 1e6, FrameOverheadSeconds = random.NextDouble() * 1e-3 };
        return new PlanningProblem(names, te, tc, tensors, settings);
    }
}

/// <summary>A calibration stand-in: a fixed pseudo-random minimum width per cut (2…8, sometimes 32).</summary>
internal sealed class HashedBits(int salt) : ICutBitsProvider
{
    public int Calls { get; private set; }

    public int MinimumBits(PlanningProblem problem, IReadOnlyList<int> cutTensors)
    {
        Calls++;
        int h = salt;
        foreach (var k in cutTensors)
        {
            h = unchecked(h * 31 + k + 7);
        }
        h = Math.Abs(h % 8);
        return h == 7 ? 32 : h + 2;
    }
}
