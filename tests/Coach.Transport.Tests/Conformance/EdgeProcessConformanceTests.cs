using Coach.Engine.Onnx;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Coach.Engine.Onnx.Proto;
using Coach.Transport.Faults;
using Google.Protobuf;

namespace Coach.Transport.Tests.Conformance;

/// <summary>
/// docs/protocol.md §1.7 with both real processes: <c>coach-edge run</c> streams the bundled test
/// split through a load balancer while its coach-cloud is replaced by a rolling restart (the new
/// cloud first, then SIGTERM to the old one), then the edge itself is stopped by SIGTERM. No frame
/// is lost, both processes exit 0.
/// </summary>
public sealed class EdgeProcessConformanceTests(ITestOutputHelper output) : IDisposable
{
    private readonly ConformancePlans _plans = new();

    public void Dispose() => _plans.Dispose();

    [Fact]
    [Spec("§1.7", Reasons = [308], Frames = [SpecWire.Goodbye])]
    public async Task CoachEdgeRunLosesNoFrameAcrossACloudRestartBySigtermAndStopsCleanlyOnSigterm()
    {
        string plans = Path.Combine(_plans.Root, "stream-plans");
        string planDirectory = WriteStreamPlan(Path.Combine(plans, "stream"));
        string[] arguments = ["--keys", _plans.KeysDirectory, "--drain-s", "10"];
        CloudProcess first = await CloudProcess.StartAsync(plans, arguments);
        CloudProcess? second = null;
        await using var balancer = new FaultProxy(first.EndPoint, new IPEndPoint(IPAddress.Loopback, 0));
        balancer.Start();
        const int Frames = 6000;
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in (string[])[CloudProcess.BuiltBinary("Coach.Edge", "coach-edge.dll"), "run", "--plan", planDirectory, "--cloud", balancer.LocalEndPoint.ToString(),
            "--source", "stream:medium", "--frames", Frames.ToString(System.Globalization.CultureInfo.InvariantCulture), "--fps", "300", "--no-fallback", "--no-progress", "--json",
            "--key", Path.Combine(_plans.KeysDirectory, ConformancePlans.ClientId + ".key"), "--client-id", ConformancePlans.ClientId, "--threads", "1"])
        {
            info.ArgumentList.Add(argument);
        }

        using var edge = new Process { StartInfo = info };
        var stdout = new List<string>();
        var stderr = new List<string>();
        edge.OutputDataReceived += (_, e) => { if (e.Data is { } line) { lock (stdout) { stdout.Add(line); } } };
        edge.ErrorDataReceived += (_, e) => { if (e.Data is { } line) { lock (stderr) { stderr.Add(line); } } };
        try
        {
            edge.Start();
            edge.BeginOutputReadLine();
            edge.BeginErrorReadLine();
            await first.WaitForLogAsync("serves plan stream", TimeSpan.FromSeconds(60));
            await Task.Delay(1000);

            // The rolling restart behind the balancer.
            second = await CloudProcess.StartAsync(plans, arguments);
            balancer.Upstream = second.EndPoint;
            first.Signal("TERM");
            int firstExit = await first.WaitForExitAsync(TimeSpan.FromSeconds(30));
            await second.WaitForLogAsync("serves plan stream", TimeSpan.FromSeconds(30));
            await Task.Delay(1000);

            // Then the edge itself is stopped: it finishes the frames taken and reports.
            using (Process kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", edge.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!)
            {
                await kill.WaitForExitAsync();
            }

            await edge.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            edge.WaitForExit();
            output.WriteLine(string.Join('\n', stderr));
            output.WriteLine(stdout.LastOrDefault() ?? "(no output)");
            using JsonDocument summary = JsonDocument.Parse(stdout.Last(l => l.StartsWith('{')));
            JsonElement s = summary.RootElement;
            int sent = s.GetProperty("frames_sent").GetInt32();
            Assert.Equal(0, firstExit);
            Assert.Equal(0, edge.ExitCode);
            Assert.InRange(sent, 100, Frames - 1); // stopped by SIGTERM mid-stream, after the restart
            Assert.Equal(sent, s.GetProperty("frames_answered").GetInt32());
            Assert.Equal(0, s.GetProperty("frames_failed").GetInt32());
            Assert.Equal(sent, s.GetProperty("requests_answered").GetInt32()); // all by a cloud (no fallback here)
            Assert.True(s.GetProperty("reconnects").GetInt32() >= 1, "the edge never moved to the second cloud");
            Assert.Contains(stderr, l => l.Contains("the cloud is shutting down", StringComparison.Ordinal));
            Assert.Contains(stderr, l => l.Contains("SIGTERM: taking no new frame", StringComparison.Ordinal));
        }
        finally
        {
            if (!edge.HasExited)
            {
                edge.Kill();
            }

            await first.DisposeAsync();
            if (second is not null)
            {
                await second.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// A plan for the bundled frames [N,3,112,112]: head = GlobalAveragePool → cut [N,3,1,1];
    /// tail = Reshape [N,3] → MatMul → 10 logits. Its accuracy is beside the point; every frame goes to the cloud.
    /// </summary>
    private static string WriteStreamPlan(string directory)
    {
        Directory.CreateDirectory(directory);
        var head = new GraphProto { Name = "stream_head" };
        head.Input.Add(OnnxBuilder.FloatValue("frame", [-1, 3, 112, 112]));
        head.Output.Add(OnnxBuilder.FloatValue("cut", [-1, 3, 1, 1]));
        head.Node.Add(new NodeProto { OpType = "GlobalAveragePool", Name = "pool", Input = { "frame" }, Output = { "cut" } });

        var tail = new GraphProto { Name = "stream_tail" };
        tail.Input.Add(OnnxBuilder.FloatValue("cut", [-1, 3, 1, 1]));
        tail.Output.Add(OnnxBuilder.FloatValue("logits", [-1, 10]));
        var weights = new TensorProto { Name = "w", DataType = 1, Dims = { 3, 10 } };
        for (int i = 0; i < 30; i++)
        {
            weights.FloatData.Add((i % 7) * 0.1f);
        }

        tail.Initializer.Add(weights);
        tail.Initializer.Add(new TensorProto { Name = "flat_shape", DataType = 7, Dims = { 2 }, Int64Data = { -1, 3 } });
        tail.Node.Add(new NodeProto { OpType = "Reshape", Name = "flatten", Input = { "cut", "flat_shape" }, Output = { "flat" } });
        tail.Node.Add(new NodeProto { OpType = "MatMul", Name = "classify", Input = { "flat", "w" }, Output = { "logits" } });

        File.WriteAllBytes(Path.Combine(directory, "head.onnx"), Model(head));
        byte[] tailBytes = Model(tail);
        File.WriteAllBytes(Path.Combine(directory, "tail.onnx"), tailBytes);
        File.WriteAllText(Path.Combine(directory, "plan.json"), """{"id":"stream","method":"conformance","cut_tensors":[{"name":"cut","shape":[1,3,1,1],"bits":8}]}""");
        return directory;
    }

    private static byte[] Model(GraphProto graph)
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "coach-conformance", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = 17 });
        return model.ToByteArray();
    }
}
