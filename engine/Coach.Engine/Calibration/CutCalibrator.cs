using System.Text.Json;
using System.Text.Json.Serialization;
using Coach.Engine.Data;
using Coach.Engine.DataPlane;
using Coach.Engine.Graph;
using Coach.Engine.Planning;
using Coach.Engine.Splitting;
using Coach.Native.OnnxRuntime;
using Google.Protobuf;

namespace Coach.Engine.Calibration;

/// <summary>
/// Minimum bit width of a cut under the accuracy constraint of eq. 1, Acc − Acc(Q) ≤ ε with a margin of z standard errors
/// for the calibration set's size (<see cref="Accepts"/>), measured on the calibration
/// set by running head → UAQ round trip (per tensor, per frame, as the data plane sends it) → tail through ONNX
/// Runtime. Dichotomous search: 8 bits first (if even 8 loses more than ε the cut goes unquantized, 32), then
/// binary search over 2…8. This assumes accuracy does not fall when bits rise (monotone in the bit width), which
/// holds for uniform affine quantization in practice (a coarser grid nests in no finer one, but its error is larger);
/// a non-monotone case can at worst make the search return more bits than needed, never fewer than a tried width
/// that failed. Results are cached per (model sha256, ε, frames, cut) in a JSON file.
/// </summary>
public sealed partial class CutCalibrator : ICutBitsProvider
{
    private readonly LayerGraph _graph;
    private readonly ILabelledFrames _frames;
    private readonly int _frameCount;
    private readonly string _cachePath;
    private readonly CalibrationResults _results;
    private readonly SessionSettings _settings = new() { Providers = [ExecutionProvider.Cpu], Optimization = GraphOptimization.All };
    private readonly string _inputName;
    private readonly int _batchSize;

    /// <summary>
    /// The default z of the acceptance test: two standard errors of margin (<see cref="Accepts"/>). With one, a 2-bit cut of
    /// resnet-fm112 whose loss on the 1,000 calibration frames was 0.0 % (se 0.45 %) was accepted and lost 1.1 % on a
    /// medium-correlation stream; with two that cut needs 3 bits, and the 8x-edge 20 Mbit/s plan moves from the stem at 5
    /// bits to the first block's output, whose 3-bit floor leaves the online component room when the link slows.
    /// </summary>
    public const double DefaultStandardErrors = 2.0;

