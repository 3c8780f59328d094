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

/// <summary>The bundled model's cloud-jpeg plan (frames as JPEG, compression code 3) run by a real edge against a real cloud,
/// beside the plain cloud-only plan (8-bit frames).</summary>
public sealed class JpegCloudRunTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"coach-jpeg-{Guid.NewGuid():N}");
    private readonly ConcurrentQueue<string> _log = new();
    private CloudServer _server = null!;

    private string Plan(string method)
    {
        string profile = Path.Combine(ModelCatalog.RepositoryRoot, "models", "profiles", "resnet-fm112.cpu.json");
        string directory = Path.Combine(_root, method);
        PlanningSession.Run(new PlanningOptions
        {
            Model = ModelCatalog.Get("resnet-fm112").Path, EdgeProfile = profile, CloudProfile = profile, EdgeSlowdown = 8,
            Bandwidth = "10mbit", Method = method, CalibrationFrames = 300, OutputDirectory = directory,
        });
        return directory;
    }

    public ValueTask InitializeAsync()
    {
        // Both plans' tail is the whole model: one cloud serves both under one plan hash.
        _server = CloudServer.FromPlansDirectory(Plan("cloud"), new CloudServerOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), LogInterval = TimeSpan.Zero, Log = _log.Enqueue });
        Plan("cloud-jpeg");
        _server.Start();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task JpegFramesAreAnsweredAsAccuratelyAsRawOnesInAFractionOfTheBytes()
    {
        var raw = PlanDirectory.Load(Path.Combine(_root, "cloud"));
        var jpeg = PlanDirectory.Load(Path.Combine(_root, "cloud-jpeg"));
        Assert.True(jpeg.IsCloudOnly);
        Assert.Equal(0, raw.JpegQuality);
        PlanInputCodec codec = jpeg.Document.InputCodec!;
        Assert.Equal(codec.Quality, jpeg.JpegQuality);
        Assert.InRange(codec.Quality, 1, 100);
        Assert.Equal(raw.PlanHashHex, jpeg.PlanHashHex);

        var options = new EdgeRunOptions { Cloud = _server.LocalEndPoint, Log = _log.Enqueue };
        var (rawSummary, rawRun) = await EdgeRun.RunAsync(raw, TaskStreamSource.Parse("stream:medium", 300, 10, 3), new FixedBitsScheduler(), options);
        var (jpegSummary, jpegRun) = await EdgeRun.RunAsync(jpeg, TaskStreamSource.Parse("stream:medium", 300, 10, 3), new FixedBitsScheduler(), options);

        Assert.Equal(300, jpegSummary.FramesAnswered);
        Assert.Equal(0, jpegSummary.FramesFailed);
        Assert.Equal(300, rawSummary.FramesAnswered);
        Assert.Equal("cloud-jpeg", jpegSummary.Method);
        // Within ε-ish of the raw frames: the quality was chosen so on the calibration split; 300 test frames add noise.
        Assert.True(jpegSummary.Accuracy >= rawSummary.Accuracy - 0.03, $"JPEG {jpegSummary.Accuracy:P1}, raw {rawSummary.Accuracy:P1}");
        var rawLabels = rawRun.Records.ToArray().Select(r => r.PredictedLabel).ToArray();
        var jpegLabels = jpegRun.Records.ToArray().Select(r => r.PredictedLabel).ToArray();
        Assert.True(rawLabels.Zip(jpegLabels).Count(p => p.First == p.Second) >= 270, "JPEG frames change more than one answer in ten");
        // The recorded bytes are the wire's: a JPEG frame is a fraction of the 37,632-byte 8-bit frame, near what planning measured.
        Assert.True(jpegSummary.BytesPerFrame < rawSummary.BytesPerFrame / 8, $"JPEG {jpegSummary.BytesPerFrame:F0} B a frame, raw {rawSummary.BytesPerFrame:F0}");
        Assert.InRange(jpegSummary.BytesPerFrame, 0.5 * codec.BytesPerFrame, 2 * codec.BytesPerFrame + 200);
        Assert.DoesNotContain(_log, line => line.Contains("MalformedPayload", StringComparison.Ordinal) || line.Contains("does not decode", StringComparison.Ordinal));
    }

    /// <summary>Sends one JPEG-frame request of <paramref name="jpegSide"/>² pixels declared as the model's 112×112 frame on a
    /// fresh connection; returns the frame types the cloud answered with until it closed or went quiet.</summary>
    private async Task<List<FrameType>> SendJpegAsync(int jpegSide)
    {
        var plan = PlanDirectory.Load(Path.Combine(_root, "cloud-jpeg"));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(_server.LocalEndPoint);
        var pipe = new Pipe();
        new HelloMessage { ClientId = $"edge-jpeg-{jpegSide}", PlanId = plan.Id, PlanHash = plan.PlanHash }.Write(pipe.Writer);
        await socket.SendAsync(await CodedFrameRequests.Drain(pipe), SocketFlags.None);

        using var codec = new Native.Imaging.TurboJpeg();
        var rgb = new byte[3 * jpegSide * jpegSide];
        new Random(jpegSide).NextBytes(rgb);
        var jpeg = new byte[Native.Imaging.TurboJpeg.MaxEncodedLength(jpegSide, jpegSide)];
        int length = codec.Encode(rgb, jpegSide, jpegSide, 80, jpeg);
        CodedFrameRequests.Write(pipe.Writer, 1, TensorCompression.Jpeg, jpeg.AsSpan(0, length));
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

                if (types.Contains(FrameType.Result))
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

    [Fact]
    public async Task AJpegOfAnotherSizeIsAMalformedPayloadAndTheCloudKeepsServing()
    {
        List<FrameType> refused = await SendJpegAsync(56);
        Assert.Contains(FrameType.Error, refused);
        Assert.DoesNotContain(FrameType.Result, refused);
        Assert.DoesNotContain((FrameType)255, refused); // the connection was closed (docs/protocol.md §6)
        Assert.Contains(_log, line => line.Contains("56×56", StringComparison.Ordinal));

        List<FrameType> answered = await SendJpegAsync(112);
        Assert.Contains(FrameType.Result, answered);
    }
}
