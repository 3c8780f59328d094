using System.Net;
using Coach.Engine.Coded;
using Coach.Engine.Onnx;
using Coach.Engine.Onnx.Proto;
using Coach.Native.OnnxRuntime;
using Coach.Transport.Cloud;
using Coach.Transport.Coded;
using Google.Protobuf;

namespace Coach.Transport.Tests.Coded;

public sealed class CodedWorkerPoolTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"coach-coded-pool-{Guid.NewGuid():N}");
    private readonly List<CloudServer> _servers = [];
    private readonly double[] _slowdown = [1, 1, 1, 1, 1];

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        foreach (var s in _servers)
        {
            await s.DisposeAsync();
        }

        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task TheMasterDecodesPastAStragglerAndDeadWorkersAndAnswersWhenTooFewAreLeft()
    {
        var (layer, input, expected) = Convolution();
        var mds = new CodedConvolution(layer, LinearCode.SystematicVandermonde(5, 3));
        var uncoded = new CodedConvolution(layer, LinearCode.Uncoded(5));
        var plans = new[] { WritePlan("mds", mds), WritePlan("uncoded", uncoded) };
        var endpoints = new List<EndPoint>();
        for (int i = 0; i < 5; i++)
        {
            int worker = i;
            var server = CloudServer.FromPlansDirectory(Path.Combine(_root, "plans"), new CloudServerOptions
            {
                Listen = new IPEndPoint(IPAddress.Loopback, 0),
                MaxBatch = 1,
                MaxWait = TimeSpan.Zero,
                LogInterval = TimeSpan.Zero,
                TailSettings = SplitRunExecutor.CpuSettings,
                ComputeSlowdown = () => Volatile.Read(ref _slowdown[worker]),
                Log = static _ => { },
            });
            server.Start();
            _servers.Add(server);
            endpoints.Add(server.LocalEndPoint);
        }

        await using var pool = await CodedWorkerPool.ConnectAsync(endpoints, plans, TestContext.Current.CancellationToken);
        int localCalls = 0;
        float[] Local(CodedConvolution coded, int row)
        {
            localCalls++;
            using var session = InferenceSession.Open(coded.SliceModel(flatten: true).ToByteArray(), SplitRunExecutor.CpuSettings, "local");
            var x = DenseTensor.Create(TensorElementType.Float, coded.SliceInputShape);
            coded.Encode(row, x.AsSpan<float>());
            return session.Run([new NamedTensor(session.Inputs[0].Name, x)])[0].AsSpan<float>().ToArray();
        }

        async Task<CodedLayerOutcome> Run(CodedConvolution coded, int plan)
        {
            coded.Split(input);
            var output = new float[expected.Length];
            var outcome = await pool.RunLayerAsync(coded, plan, output, row => Local(coded, row), TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
            double error = expected.Zip(output).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(error < 1e-3, $"max |decoded − layer| = {error}");
            return outcome;
        }

        // A straggler 200× slower: the coded layer does not wait for it.
        _slowdown[0] = 200;
        var first = await Run(mds, 0);
        Assert.Equal(3, first.AnswersUsed);
        Assert.False(first.FellBack);
        for (int i = 0; i < 3; i++)
        {
            Assert.False((await Run(mds, 0)).FellBack); // the straggler's late answers are dropped, frame after frame
        }

        _slowdown[0] = 1;

        // Two workers die: three are left, the code still decodes without the master.
        await _servers[1].AbortAsync();
        await _servers[3].AbortAsync();
        await WaitUntil(() => pool.LiveCount == 3);
        var afterDeaths = await Run(mds, 0);
        Assert.False(afterDeaths.FellBack);

        // Uncoded: the dead workers' slices go to live ones.
        var reissued = await Run(uncoded, 1);
        Assert.Equal(2, reissued.Reissued);
        Assert.False(reissued.FellBack);

        // A third dies: two live workers cannot decode a (5, 3) code alone; new rows go to them, and the frame is answered.
        await _servers[4].AbortAsync();
        await WaitUntil(() => pool.LiveCount == 2);
        var last = await Run(mds, 0);
        Assert.True(last.Reissued + last.ComputedLocally >= 1);
        Assert.Equal(0, localCalls - last.ComputedLocally);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (int i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        Assert.True(condition());
    }

    private WorkerPlan WritePlan(string id, CodedConvolution coded)
    {
        string dir = Path.Combine(_root, "plans", id);
        Directory.CreateDirectory(dir);
        File.WriteAllBytes(Path.Combine(dir, "tail.onnx"), coded.SliceModel(flatten: true).ToByteArray());
        File.WriteAllText(Path.Combine(dir, "plan.json"), $$"""{"id":"{{id}}","method":"coded","cut_tensors":[{"name":"x","shape":[{{string.Join(',', coded.SliceInputShape)}}],"bits":32}]}""");
        return new WorkerPlan(id, PlanDirectory.Load(dir).PlanHash);
    }

    /// <summary>A 3×3 convolution 4 → 8 channels with bias on 20×9 rows, its input and its output.</summary>
    private static (LayerRun Layer, float[] Input, float[] Expected) Convolution()
    {
        var g = new GraphProto { Name = "conv" };
        g.Input.Add(OnnxBuilder.FloatValue("x", [1, 4, 20, 9]));
        g.Output.Add(new ValueInfoProto { Name = "y" });
        var random = new Random(2);
        var w = new TensorProto { Name = "w", DataType = 1 };
        w.Dims.Add([8, 4, 3, 3]);
        w.FloatData.Add(Enumerable.Range(0, 8 * 4 * 9).Select(_ => (random.NextSingle() * 2) - 1));
        var b = new TensorProto { Name = "b", DataType = 1 };
        b.Dims.Add(8);
        b.FloatData.Add(Enumerable.Range(0, 8).Select(_ => random.NextSingle()));
        g.Initializer.Add(w);
        g.Initializer.Add(b);
        var node = OnnxBuilder.Node("Conv", ["x", "w", "b"], ["y"]);
        var pads = new AttributeProto { Name = "pads", Type = AttributeProto.Types.AttributeType.Ints };
        pads.Ints.Add([1, 1, 1, 1]);
        node.Attribute.Add(pads);
        g.Node.Add(node);
        var model = new ModelProto { IrVersion = 8, Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = 17 });
        var layer = LayerRun.FromModel(model, [Coach.Engine.Graph.LayerGraph.NodeName(node, 0)], [1, 4, 20, 9]);
        var input = Enumerable.Range(0, 4 * 20 * 9).Select(_ => (random.NextSingle() * 2) - 1).ToArray();
        using var session = InferenceSession.Open(model.ToByteArray(), SplitRunExecutor.CpuSettings, "conv");
        var expected = session.Run([new NamedTensor("x", DenseTensor.FromFloats(input, 1, 4, 20, 9))], ["y"])[0].AsSpan<float>().ToArray();
        return (layer, input, expected);
    }
}
