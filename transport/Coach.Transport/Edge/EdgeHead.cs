using Coach.Native.OnnxRuntime;

namespace Coach.Transport.Edge;

/// <summary>
/// One pipeline slot: the frame's pinned input, the head's pinned outputs (cut tensors, or logits
/// for an edge-only plan) and the binding that runs the head between them without allocating.
/// For a cloud-only plan there is no head and the input itself is the one cut tensor.
/// </summary>
public sealed class HeadSlot : IDisposable
{
    internal HeadSlot(int index, PinnedTensor input, PinnedTensor[] outputs, SessionBinding? binding)
    {
        Index = index;
        Input = input;
        Outputs = outputs;
        Binding = binding;
    }

    public int Index { get; }

    public PinnedTensor Input { get; }

    /// <summary>Cut tensors in plan order (or the logits when edge-only).</summary>
    public IReadOnlyList<PinnedTensor> Outputs { get; }

    public SessionBinding? Binding { get; }

    /// <summary>The frame this slot holds now.</summary>
    public int FrameId { get; internal set; } = -1;

    /// <summary>Whether this slot's frame queued for the head (or frames are offered as fast as they are taken).</summary>
    public bool Saturated { get; internal set; } = true;

    public void Run() => Binding?.Run();

    public void Dispose()
    {
        Binding?.Dispose();
        foreach (PinnedTensor output in Outputs)
        {
            if (!ReferenceEquals(output, Input))
            {
                output.Dispose();
            }
        }

        Input.Dispose();
    }
}

/// <summary>The edge's part of a plan on ONNX Runtime, with a fixed set of slots so stages can overlap across frames.</summary>
public sealed class EdgeHead : IDisposable
{
    private readonly HeadSlot[] _slots;

    private EdgeHead(InferenceSession? session, HeadSlot[] slots, CutTensorSpec[] outputs, long[] frameShape)
    {
        Session = session;
        _slots = slots;
        OutputSpecs = outputs;
        FrameShape = frameShape;
    }

    /// <summary>The head session (null for a cloud-only plan).</summary>
    public InferenceSession? Session { get; }

    public IReadOnlyList<HeadSlot> Slots => _slots;

    /// <summary>What the slots' outputs are: the cut tensors with concrete batch-1 shapes, or the logits.</summary>
    public IReadOnlyList<CutTensorSpec> OutputSpecs { get; }

    /// <summary>Shape of one input frame, batch 1 (e.g. [1,3,112,112]).</summary>
    public long[] FrameShape { get; }

    /// <summary>
    /// Opens the head of <paramref name="plan"/>: head.onnx (for an edge-only plan, the full model:
    /// head.onnx or <paramref name="fullModelPath"/>), or nothing for a cloud-only plan.
    /// </summary>
    public static EdgeHead Open(PlanDirectory plan, int slotCount, SessionSettings? settings = null, string? fullModelPath = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentOutOfRangeException.ThrowIfLessThan(slotCount, 1);
        string? headPath = plan.HeadPath ?? (plan.IsEdgeOnly ? fullModelPath : null);
        if (headPath is null)
        {
            if (plan.IsEdgeOnly)
            {
                throw new InvalidDataException($"{plan} runs everything on the edge but has no {PlanDirectory.HeadFileName} and no full model was given");
            }

            return OpenCloudOnly(plan, slotCount);
        }

        var session = InferenceSession.Open(headPath, settings);
        var slots = new List<HeadSlot>();
        try
        {
            TensorMetadata input = session.Inputs[0];
            long[] frameShape = input.ConcreteShape(1);
            IReadOnlyList<CutTensorSpec> wanted = plan.IsEdgeOnly ? [] : plan.CutTensors;
            var specs = new List<CutTensorSpec>();
            if (wanted.Count == 0)
            {
                TensorMetadata logits = session.Outputs[0];
                specs.Add(new CutTensorSpec(logits.Name, Concrete(logits.Shape, null, plan), 32));
            }
            else
            {
                foreach (CutTensorSpec cut in wanted)
                {
                    TensorMetadata meta = session.OutputMetadata(cut.Name);
                    if (meta.ElementType != TensorElementType.Float)
                    {
                        throw new InvalidDataException($"cut tensor {cut.Name} of {plan} is {meta.ElementType}; only float32 cut tensors are sent");
                    }

                    specs.Add(cut with { Shape = Concrete(meta.Shape, cut.Shape, plan) });
                }
            }

            for (int i = 0; i < slotCount; i++)
            {
                var inputTensor = PinnedTensor.Create(TensorElementType.Float, frameShape);
                var outputs = specs.Select(s => PinnedTensor.Create(TensorElementType.Float, s.Shape)).ToArray();
                var binding = session.Bind([(input.Name, inputTensor)], specs.Select((s, k) => (s.Name, outputs[k])).ToArray());
                slots.Add(new HeadSlot(i, inputTensor, outputs, binding));
            }

            return new EdgeHead(session, [.. slots], [.. specs], frameShape);
        }
        catch
        {
            foreach (HeadSlot slot in slots)
            {
                slot.Dispose();
            }

            session.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (HeadSlot slot in _slots)
        {
            slot.Dispose();
        }

        Session?.Dispose();
    }

    private static EdgeHead OpenCloudOnly(PlanDirectory plan, int slotCount)
    {
        if (plan.CutTensors.Count != 1)
        {
            throw new InvalidDataException($"{plan} has no head but {plan.CutTensors.Count} cut tensors; a cloud-only plan sends exactly the model input");
        }

        CutTensorSpec cut = plan.CutTensors[0];
        long[] shape = cut.Shape.Length == 4 ? Concrete(cut.Shape, null, plan) : [1, 3, 112, 112];
        var slots = new HeadSlot[slotCount];
        for (int i = 0; i < slotCount; i++)
        {
            var input = PinnedTensor.Create(TensorElementType.Float, shape);
            slots[i] = new HeadSlot(i, input, [input], null);
        }

        return new EdgeHead(null, slots, [cut with { Shape = shape }], shape);
    }

    private static long[] Concrete(long[] modelShape, long[]? planShape, PlanDirectory plan)
    {
        long[] shape = (long[])modelShape.Clone();
        for (int d = 0; d < shape.Length; d++)
        {
            if (d == 0)
            {
                shape[d] = 1;
            }
            else if (shape[d] < 0)
            {
                shape[d] = planShape is not null && planShape.Length == shape.Length && planShape[d] > 0
                    ? planShape[d]
                    : throw new InvalidDataException($"dimension {d} of a head output of {plan} is dynamic and plan.json gives no shape");
            }
        }

        return shape;
    }
}
