using Coach.Engine.Graph;
using Coach.Engine.Onnx.Proto;

namespace Coach.Engine.Splitting;

/// <summary>
/// The bridge between two cuts of one model (fragment re-alignment, docs/fleet.md §4): when plan p cuts at edge set V_p and
/// plan q at V_q ⊃ V_p, the layers V_q \ V_p turn p's cut tensors into q's, after which q's tail finishes the frame, so a
/// request of p can join the batches of q's tail. The bridge is cut out of p's own tail (which holds every layer after p's
/// cut), so a cloud makes it from the tail.onnx files it already serves; p's tail = q's tail ∘ bridge, layer for layer.
/// </summary>
public static class FragmentBridge
{
    /// <summary>
    /// The bridge from the inputs of <paramref name="earlierTail"/> (p's cut tensors) to <paramref name="laterCut"/> (q's cut
    /// tensors), or null with the reason when q's cut does not lie wholly after p's (V_p ⊄ V_q) or separate p's tail.
    /// </summary>
    public static ModelProto? TryBuild(ModelProto earlierTail, IReadOnlyList<string> laterCut, out string reason)
    {
        ArgumentNullException.ThrowIfNull(earlierTail);
        ArgumentNullException.ThrowIfNull(laterCut);
        reason = string.Empty;
        if (laterCut.Count == 0)
        {
            reason = "the later plan has no cut tensors";
            return null;
        }

        LayerGraph graph = LayerGraph.FromModel(earlierTail);
        var inputs = new HashSet<string>(graph.InputTensors.Select(i => graph.Tensors[i].Name), StringComparer.Ordinal);
        foreach (string name in laterCut)
        {
            if (!graph.Tensors.Any(t => t.Name == name))
            {
                reason = $"'{name}' is not computed after the earlier cut (the later plan cuts before it, or elsewhere)";
                return null;
            }

            if (inputs.Contains(name))
            {
                reason = $"'{name}' is one of the earlier plan's own cut tensors: the two cuts overlap and there is nothing to bridge";
                return null;
            }
        }

        if (!graph.HasCompleteShapes)
        {
            ShapeDiscovery.Complete(graph);
        }

        SplitModels split;
        try
        {
            split = ModelSplitter.Split(graph, laterCut);
        }
        catch (InvalidCutException e)
        {
            reason = e.Message;
            return null;
        }

        if (split.Head is null)
        {
            reason = "no layer lies between the two cuts";
            return null;
        }

        split.Head.DocString = "bridge between two cuts of a Coach split (fragment re-alignment)";
        foreach (StringStringEntryProto entry in split.Head.MetadataProps.Where(e => e.Key == "coach.part"))
        {
            entry.Value = "bridge";
        }

        return split.Head;
    }
}
