using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Coach.Engine.Data;
using Coach.Engine.Data.Media;
using Coach.Native.OnnxRuntime;

namespace Coach.Cli.Commands;

/// <summary><c>coach eval</c>: top-1 accuracy of a model on the bundled frames or on decoded images and video
/// (docs/data.md), through ONNX Runtime.</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "a model name from models/manifest.json, or the path of an .onnx file", Required = true };
        var data = new Option<string>("--data")
        {
            Description = "test (t10k: all 10,000 with dataset-fashion-mnist, else the committed 2,000), calib, images:DIR (class subfolders), video:FILE or tensors:FILE (.npy/IDX; labels in FILE.labels)",
            DefaultValueFactory = _ => "test",
        };
        data.Validators.Add(result =>
        {
            var value = result.GetValueOrDefault<string>();
            if (value is not ("test" or "calib") && !MediaSource.IsMedia(value))
            {
                result.AddError($"--data {value}: expected test, calib, images:DIR, video:FILE or tensors:FILE");
            }
        });
        var labels = new Option<string?>("--labels") { Description = "class names, one per line in label order, for images:/video:/tensors: data (default: the model card's labels, else the bundled Fashion-MNIST classes)" };
        var json = new Option<bool>("--json") { Description = "print {\"accuracy\", \"samples\", \"source\", ...} as JSON on the last line" };
        var batch = new Option<int>("--batch") { Description = "frames per inference run", DefaultValueFactory = _ => 32 };
        var command = new Command("eval", "top-1 accuracy of a model on the bundled frames, or on images and video") { model, data, labels, json, batch };
        command.SetAction(parse => Run(parse.GetValue(model)!, parse.GetValue(data)!, parse.GetValue(labels), parse.GetValue(json), parse.GetValue(batch)));
        return command;
    }

    private static int Run(string modelArgument, string dataArgument, string? labelsPath, bool json, int batchSize)
    {
        try
        {
            if (batchSize < 1)
            {
                Console.Error.WriteLine($"coach eval: --batch must be at least 1, got {batchSize}");
                return 2;
            }

            var (modelName, modelPath, manifestAccuracy) = ResolveModel(modelArgument);
            var split = dataArgument == "calib" ? DataSplit.Calibration : DataSplit.Test;
            using var session = InferenceSession.Open(modelPath);
            bool media = MediaSource.IsMedia(dataArgument);
            ILabelledFrames frames = media
                ? DecodeMedia(modelPath, dataArgument, labelsPath)
                : BundledData.Load(split);
            Console.Error.WriteLine($"coach eval: {modelName} on {frames.Count} frames from {frames.Source}");

            var clock = Stopwatch.StartNew();
            var lastDraw = TimeSpan.Zero;
            var result = ModelEvaluator.Evaluate(session, frames, batchSize, (done, total) =>
            {
                if (done == total || clock.Elapsed - lastDraw > TimeSpan.FromMilliseconds(200))
                {
                    lastDraw = clock.Elapsed;
                    DrawProgress(done, total, clock.Elapsed);
                }
            });
            Console.Error.WriteLine();

            string scope = media ? "labelled frames of " + dataArgument
                : frames.IsFullTestSet ? "full test set" : split == DataSplit.Test ? "test slice (not the full test set)" : "calibration set";
            Console.WriteLine($"{modelName}: top-1 accuracy {result.Accuracy:P2} ({result.Correct}/{result.Samples}) on the {scope}; {clock.Elapsed.TotalSeconds:F1} s on {result.Provider}");
            if (manifestAccuracy is double recorded && split == DataSplit.Test && !media)
            {
                Console.WriteLine($"manifest test accuracy {recorded:P2} (full t10k, PyTorch); difference {(result.Accuracy - recorded) * 100:+0.00;-0.00} points");
            }

            if (json)
            {
                Console.WriteLine(ToJson(modelName, result, media ? dataArgument : split == DataSplit.Test ? "test" : "calib", media ? null : manifestAccuracy));
            }

            return 0;
        }
        catch (Exception e) when (e is ModelDataMismatchException or FileNotFoundException or DirectoryNotFoundException
                                      or KeyNotFoundException or IOException or InvalidDataException or OrtException or FormatException)
        {
            Console.Error.WriteLine($"coach eval: {e.Message}");
            return 1;
        }
    }

    private static (string Name, string Path, double? ManifestAccuracy) ResolveModel(string argument)
    {
        if (argument.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) || File.Exists(argument))
        {
            string full = Path.GetFullPath(argument);
            if (!File.Exists(full))
            {
                throw new FileNotFoundException($"{full}: model file not found", full);
            }

            return (Path.GetFileNameWithoutExtension(full), full, null);
        }

        var entry = ModelCatalog.Get(argument);
        return (entry.Name, entry.Path, entry.TestAccuracy);
    }

    private static void DrawProgress(int done, int total, TimeSpan elapsed)
    {
        const int width = 30;
        int filled = total == 0 ? width : (int)((long)done * width / total);
        double rate = done / Math.Max(elapsed.TotalSeconds, 1e-3);
        Console.Error.Write($"\r[{new string('#', filled)}{new string('.', width - filled)}] {done}/{total} {100.0 * done / Math.Max(total, 1):F0}% {rate:F0} frames/s ");
    }

    /// <summary>Decodes images, video or tensors for the model's input contract (its card, docs/data.md); class names from
    /// --labels, else the card, else the bundled Fashion-MNIST classes.</summary>
    private static ILabelledFrames DecodeMedia(string modelPath, string spec, string? labelsPath)
    {
        var contract = InputContract.ForModel(modelPath);
        var classNames = labelsPath is not null ? MediaSource.ReadClassNames(labelsPath) : contract.ClassNames ?? FrameSet.FashionMnistClasses;
        Console.Error.WriteLine($"coach eval: {contract.Describe()}");
        var frames = MediaSource.Load(spec, contract, classNames, out var notes);
        foreach (var note in notes)
        {
            Console.Error.WriteLine($"coach eval: {note}");
        }
        return frames;
    }

    private static string ToJson(string model, EvaluationResult result, string data, double? manifestAccuracy)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("model", model);
            writer.WriteString("data", data);
            writer.WriteNumber("accuracy", Math.Round(result.Accuracy, 6));
            writer.WriteNumber("correct", result.Correct);
            writer.WriteNumber("samples", result.Samples);
            writer.WriteString("source", result.Source);
            writer.WriteBoolean("full_test_set", result.IsFullTestSet);
            if (manifestAccuracy is double recorded)
            {
                writer.WriteNumber("manifest_accuracy", recorded);
            }

            writer.WriteString("provider", result.Provider.ToString());
            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}
