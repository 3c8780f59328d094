using System.CommandLine;
using System.Diagnostics;
using Coach.Engine.Data;
using Coach.Native.OnnxRuntime;

namespace Coach.Cli.Commands;

/// <summary><c>coach models list|paper|imagenet|add</c>: the bundled models, and torchvision graphs exported on demand: the
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

        return new Command("models", "bundled models, torchvision model export, and a user's own model's input contract") { list, paper, imagenet, Add() };
    }

    /// <summary><c>coach models add FILE.onnx</c>: checks the model and writes FILE.card.json (docs/data.md, "Input contract").</summary>
    private static Command Add()
    {
        var file = new Argument<string>("FILE.onnx") { Description = "the model: an ONNX file whose first input takes colour frames [N, 3, H, W]" };
        var size = new Option<string?>("--input-size") { Description = "HxW, e.g. 224x224: needed when the model's height and width are dynamic" };
        var mean = new Option<string?>("--mean") { Description = "per-channel mean r,g,b in the scaled units, e.g. 0.485,0.456,0.406 (ImageNet)" };
        var std = new Option<string?>("--std") { Description = "per-channel std r,g,b in the scaled units, e.g. 0.229,0.224,0.225 (ImageNet)" };
        var order = new Option<string?>("--channel-order") { Description = "rgb or bgr (default rgb, or the ONNX image metadata)" };
        var scale = new Option<string?>("--scale") { Description = "255: pixels/255 (inputs 0…1, default); 1: inputs 0…255" };
        var labels = new Option<string?>("--labels") { Description = "class names, one per line in label order; stored in the card and used by eval, plan and the edge" };
        var inGraph = new Option<bool>("--normalization-in-graph") { Description = "the graph normalises its input itself: apply no mean/std outside it" };
        var add = new Command("add", "check a model in ONNX Runtime and write its input contract into FILE.card.json beside it") { file, size, mean, std, order, scale, labels, inGraph };
        add.SetAction(parse =>
        {
            var model = parse.GetValue(file)!;
            try
            {
                var (cardPath, contract) = ModelRegistration.Add(model, new ModelCardRequest(parse.GetValue(size), parse.GetValue(mean), parse.GetValue(std),
                    parse.GetValue(order), parse.GetValue(scale), parse.GetValue(labels), parse.GetValue(inGraph)));
                Console.WriteLine($"{Path.GetFileName(model)}: {contract.Describe()}");
                Console.WriteLine($"wrote {cardPath}");
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or IOException or InvalidDataException or OrtException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"coach models add: {e.Message}");
                return e is ArgumentException ? 2 : 1;
            }
        });
        return add;
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
