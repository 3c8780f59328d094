using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Coach.Engine.Data;
using Coach.Engine.Planning;
using Coach.Transport.Cloud;
using Coach.Transport.Edge;
using Coach.Transport.Protocol;

namespace Coach.Transport.Tests;

/// <summary>The bundled model's cloud-h264 plan (frames as one H.264 stream per connection, compression code 4) run by real
/// edges against a real cloud beside the plain cloud-only plan, and damaged streams refused.</summary>
public sealed class H264CloudRunTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"coach-h264-{Guid.NewGuid():N}");
    private readonly ConcurrentQueue<string> _log = new();
    private CloudServer _server = null!;

    private string Plan(string method)
    {
        string profile = Path.Combine(ModelCatalog.RepositoryRoot, "models", "profiles", "resnet-fm112.cpu.json");
        string directory = Path.Combine(_root, method);
        PlanningSession.Run(new PlanningOptions
        {
            Model = ModelCatalog.Get("resnet-fm112").Path, EdgeProfile = profile, CloudProfile = profile, EdgeSlowdown = 8,
            // The rate factor is chosen on the whole calibration split: on 300 frames, ε = 0.5 % is one or two answers.
            Bandwidth = "10mbit", Method = method, CalibrationFrames = method == "cloud" ? 300 : null, OutputDirectory = directory,
        });
        return directory;
    }

    public ValueTask InitializeAsync()
    {
        // Both plans' tail is the whole model: one cloud serves both under one plan hash.
        _server = CloudServer.FromPlansDirectory(Plan("cloud"), new CloudServerOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), LogInterval = TimeSpan.Zero, Log = _log.Enqueue });
        Plan("cloud-h264");
        _server.Start();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task TwoEdgesStreamingH264AreEachAnsweredOnEveryFrameAsAccuratelyAsRawFrames()
    {
        var raw = PlanDirectory.Load(Path.Combine(_root, "cloud"));
        var h264 = PlanDirectory.Load(Path.Combine(_root, "cloud-h264"));
        Assert.True(h264.IsCloudOnly);
        Assert.Null(raw.H264RateFactor);
        PlanInputCodec codec = h264.Document.InputCodec!;
        Assert.Equal("h264", codec.Codec);
        Assert.Equal(codec.Quality, h264.H264RateFactor);
        Assert.InRange(codec.Quality, 0, 51);
        Assert.Equal(raw.PlanHashHex, h264.PlanHashHex);

        var options = new EdgeRunOptions { Cloud = _server.LocalEndPoint, Log = _log.Enqueue };
        var (rawSummary, rawRun) = await EdgeRun.RunAsync(raw, TaskStreamSource.Parse("stream:medium", 300, 30, 3), new FixedBitsScheduler(), options);
        // Two connections stream at once: the cloud keeps one decoder each and decodes each in its own arrival order.
        var medium = EdgeRun.RunAsync(h264, TaskStreamSource.Parse("stream:medium", 300, 30, 3), new FixedBitsScheduler(), options);
        var high = EdgeRun.RunAsync(h264, TaskStreamSource.Parse("stream:high", 300, 30, 4), new FixedBitsScheduler(), options);
        await Task.WhenAll(medium, high);
        var (h264Summary, h264Run) = await medium;
        var (highSummary, _) = await high;

        Assert.Equal(300, h264Summary.FramesAnswered);
        Assert.Equal(0, h264Summary.FramesFailed);
        Assert.Equal(300, highSummary.FramesAnswered);
        Assert.Equal(0, highSummary.FramesFailed);
        Assert.Equal("cloud-h264", h264Summary.Method);
        Assert.True(h264Summary.Accuracy >= rawSummary.Accuracy - 0.03, $"H.264 {h264Summary.Accuracy:P1}, raw {rawSummary.Accuracy:P1}");
        var rawLabels = rawRun.Records.ToArray().Select(r => r.PredictedLabel).ToArray();
        var h264Labels = h264Run.Records.ToArray().Select(r => r.PredictedLabel).ToArray();
        Assert.True(rawLabels.Zip(h264Labels).Count(p => p.First == p.Second) >= 270, "H.264 frames change more than one answer in ten");
        // The recorded bytes are the wire's; near-identical frames (high correlation) cost fewer than a medium stream's.
        Assert.True(h264Summary.BytesPerFrame < rawSummary.BytesPerFrame / 8, $"H.264 {h264Summary.BytesPerFrame:F0} B a frame, raw {rawSummary.BytesPerFrame:F0}");
        Assert.True(highSummary.BytesPerFrame < h264Summary.BytesPerFrame, $"high {highSummary.BytesPerFrame:F0} B, medium {h264Summary.BytesPerFrame:F0} B");
        Assert.InRange(h264Summary.BytesPerFrame, 0.5 * codec.BytesPerFrame, 2 * codec.BytesPerFrame + 200);
        Assert.DoesNotContain(_log, line => line.Contains("MalformedPayload", StringComparison.Ordinal) || line.Contains("does not decode", StringComparison.Ordinal));
    }

    [Fact]
    public async Task DataThatIsNotTheConnectionsNextPictureIsAMalformedPayloadAndTheCloudKeepsServing()
    {
        using var encoder = new Native.Imaging.H264Encoder(112, 112, crf: 28);
        var unit = new byte[Native.Imaging.H264Encoder.MaxEncodedLength(112, 112)];
        var rgb = new byte[3 * 112 * 112];
        new Random(5).NextBytes(rgb);
        byte[] idr = unit[..encoder.Encode(rgb, unit)];
        byte[] p = unit[..encoder.Encode(rgb, unit)];
        var noise = new byte[500];
        new Random(6).NextBytes(noise);

        // Noise; a stream that starts with a P frame (a new connection's decoder has no reference picture).
        foreach ((string name, byte[][] units) in new[] { ("noise", new[] { noise }), ("p-first", new[] { p }) })
        {
            List<FrameType> refused = await SendAsync(name, units);
            Assert.Contains(FrameType.Error, refused);
            Assert.DoesNotContain(FrameType.Result, refused);
            Assert.DoesNotContain((FrameType)255, refused); // the connection was closed (docs/protocol.md §6)
        }

        Assert.Contains(_log, line => line.Contains("H.264", StringComparison.Ordinal));

        // The IDR frame then its P frame on a fresh connection: both answered.
        List<FrameType> answered = await SendAsync("good", [idr, p]);
        Assert.Equal(2, answered.Count(t => t == FrameType.Result));
    }

    /// <summary>Sends each access unit as one H.264-frame request on a fresh connection; returns the frame types the cloud
    /// answered with until it closed, answered every request, or went quiet.</summary>
    private async Task<List<FrameType>> SendAsync(string client, byte[][] units)
    {
        var plan = PlanDirectory.Load(Path.Combine(_root, "cloud-h264"));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(_server.LocalEndPoint);
        var pipe = new Pipe();
        new HelloMessage { ClientId = $"edge-h264-{client}", PlanId = plan.Id, PlanHash = plan.PlanHash }.Write(pipe.Writer);
        await socket.SendAsync(await CodedFrameRequests.Drain(pipe), SocketFlags.None);
        for (int i = 0; i < units.Length; i++)
        {
            CodedFrameRequests.Write(pipe.Writer, (ulong)i + 1, TensorCompression.H264, units[i]);
        }

        await socket.SendAsync(await CodedFrameRequests.Drain(pipe), SocketFlags.None);
        var types = new List<FrameType>();
        var received = new ArrayBufferWriter<byte>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            int read;
            while ((read = await socket.ReceiveAsync(received.GetMemory(4096), SocketFlags.None, timeout.Token)) > 0)
            {
                received.Advance(read);
                var sequence = new ReadOnlySequence<byte>(received.WrittenMemory);
                types.Clear();
                while (FrameReader.TryReadFrame(ref sequence, WireLimits.Default, out Frame frame))
                {
                    types.Add(frame.Type);
                }

                if (types.Count(t => t == FrameType.Result) == units.Length)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
            types.Add((FrameType)255); // still open after 5 s
        }

        return types;
    }
}
