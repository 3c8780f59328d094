using System.CommandLine;
using Coach.Engine.Data;
using Coach.Engine.Data.Media;
using Coach.Experiments;
using Coach.Native.OnnxRuntime;
using Coach.Transport;
using Coach.Transport.Edge;

namespace Coach.Cli.Commands;

/// <summary><c>coach bench entropy</c>: lossless coding of plans' UAQ codes, bytes and CPU (<see cref="EntropyCodingBenchmark"/>).</summary>
internal static class BenchEntropyCommand
{
    public static Command Create()
    {
        var plans = new Option<string>("--plan") { Description = "comma-separated plan folders whose cut tensors are coded", Required = true };
        var data = new Option<string?>("--data") { Description = "frames: images:DIR or video:FILE (default: the bundled test frames)" };
        var frames = new Option<int>("--frames") { Description = "frames to code", DefaultValueFactory = _ => 200 };
        var slowdown = new Option<double>("--edge-slowdown") { Description = "the edge is this many times slower than this machine: encode times are also shown scaled by it", DefaultValueFactory = _ => 1 };
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of the tables" };
        var command = new Command("entropy", "code plans' quantized cut tensors losslessly (LZ4, zstd, Brotli) and report bytes against plain UAQ and CPU a frame") { plans, data, frames, slowdown, json };
        command.SetAction(parse =>
        {
            int count = parse.GetValue(frames);
            double factor = parse.GetValue(slowdown);
            if (count < 1 || !(factor >= 1))
            {
                Console.Error.WriteLine("coach bench entropy: --frames must be positive and --edge-slowdown at least 1");
                return 2;
            }
            var results = new List<CutTensorCoding>();
            foreach (var directory in parse.GetValue(plans)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                try
                {
                    var plan = PlanDirectory.Load(directory);
                    var (height, width) = FrameSources.InputSize(plan);
                    ILabelledFrames source = parse.GetValue(data) is { } spec
                        ? MediaSource.Open(spec, height, width, FrameSet.FashionMnistClasses, out _, count)
                        : height == FrameRenderer.Size && width == FrameRenderer.Size
                            ? BundledData.LoadSlice(DataSplit.Test)
                            : throw new ArgumentException($"{directory}: the model takes {width}×{height} frames, the bundled ones are {FrameRenderer.Size}×{FrameRenderer.Size}; give --data images:DIR or video:FILE");
                    results.AddRange(EntropyCodingBenchmark.Measure(plan, source, count));
                }
                catch (Exception e) when (e is IOException or InvalidDataException or OrtException or ArgumentException or FormatException or UnauthorizedAccessException)
                {
                    Console.Error.WriteLine($"coach bench entropy: {directory}: {e.Message}");
                    return 1;
                }
            }
            if (parse.GetValue(json))
            {
                Console.WriteLine(EntropyCodingBenchmark.Json(results, factor));
            }
            else
            {
                EntropyCodingBenchmark.WriteTable(results, factor, Console.Out);
            }
            return 0;
        });
        return command;
    }
}
