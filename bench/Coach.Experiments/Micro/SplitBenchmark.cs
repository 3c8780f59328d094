using System.Globalization;
using Coach.Engine.Data;
using Coach.Engine.Graph;
using Coach.Engine.Splitting;
using Coach.Native.OnnxRuntime;

namespace Coach.Experiments;

/// <summary>
/// <c>coach bench split</c>: sampled cuts of a (paper-scale) model reproduce it — tail(head(x)) against the full model within
/// 1e-5 — for ResNet-101 and VGG-16 from <c>./coach models paper</c>, where checking every cut would be slow.
/// </summary>
public static class SplitBenchmark
{
    /// <summary>Largest relative difference between tail(head(x)) and the full model's output that counts as the same function.</summary>
    public const double Tolerance = 1e-5;

    /// <summary>Where <c>./coach models paper</c> exports the paper's models.</summary>
    public static string PaperDirectory => Path.Combine(ModelCatalog.RepositoryRoot, ".cache", "models", "paper");

    /// <summary>The ONNX files of <see cref="PaperDirectory"/>, in name order (none when it is missing).</summary>
    public static string[] PaperModels() => Directory.Exists(PaperDirectory) ? Directory.GetFiles(PaperDirectory, "*.onnx").Order().ToArray() : [];

    /// <summary>Checks <paramref name="samples"/> evenly spaced cuts of the model at <paramref name="path"/>; one line per cut to
    /// <paramref name="output"/>. True when every cut is within <see cref="Tolerance"/>.</summary>
    public static bool CheckModel(string path, int samples, TextWriter output, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(log);
        // Graph optimizations off on all three sessions: fusions chosen differently on either side of a cut reorder float
        // arithmetic, which is not what this check is about (whether the split computes the same function).
        var settings = new SessionSettings { Providers = [ExecutionProvider.Cpu], Optimization = GraphOptimization.Disabled };
        var checks = SplitVerifier.CheckSampledPrefixCuts(LayerGraph.Load(path), samples, settings,
            (done, total) => log.Write($"\r{Path.GetFileName(path)}: cut {done}/{total}   "));
        log.WriteLine();
        bool allClose = true;
        foreach (var c in checks)
        {
            bool ok = c.MaxRelativeDifference <= Tolerance;
            allClose &= ok;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{Path.GetFileName(path)}: {c.EdgeLayers} edge layers, cut [{string.Join(", ", c.CutTensors)}]: max relative difference {c.MaxRelativeDifference:G3} {(ok ? "ok" : "TOO LARGE")}"));
        }

        return allClose;
    }

    /// <summary>Checks a plan directory's <c>head.onnx</c>/<c>tail.onnx</c> against the full model plan.json names; one line to
    /// <paramref name="output"/>. True when within <see cref="Tolerance"/>.</summary>
    public static bool CheckPlan(Coach.Transport.PlanDirectory plan, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(output);
        var model = plan.ModelPath ?? throw new InvalidDataException(
            $"{plan.DirectoryPath}: plan.json names no full model that exists here (model.path '{plan.Document.Model?.Path}'); run from where the plan was made");
        var settings = new SessionSettings { Providers = [ExecutionProvider.Cpu], Optimization = GraphOptimization.Disabled };
        double worst = SplitVerifier.CheckPlannedSplit(model, plan.HeadPath, plan.TailPath, settings);
        bool ok = worst <= Tolerance;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{plan.DirectoryPath}: {(plan.HeadPath is null ? "" : "head.onnx")}{(plan.HeadPath is not null && plan.TailPath is not null ? " + " : "")}{(plan.TailPath is null ? "" : "tail.onnx")} against {Path.GetFileName(model)}, cut [{string.Join(", ", plan.CutTensors.Select(c => $"{c.Name}:{c.Bits}"))}]: max relative difference {worst:G3} {(ok ? "ok" : "TOO LARGE")}"));
        return ok;
    }
}
