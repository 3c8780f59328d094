using Coach.Engine.DataPlane;

namespace Coach.Engine.Planning;

/// <summary>Which of the three pipeline stages is the longest.</summary>
public enum PipelineStage { Edge, Transmission, Cloud }

/// <summary>Predicted times of one partition (seconds), per the paper's eqs. 2–5 (docs/planner.md §3).</summary>
public sealed record PartitionCost(
    double EdgeSeconds,
    double TransmissionSeconds,
    double CloudSeconds,
    double LatencySeconds,
    double TransmissionParallelSeconds,
    double CloudParallelSeconds)
{
    /// <summary>max(T_e, T_t, T_c): throughput is its inverse.</summary>
    public double BottleneckSeconds => Math.Max(EdgeSeconds, Math.Max(TransmissionSeconds, CloudSeconds));
    public double ThroughputPerSecond => BottleneckSeconds > 0 ? 1.0 / BottleneckSeconds : double.PositiveInfinity;
    /// <summary>B_c = |T_e − T_c| (eq. 5).</summary>
    public double ComputeBubbleSeconds => Math.Abs(EdgeSeconds - CloudSeconds);
    /// <summary>B_t = |T_t − max{T_e, T_t − T_t^p, T_c − T_c^p}| (eq. 5).</summary>
    public double TransmissionBubbleSeconds => Math.Abs(TransmissionSeconds - Math.Max(EdgeSeconds,
        Math.Max(TransmissionSeconds - TransmissionParallelSeconds, CloudSeconds - CloudParallelSeconds)));
    public double BubbleSeconds => ComputeBubbleSeconds + TransmissionBubbleSeconds;
    /// <summary>T_e + T_t + T_c, the latency without layer-parallel overlap (eq. 3's left side).</summary>
    public double SerialLatencySeconds => EdgeSeconds + TransmissionSeconds + CloudSeconds;

    public PipelineStage Bottleneck => EdgeSeconds >= TransmissionSeconds && EdgeSeconds >= CloudSeconds
        ? PipelineStage.Edge
        : TransmissionSeconds >= CloudSeconds ? PipelineStage.Transmission : PipelineStage.Cloud;

    /// <summary>COACH's order: smaller bottleneck first, then fewer bubbles (eq. 5).</summary>
    public static int CompareObjective(PartitionCost a, PartitionCost b)
    {
        int c = a.BottleneckSeconds.CompareTo(b.BottleneckSeconds);
        return c != 0 ? c : a.BubbleSeconds.CompareTo(b.BubbleSeconds);
    }
}

/// <summary>
/// The cost model every planner shares. A partition is a downward-closed set of layers on the edge (V_e);
/// the cut tensors (V_p) are the values produced on the edge (or fed as model inputs) that a cloud layer reads.
/// </summary>
public static class PipelineCostModel
{
    /// <summary>The cut tensors of a partition, in tensor order.</summary>
    public static int[] CutTensors(PlanningProblem problem, ReadOnlySpan<bool> onEdge)
    {
        var cut = new List<int>();
        int count = problem.TensorProducers.Length;
        for (int k = 0; k < count; k++)
        {
            if (IsCut(problem, k, onEdge))
            {
                cut.Add(k);
            }
        }
        return [.. cut];
    }

