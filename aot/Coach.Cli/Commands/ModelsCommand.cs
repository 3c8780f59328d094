using System.CommandLine;
using System.Diagnostics;
using Coach.Engine.Data;
using Coach.Native.OnnxRuntime;

namespace Coach.Cli.Commands;

/// <summary><c>coach models list|paper|imagenet</c>: the bundled models, and torchvision graphs exported on demand: the
/// paper's scale, or ImageNet-style models standing in for a user's own (docs/data.md).</summary>
internal static class ModelsCommand
{
    private const string Python = "/usr/bin/python3";
    private const string PaperScript = "scripts/models/export_paper_models.py";
    private const string InstallHint = "apt-get install python3-torch python3-torchvision python3-onnx";

    public static Command Create()
    {
        var list = new Command("list", "print the bundled models of models/manifest.json");
        list.SetAction(_ => List());

        var output = new Option<string?>("--out") { Description = "folder for the ONNX files (default .cache/models/paper/ under the repository root)" };
        var force = new Option<bool>("--force") { Description = "export again even if the files exist" };
        var paper = new Command("paper", "export ResNet-101 and VGG-16 (torchvision, random weights, 3×224×224) and check that ONNX Runtime runs them") { output, force };
        paper.SetAction(parse => Export("paper", ["resnet101-224", "vgg16-224"], parse.GetValue(output), parse.GetValue(force)));
        var imagenet = new Command("imagenet", "export SqueezeNet 1.1, ShuffleNetV2, EfficientNet-B0 and ResNet-50 (torchvision, random weights, 3×224×224) into .cache/models/imagenet/ and check that ONNX Runtime runs them") { output, force };
        imagenet.SetAction(parse => Export("imagenet", ["squeezenet1_1-224", "shufflenet_v2_x1_0-224", "efficientnet_b0-224", "resnet50-224"],
            parse.GetValue(output), parse.GetValue(force)));

        return new Command("models", "bundled models and torchvision model export") { list, paper, imagenet };
    }

    private static int List()
    {
        try
        {
            Console.WriteLine($"{ModelCatalog.ManifestPath}");
            foreach (var m in ModelCatalog.All)
            {
                string state = !File.Exists(m.Path) ? "MISSING" : m.FileMatchesManifest() ? "sha256 ok" : "SHA256 MISMATCH";
                Console.WriteLine($"{m.Name,-14} test accuracy {m.TestAccuracy:P2}  {m.Parameters,9:N0} parameters  input {m.InputName} [{string.Join(", ", m.InputShape.Select(d => d < 0 ? "N" : d.ToString()))}]  {Path.GetRelativePath(ModelCatalog.RepositoryRoot, m.Path)} ({state})");
                Console.WriteLine($"{"",-14} {m.Architecture}");
                Console.WriteLine($"{"",-14} made by: {m.Command}");
            }

            return 0;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"coach models list: {e.Message}");
            return 1;
        }
    }

    private static int Export(string set, string[] names, string? outDir, bool force)
    {
        string root;
        try
        {
            root = ModelCatalog.RepositoryRoot;
        }
        catch (DirectoryNotFoundException e)
        {
            Console.Error.WriteLine($"coach models {set}: {e.Message}");
            return 1;
        }

        string folder = Path.GetFullPath(outDir ?? Path.Combine(root, ".cache", "models", set));
        if (!File.Exists(Python))
        {
            Console.Error.WriteLine($"coach models {set}: {Python} not found; install Debian's Python with PyTorch: {InstallHint}");
            return 3;
        }

        var start = new ProcessStartInfo(Python) { WorkingDirectory = root, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(root, PaperScript));
        start.ArgumentList.Add("--set");
        start.ArgumentList.Add(set);
        start.ArgumentList.Add("--out");
        start.ArgumentList.Add(folder);
        if (force)
        {
            start.ArgumentList.Add("--force");
        }

        Console.Error.WriteLine($"coach models {set}: exporting {string.Join(", ", names)} into {folder} (a minute or two on the first run)");
        using (var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {Python}"))
        {
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                Console.Error.WriteLine(process.ExitCode == 3
                    ? $"coach models {set}: PyTorch, torchvision or onnx is missing for {Python}; install them with: {InstallHint}"
                    : $"coach models {set}: {PaperScript} failed with exit code {process.ExitCode}");
                return process.ExitCode == 3 ? 3 : 1;
            }
        }

        try
        {
            foreach (string name in names)
            {
                string path = Path.Combine(folder, name + ".onnx");
                var clock = Stopwatch.StartNew();
                using var session = InferenceSession.Open(path, new SessionSettings { Providers = [ExecutionProvider.Cpu] });
                var input = session.Inputs[0];
                var frame = DenseTensor.Create(TensorElementType.Float, [1, 3, 224, 224]);
                var values = frame.AsSpan<float>();
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = (i % 251) / 250f;
                }

                var loaded = clock.Elapsed;
                var outputs = session.Run([new NamedTensor(input.Name, frame)]);
                var logits = outputs[0].AsSpan<float>();
                Console.WriteLine($"{name}: {new FileInfo(path).Length / 1e6:F0} MB, loaded in {loaded.TotalSeconds:F1} s, one inference {(clock.Elapsed - loaded).TotalMilliseconds:F0} ms on {session.Provider}: " +
                                  $"{session.Outputs[0].Name} [{string.Join(", ", outputs[0].Shape)}], top class {ModelEvaluator.ArgMax(logits)}  ({path})");
            }

            return 0;
        }
        catch (Exception e) when (e is OrtException or IOException)
        {
            Console.Error.WriteLine($"coach models {set}: ONNX Runtime could not run an exported model: {e.Message}");
            return 1;
        }
    }
}
