using System.Globalization;

namespace Coach.Experiments;

/// <summary>
/// A method's accuracy against the full model's on the same frames, from the two runs' per-frame CSVs: <see cref="Lost"/>
/// frames the full model answered right and the method wrong, <see cref="Gained"/> the other way round. The loss is
/// (lost − gained)/n with a paired standard error of √(lost + gained)/n — the same test the planner's calibration uses —
/// so a reader can tell a real loss from the run's own noise.
/// </summary>
internal sealed record PairedAccuracy(int Frames, int Lost, int Gained)
{
    public double Loss => Frames == 0 ? double.NaN : (double)(Lost - Gained) / Frames;

    public double StandardError => Frames == 0 ? double.NaN : Math.Sqrt(Lost + Gained) / Frames;

    /// <summary>Pairs the frames both runs answered (by frame id; frames either run did not answer are left out).</summary>
    public static PairedAccuracy FromCsv(string methodCsv, string fullModelCsv)
    {
        var full = Answers(fullModelCsv);
        int frames = 0, lost = 0, gained = 0;
        foreach (var (frame, (predicted, truth)) in Answers(methodCsv))
        {
            if (!full.TryGetValue(frame, out var reference) || reference.Truth != truth)
            {
                continue;
            }

            frames++;
            bool fullRight = reference.Predicted == truth, methodRight = predicted == truth;
            lost += fullRight && !methodRight ? 1 : 0;
            gained += !fullRight && methodRight ? 1 : 0;
        }

        return new PairedAccuracy(frames, lost, gained);
    }

    private static Dictionary<int, (int Predicted, int Truth)> Answers(string csv)
    {
        var lines = File.ReadAllLines(csv);
        var header = lines[0].Split(',');
        int id = Array.IndexOf(header, "frame_id"), predicted = Array.IndexOf(header, "predicted"), truth = Array.IndexOf(header, "true_label");
        if (id < 0 || predicted < 0 || truth < 0)
        {
            throw new InvalidDataException($"{csv} lacks frame_id, predicted or true_label");
        }

        var answers = new Dictionary<int, (int, int)>(lines.Length);
        foreach (var line in lines.Skip(1))
        {
            var cells = line.Split(',');
            if (cells.Length == header.Length && int.TryParse(cells[predicted], CultureInfo.InvariantCulture, out var p) && p >= 0)
            {
                answers[int.Parse(cells[id], CultureInfo.InvariantCulture)] = (p, int.Parse(cells[truth], CultureInfo.InvariantCulture));
            }
        }

        return answers;
    }
}