    public static bool IsCut(PlanningProblem problem, int tensor, ReadOnlySpan<bool> onEdge)
    {
        ArgumentNullException.ThrowIfNull(problem);
        int producer = problem.TensorProducers[tensor];
        if (producer >= 0 && !onEdge[producer])
        {
            return false;
        }
        foreach (var c in problem.TensorConsumers[tensor])
        {
            if (!onEdge[c])
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Bytes of one cut tensor at <paramref name="bits"/> as the Request carries it (<see cref="FrameBytes"/>): its
    /// descriptor and its values (32 = unquantized; non-float values always raw).
    /// </summary>
    public static double TensorBytes(PlanningProblem problem, int tensor, int bits)
    {
        ArgumentNullException.ThrowIfNull(problem);
        if (problem.Tensors[tensor].Producer < 0)
        {
            // A model input is the camera's 8-bit frame: it crosses exactly as uint8, never wider (see PartitionPlan).
            bits = Math.Min(bits, 8);
        }

        // The wire carries the batch dimension even where the graph leaves the shape unknown (rank 1 at least).
        int rank = Math.Max(1, problem.Tensors[tensor].Shape.Length);
        if (problem.Tensors[tensor].Producer < 0 && problem.Settings.InputCodec is { } codec)
        {
            // The frame as one JPEG (compression 3): its descriptor and the codec's measured mean bytes, whatever the bits.
            return FrameBytes.TensorHeaderBytes(rank) + codec.BytesPerFrame;
        }
        if (!problem.TensorIsFloat[tensor])
        {
            return FrameBytes.TensorHeaderBytes(rank) + problem.TensorRawBytes[tensor];
        }
        if (problem.TensorCodingRatios is { } ratios && bits is >= 2 and <= 8)
        {
            // zstd-coded codes (docs/entropy.md): the descriptor as is, the packed bytes at their measured coded share.
            return FrameBytes.TensorHeaderBytes(rank) + (FrameBytes.PayloadBytes(problem.TensorElements[tensor], bits) * ratios[tensor][bits - 2]);
        }
        return FrameBytes.TensorBytes(rank, problem.TensorElements[tensor], bits >= 32 ? FrameBytes.RawFloatBits : bits);
    }

    /// <summary>
    /// Seconds the edge's send stage spends on one tensor: its bytes on the link, and, when the cut tensors go coded, the
    /// edge's coding of its packed bytes (the stage codes, then sends).
    /// </summary>
    public static double TensorSeconds(PlanningProblem problem, int tensor, int bits)
    {
        double seconds = TensorBytes(problem, tensor, bits) * 8.0 / problem.Settings.BandwidthBitsPerSecond;
        if (problem.Tensors[tensor].Producer < 0 && problem.Settings.InputCodec is { } codec)
        {
            // The edge's send stage encodes the frame, then sends it.
            return seconds + codec.EdgeEncodeSeconds;
        }
        if (problem.TensorCodingRatios is not null && problem.Settings.Coding is { } coding && bits is >= 2 and <= 8 && problem.TensorIsFloat[tensor])
        {
            seconds += FrameBytes.PayloadBytes(problem.TensorElements[tensor], bits) * coding.EdgeEncodeSecondsPerPackedByte;
        }
        return seconds;
    }

    /// <summary>
    /// What a frame costs on the link besides its tensors: the per-frame overhead and the frame and Request headers
    /// (<see cref="FrameBytes.RequestFixedBytes"/>).
    /// </summary>
    public static double FrameSeconds(PlanningProblem problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        return problem.Settings.FrameOverheadSeconds + (FrameBytes.RequestFixedBytes * 8.0 / problem.Settings.BandwidthBitsPerSecond);
    }

    /// <summary>T_t = (frame + Σ bytes(k, b_k))/B + per-frame overhead (eq. 2); 0 when nothing crosses.</summary>
    public static double TransmissionSeconds(PlanningProblem problem, ReadOnlySpan<int> cut, ReadOnlySpan<int> bits)
    {
        if (cut.Length == 0)
        {
            return 0;
        }
        double s = FrameSeconds(problem);
        for (int i = 0; i < cut.Length; i++)
        {
            s += TensorSeconds(problem, cut[i], bits[i]);
        }
        return s;
    }

    /// <summary>T_e: the edge's layers plus its per-frame overhead (<see cref="CostSettings.EdgeFrameOverheadSeconds"/>).</summary>
    public static double EdgeSeconds(PlanningProblem problem, ReadOnlySpan<bool> onEdge)
    {
        double s = problem.Settings.EdgeFrameOverheadSeconds;
        for (int i = 0; i < problem.NodeCount; i++)
        {
            if (onEdge[i])
            {
                s += problem.EdgeSeconds[i];
            }
        }
        return s;
    }

    public static double CloudSeconds(PlanningProblem problem, ReadOnlySpan<bool> onEdge)
    {
        double s = 0;
        for (int i = 0; i < problem.NodeCount; i++)
        {
            if (!onEdge[i])
            {
                s += problem.CloudSeconds[i];
            }
        }
        return s;
    }

    /// <summary>
    /// Full evaluation of a partition with per-cut-tensor bits, including the single-task latency under
    /// layer-parallel execution (eq. 4): the edge runs its layers back to back in topological order; each cut tensor
    /// goes on the link (FIFO, in the order it becomes ready; the frame overhead before the first one) as soon as
    /// its producer finishes, while the edge goes on with other layers; a cloud layer starts once the cloud is free
    /// and all its inputs have arrived. T_t^p is the link time overlapped with edge compute, T_c^p the cloud time
    /// overlapped with the link.
    /// </summary>
    public static PartitionCost Evaluate(PlanningProblem problem, ReadOnlySpan<bool> onEdge, ReadOnlySpan<int> cut, ReadOnlySpan<int> bits) =>
        Schedule(problem, onEdge, cut, bits).Cost;

    /// <summary>
    /// The schedule behind <see cref="Evaluate(PlanningProblem, ReadOnlySpan{bool}, ReadOnlySpan{int}, ReadOnlySpan{int})"/>:
    /// each layer's start and finish, each cut tensor's arrival at the cloud, and the costs. <see cref="PartitionSchedule.Verify"/>
    /// checks it against eq. 4.
    /// </summary>
    public static PartitionSchedule Schedule(PlanningProblem problem, ReadOnlySpan<bool> onEdge, ReadOnlySpan<int> cut, ReadOnlySpan<int> bits)
    {
        int n = problem.NodeCount;
        var begin = new double[n];
        var finish = new double[n];
        var arrival = new double[problem.Tensors.Count];
        Array.Fill(arrival, double.NaN);
        double edgeTime = problem.Settings.EdgeFrameOverheadSeconds; // the frame is taken before the first layer runs
        for (int i = 0; i < n; i++)
        {
            if (onEdge[i])
            {
                begin[i] = edgeTime;
                edgeTime += problem.EdgeSeconds[i];
                finish[i] = edgeTime;
            }
        }
        double te = EdgeSeconds(problem, onEdge);
        double tc = CloudSeconds(problem, onEdge);
        double tt = TransmissionSeconds(problem, cut, bits);
        if (cut.Length == 0)
        {
            // Edge-only: nothing crosses, the whole task is edge compute (cloud layers cannot exist without inputs).
            return new PartitionSchedule(begin, finish, arrival, new PartitionCost(te, 0, tc, te + tc, 0, 0));
        }

        // Link schedule.
        var order = new int[cut.Length];
        var ready = new double[cut.Length];
        for (int i = 0; i < cut.Length; i++)
        {
            order[i] = i;
            var p = problem.Tensors[cut[i]].Producer;
            ready[i] = p < 0 ? 0 : finish[p];
        }
        Array.Sort(ready, order);
        var linkStart = new double[cut.Length];
        var linkEnd = new double[cut.Length];
        double linkFree = 0;
        for (int j = 0; j < cut.Length; j++)
        {
            int i = order[j];
            double start = Math.Max(ready[j], linkFree);
            double duration = TensorSeconds(problem, cut[i], bits[i]) + (j == 0 ? FrameSeconds(problem) : 0);
            linkStart[j] = start;
            linkEnd[j] = start + duration;
            linkFree = linkEnd[j];
            arrival[cut[i]] = linkEnd[j];
        }

        // Cloud schedule (eq. 4): a cloud layer starts once the cloud is free and all its inputs have arrived.
        var cloudStart = new List<double>();
        var cloudEnd = new List<double>();
        double cloudFree = 0;
        double last = edgeTime;
        for (int v = 0; v < n; v++)
        {
            if (onEdge[v])
            {
                continue;
            }
            double start = cloudFree;
            foreach (var k in problem.NodeInputs[v])
            {
                var p = problem.Tensors[k].Producer;
                double available = p >= 0 && !onEdge[p] ? finish[p] : arrival[k];
                start = Math.Max(start, available);
            }
            begin[v] = start;
            finish[v] = start + problem.CloudSeconds[v];
            cloudFree = finish[v];
            cloudStart.Add(start);
            cloudEnd.Add(finish[v]);
            last = Math.Max(last, finish[v]);
        }
        last = Math.Max(last, linkFree);

        double ttp = 0;
        for (int j = 0; j < cut.Length; j++)
        {
            ttp += Overlap(linkStart[j], linkEnd[j], 0, edgeTime);
        }
        double tcp = 0;
        int a = 0;
        int b = 0;
        while (a < cut.Length && b < cloudStart.Count)
        {
            tcp += Overlap(linkStart[a], linkEnd[a], cloudStart[b], cloudEnd[b]);
            if (linkEnd[a] < cloudEnd[b])
            {
                a++;
            }
            else
            {
                b++;
            }
        }
        return new PartitionSchedule(begin, finish, arrival, new PartitionCost(te, tt, tc, last, ttp, tcp));
    }

    private static double Overlap(double s1, double e1, double s2, double e2) => Math.Max(0, Math.Min(e1, e2) - Math.Max(s1, s2));

    /// <summary>Evaluation with one bit width for every float cut tensor (non-float values go raw).</summary>
    public static PartitionCost Evaluate(PlanningProblem problem, ReadOnlySpan<bool> onEdge, ReadOnlySpan<int> cut, int bits)
    {
        var perTensor = UniformBits(cut.Length, bits);
        return Evaluate(problem, onEdge, cut, perTensor);
    }

    public static int[] UniformBits(int count, int bits)
    {
        var perTensor = new int[count];
        Array.Fill(perTensor, bits);
        return perTensor;
    }
}