    public CutCalibrator(LayerGraph graph, ILabelledFrames frames, double epsilon = 0.005, string? cachePath = null, int? maxFrames = null, int batchSize = 50,
        double standardErrors = DefaultStandardErrors)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(frames);
        if (epsilon is < 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "ε is an accuracy loss in [0, 1), e.g. 0.005 for 0.5 %");
        }
        _graph = graph;
        _frames = frames;
        _frameCount = Math.Min(frames.Count, maxFrames ?? frames.Count);
        _batchSize = batchSize;
        if (graph.InputTensors.Count != 1)
        {
            throw new ModelGraphException($"calibration feeds one frame input; the model has {graph.InputTensors.Count} inputs");
        }
        var input = graph.Tensors[graph.InputTensors[0]];
        var (channels, height, width) = frames.FrameShape;
        if (input.Shape is not { Length: 4 } s || s[1] != channels || s[2] != height || s[3] != width)
        {
            throw new ModelGraphException($"the calibration frames ({frames.Source}) are [N,{channels},{height},{width}]; model input '{input.Name}' is {input}");
        }
        _inputName = input.Name;
        Epsilon = epsilon;
        if (standardErrors is < 0 or > 10)
        {
            throw new ArgumentOutOfRangeException(nameof(standardErrors), standardErrors, "the margin is a number of standard errors in [0, 10], e.g. 1");
        }
        _cachePath = cachePath ?? DefaultCachePath(graph.Sha256, epsilon, _frameCount, standardErrors, frames.Fingerprint);
        var cached = CalibrationResults.TryLoad(_cachePath);
        if (cached is not null && cached.ModelSha256 == graph.Sha256 && cached.Epsilon == epsilon && cached.Frames == _frameCount
            && cached.StandardErrors == standardErrors && cached.BaselineCorrect.Length == _frameCount)
        {
            _results = cached;
        }
        else
        {
            var baseline = MeasureBaseline();
            _results = new CalibrationResults
            {
                ModelSha256 = graph.Sha256,
                Epsilon = epsilon,
                Frames = _frameCount,
                StandardErrors = standardErrors,
                BaselineCorrect = baseline,
                BaselineAccuracy = (double)baseline.Count(c => c == '1') / _frameCount,
            };
            _results.Save(_cachePath);
        }
    }

    public double Epsilon { get; }
    public double BaselineAccuracy => _results.BaselineAccuracy;
    public CalibrationResults Results => _results;
    public string CachePath => _cachePath;
    /// <summary>Cuts measured (not taken from the cache) by this instance.</summary>
    public int CutsMeasured { get; private set; }

    /// <param name="dataFingerprint">The calibration set's <see cref="ILabelledFrames.Fingerprint"/>: results of another set are never reused.</param>
    public static string DefaultCachePath(string modelSha256, double epsilon, int frames, double standardErrors = DefaultStandardErrors, string? dataFingerprint = null) =>
        Path.Combine(ModelCatalog.RepositoryRoot, ".cache", "calibration", string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{modelSha256[..16]}{(dataFingerprint is null ? "" : "-d" + dataFingerprint[..8])}-eps{epsilon:0.####}-n{frames}-z{standardErrors:0.##}.json"));

    public int MinimumBits(PlanningProblem problem, IReadOnlyList<int> cutTensors)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(cutTensors);
        return MinimumBits([.. cutTensors.Select(k => problem.Tensors[k].Name)]);
    }

    public int MinimumBits(IReadOnlyList<string> cutTensors)
    {
        var key = CalibrationResults.Key(cutTensors);
        if (_results.Cuts.TryGetValue(key, out var known))
        {
            return known.Bits;
        }
        var accuracy = new Dictionary<string, double>(StringComparer.Ordinal);
        using var evaluation = new CutEvaluation(this, cutTensors);
        bool Safe(int bits)
        {
            var correct = evaluation.Correct(bits);
            double acc = (double)correct.Count(c => c) / _frameCount;
            accuracy[bits.ToString(System.Globalization.CultureInfo.InvariantCulture)] = acc;
            return Accepts(_results.BaselineCorrect, correct, Epsilon, StandardErrors);
        }
        int result = SearchMinimumBits(Safe);
        _results.Cuts[key] = new CutCalibration([.. cutTensors], result, accuracy, cutTensors.Count == 1 ? [result] : null);
        _results.Save(_cachePath);
        CutsMeasured++;
        return result;
    }

    public int[] MinimumBitsPerTensor(PlanningProblem problem, IReadOnlyList<int> cutTensors)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(cutTensors);
        return MinimumBitsPerTensor([.. cutTensors.Select(k => problem.Tensors[k].Name)]);
    }

    /// <summary>
    /// Each cut tensor's own minimum width (in <paramref name="cutTensors"/>' order) under one joint eq. 1 test
    /// (<see cref="SearchPerTensorBits"/>, starting from the shared minimum); cached beside it.
    /// </summary>
    public int[] MinimumBitsPerTensor(IReadOnlyList<string> cutTensors)
    {
        ArgumentNullException.ThrowIfNull(cutTensors);
        int shared = MinimumBits(cutTensors);
        var key = CalibrationResults.Key(cutTensors);
        var entry = _results.Cuts[key];
        if (entry.TensorBits is { } known && known.Length == entry.CutTensors.Length)
        {
            return InOrder(entry, cutTensors);
        }
        int[] bits;
        if (cutTensors.Count == 1)
        {
            bits = [shared];
        }
        else
        {
            using var evaluation = new CutEvaluation(this, cutTensors);
            bits = SearchPerTensorBits(shared, [.. cutTensors.Select(name => (double)_graph.Tensor(name).ByteCount)], vector =>
            {
                var correct = evaluation.Correct(vector);
                entry.AccuracyByBits[string.Join(',', vector)] = (double)correct.Count(c => c) / _frameCount;
                return Accepts(_results.BaselineCorrect, correct, Epsilon, StandardErrors);
            });
            CutsMeasured++;
        }
        entry = entry with { CutTensors = [.. cutTensors], TensorBits = bits };
        _results.Cuts[key] = entry;
        _results.Save(_cachePath);
        return [.. bits];
    }

    /// <summary>
    /// Top-1 accuracy on this calibrator's frames (against their labels) with each cut tensor at its own width: a
    /// held-out check of calibrated bits when the frames are another split than the calibration's.
    /// </summary>
    public double Accuracy(IReadOnlyList<string> cutTensors, int[] bits)
    {
        ArgumentNullException.ThrowIfNull(cutTensors);
        using var evaluation = new CutEvaluation(this, cutTensors);
        return (double)evaluation.Correct(bits).Count(c => c) / _frameCount;
    }

    /// <summary>A cut's per-tensor widths reordered from the entry's tensor order to <paramref name="cutTensors"/>'.</summary>
    internal static int[] InOrder(CutCalibration entry, IReadOnlyList<string> cutTensors) =>
        [.. cutTensors.Select(name => entry.TensorBits![Array.IndexOf(entry.CutTensors, name)])];

    /// <summary>z of the acceptance test (<see cref="Accepts"/>).</summary>
    public double StandardErrors => _results.StandardErrors;

    private string MeasureBaseline()
    {
        using var session = InferenceSession.Open(_graph.Model.ToByteArray(), _settings, "calibration baseline");
        var output = session.Outputs[0].Name;
        var correct = new char[_frameCount];
        foreach (var (start, count, frame) in Batches())
        {
            var logits = session.Run([new NamedTensor(_inputName, frame)], [output])[0];
            MarkCorrect(logits, start, count, correct);
        }
        return new string(correct);
    }

    private IEnumerable<(int Start, int Count, DenseTensor Frame)> Batches()
    {
        var (channels, height, width) = _frames.FrameShape;
        int frameSize = channels * height * width;
        for (int start = 0; start < _frameCount; start += _batchSize)
        {
            int count = Math.Min(_batchSize, _frameCount - start);
            var tensor = DenseTensor.Create(TensorElementType.Float, [count, channels, height, width]);
            var span = tensor.AsSpan<float>();
            for (int i = 0; i < count; i++)
            {
                _frames.RenderFrame(start + i, span.Slice(i * frameSize, frameSize));
            }
            yield return (start, count, tensor);
        }
    }

    private void MarkCorrect(DenseTensor logits, int start, int count, char[] correct)
    {
        var values = logits.AsSpan<float>();
        int classes = values.Length / count;
        for (int i = 0; i < count; i++)
        {
            correct[start + i] = ModelEvaluator.ArgMax(values.Slice(i * classes, classes)) == _frames.Label(start + i) ? '1' : '0';
        }
    }

    /// <summary>Head and tail sessions of one cut; head outputs kept in memory when small enough.</summary>
    private sealed class CutEvaluation : IDisposable
    {
        private const long MaxCachedBytes = 512L << 20;
        private readonly CutCalibrator _owner;
        private readonly InferenceSession? _head;
        private readonly InferenceSession _tail;
        private readonly SplitModels _split;
        private readonly string _output;
        private readonly List<(int Start, int Count, Dictionary<string, DenseTensor> Values)>? _cache;
        private readonly IReadOnlyList<string> _cut;

        public CutEvaluation(CutCalibrator owner, IReadOnlyList<string> cut)
        {
            _owner = owner;
            _cut = cut;
            _split = ModelSplitter.Split(owner._graph, cut);
            _head = _split.Head is null ? null : InferenceSession.Open(_split.Head.ToByteArray(), owner._settings, "calibration head");
            _tail = InferenceSession.Open(_split.Tail!.ToByteArray(), owner._settings, "calibration tail");
            _output = owner._graph.Tensors[owner._graph.OutputTensors[0]].Name;
            long perFrame = cut.Sum(name => owner._graph.Tensor(name).ByteCount);
            if (perFrame * owner._frameCount <= MaxCachedBytes)
            {
                _cache = [.. owner.Batches().Select(b => (b.Start, b.Count, HeadValues(b.Frame)))];
            }
        }

        private Dictionary<string, DenseTensor> HeadValues(DenseTensor frame)
        {
            var values = new Dictionary<string, DenseTensor>(StringComparer.Ordinal) { [_owner._inputName] = frame };
            if (_head is not null)
            {
                var produced = _head.Run([new NamedTensor(_owner._inputName, frame)], _split.HeadOutputs);
                for (int i = 0; i < produced.Length; i++)
                {
                    values[_split.HeadOutputs[i]] = produced[i];
                }
            }
            return values;
        }

        public bool[] Correct(int bits) => Correct(_ => bits);

        /// <summary>Correctness with each cut tensor at its own width (in the cut's order).</summary>
        public bool[] Correct(int[] bits)
        {
            ArgumentNullException.ThrowIfNull(bits);
            if (bits.Length != _cut.Count)
            {
                throw new ArgumentException($"{bits.Length} widths for a cut of {_cut.Count} tensors", nameof(bits));
            }
            return Correct(name => bits[IndexOf(name)]);
        }

        private int IndexOf(string name)
        {
            for (int i = 0; i < _cut.Count; i++)
            {
                if (_cut[i] == name)
                {
                    return i;
                }
            }
            throw new InvalidOperationException($"tail input '{name}' is not one of the cut tensors [{string.Join(", ", _cut)}]");
        }

        private bool[] Correct(Func<string, int> bitsOf)
        {
            var marks = new char[_owner._frameCount];
            var batches = _cache ?? _owner.Batches().Select(b => (b.Start, b.Count, HeadValues(b.Frame)));
            foreach (var (start, count, values) in batches)
            {
                var inputs = new List<NamedTensor>();
                foreach (var name in _split.TailInputs)
                {
                    var original = values[name];
                    if (original.ElementType != TensorElementType.Float)
                    {
                        inputs.Add(new NamedTensor(name, original));
                        continue;
                    }
                    int bits = bitsOf(name);
                    var restored = DenseTensor.Create(TensorElementType.Float, original.Shape);
                    var source = original.AsSpan<float>();
                    var target = restored.AsSpan<float>();
                    int perFrame = source.Length / count;
                    for (int i = 0; i < count; i++)
                    {
                        Uaq.RoundTrip(source.Slice(i * perFrame, perFrame), bits, target.Slice(i * perFrame, perFrame));
                    }
                    inputs.Add(new NamedTensor(name, restored));
                }
                var logits = _tail.Run(inputs, [_output])[0];
                _owner.MarkCorrect(logits, start, count, marks);
            }
            return [.. marks.Select(m => m == '1')];
        }

        public void Dispose()
        {
            _head?.Dispose();
            _tail.Dispose();
        }
    }
}
