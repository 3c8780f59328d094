namespace Coach.Engine.Coded;

/// <summary>
/// Copies bands of rows (the first spatial axis, axis 2) between dense tensors of shape [N, C, H, rest…] that agree
/// on every axis but the rows. Rows outside the source are zeros (padding). Allocation-free.
/// </summary>
public static class RowBands
{
    /// <summary>
    /// Copies <paramref name="rows"/> rows starting at source row <paramref name="sourceRow"/> (may be negative or run
    /// past the source: those rows are written as zeros) into the destination from row <paramref name="destinationRow"/>.
    /// <paramref name="planes"/> = N·C, <paramref name="rowLength"/> = the product of the axes after the rows.
    /// </summary>
    public static void Copy(ReadOnlySpan<float> source, int sourceRows, int sourceRow, Span<float> destination, int destinationRows, int destinationRow, int rows, int planes, int rowLength)
    {
        if (destinationRow < 0 || destinationRow + rows > destinationRows)
        {
            throw new ArgumentOutOfRangeException(nameof(destinationRow), $"rows [{destinationRow}, {destinationRow + rows}) do not fit a destination of {destinationRows} rows");
        }

        if (source.Length < planes * sourceRows * rowLength || destination.Length < planes * destinationRows * rowLength)
        {
            throw new ArgumentException($"the tensors hold {source.Length} and {destination.Length} values; {planes} planes of {sourceRows} and {destinationRows} rows of {rowLength} need more");
        }

        int validBegin = Math.Clamp(sourceRow, 0, sourceRows);
        int validEnd = Math.Clamp(sourceRow + rows, 0, sourceRows);
        for (int p = 0; p < planes; p++)
        {
            var dst = destination.Slice(((p * destinationRows) + destinationRow) * rowLength, rows * rowLength);
            if (validEnd <= validBegin)
            {
                dst.Clear();
                continue;
            }

            int leading = validBegin - sourceRow;
            int count = validEnd - validBegin;
            dst[..(leading * rowLength)].Clear();
            source.Slice(((p * sourceRows) + validBegin) * rowLength, count * rowLength).CopyTo(dst.Slice(leading * rowLength, count * rowLength));
            dst[((leading + count) * rowLength)..].Clear();
        }
    }
}
