using System.Buffers;
using Coach.Transport.Faults;

namespace Coach.Transport.Tests;

/// <summary>A ReadOnlySequence made of many segments, to exercise frames split anywhere.</summary>
internal sealed class ChunkSegment : ReadOnlySequenceSegment<byte>
{
    public ChunkSegment(ReadOnlyMemory<byte> memory) => Memory = memory;

    public ChunkSegment Append(ReadOnlyMemory<byte> memory)
    {
        var next = new ChunkSegment(memory) { RunningIndex = RunningIndex + Memory.Length };
        Next = next;
        return next;
    }

    /// <summary>Splits <paramref name="bytes"/> into chunks of 1 … <paramref name="maxChunk"/> bytes (seeded).</summary>
    public static ReadOnlySequence<byte> Split(byte[] bytes, int maxChunk, int seed)
    {
        var random = new Random(seed);
        int first = Math.Min(bytes.Length, random.Next(1, maxChunk + 1));
        var head = new ChunkSegment(bytes.AsMemory(0, first));
        ChunkSegment tail = head;
        int offset = first;
        while (offset < bytes.Length)
        {
            int size = Math.Min(bytes.Length - offset, random.Next(1, maxChunk + 1));
            tail = tail.Append(bytes.AsMemory(offset, size));
            offset += size;
        }

        return new ReadOnlySequence<byte>(head, 0, tail, tail.Memory.Length);
    }
}

/// <summary>
/// The tiny models of <see cref="ChaosPlan"/>, whose answers are known: the "tail" flattens a
/// [N,4,2,2] cut tensor and multiplies by a 16×10 matrix whose column c sums the elements j with
/// j mod 10 = c, so a tensor that is 1 at those elements and 0 elsewhere has label c.
/// </summary>
internal static class TinyModels
{
    public const int CutChannels = 4;
    public const int CutElements = 16;
    public const int Classes = 10;

    /// <summary>A cut tensor (one frame) whose tail label is <paramref name="label"/>.</summary>
    public static float[] CutTensorFor(int label, float scale = 1f)
    {
        float[] values = new float[CutElements];
        for (int j = 0; j < CutElements; j++)
        {
            values[j] = j % Classes == label ? scale : 0.05f * (j % 3);
        }

        return values;
    }

    public static byte[] Tail(string inputName = "cut") => ChaosPlan.TailModel(inputName);

    /// <summary>Head: frame [N,4,2,2] → Relu → cut tensor "cut" (so head(frame) = frame for frame ≥ 0).</summary>
    public static byte[] Head() => ChaosPlan.HeadModel();

    /// <summary>Full model (edge-only): Relu → Reshape → MatMul.</summary>
    public static byte[] Full() => ChaosPlan.FullModel();

    /// <summary>Writes a plan directory: plan.json (+ head.onnx / tail.onnx as given).</summary>
    public static string WritePlan(string root, string id, byte[]? head, byte[]? tail, int bits, string cutName = "cut")
    {
        string dir = Path.Combine(root, id);
        Directory.CreateDirectory(dir);
        if (head is not null)
        {
            File.WriteAllBytes(Path.Combine(dir, "head.onnx"), head);
        }

        if (tail is not null)
        {
            File.WriteAllBytes(Path.Combine(dir, "tail.onnx"), tail);
        }

        string cuts = tail is null ? "[]" : $"[{{\"name\":\"{cutName}\",\"shape\":[1,4,2,2],\"bits\":{bits}}}]";
        File.WriteAllText(Path.Combine(dir, "plan.json"), $"{{\"id\":\"{id}\",\"method\":\"test\",\"cut_tensors\":{cuts}}}");
        return dir;
    }
}
