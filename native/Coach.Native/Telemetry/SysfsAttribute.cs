using System.Buffers.Text;
using Microsoft.Win32.SafeHandles;

namespace Coach.Native.Telemetry;

/// <summary>
/// One sysfs attribute holding a decimal integer (a sensor reading), kept open so that each read is a
/// single <c>pread</c> at offset 0 — the kernel regenerates an attribute's text on every read from offset 0,
/// which is how monitoring tools poll sysfs without reopening. Reading allocates nothing.
/// </summary>
internal sealed class SysfsAttribute : IDisposable
{
    private readonly SafeFileHandle handle;

    private SysfsAttribute(string path, SafeFileHandle handle)
    {
        Path = path;
        this.handle = handle;
    }

    public string Path { get; }

    /// <summary>Opens <paramref name="path"/> for reading; null when it is absent or unreadable (no exception).</summary>
    public static SysfsAttribute? TryOpen(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return new SysfsAttribute(path, handle);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Reads the attribute as an integer; false when the read fails (sensor offline: EIO/EAGAIN) or the text is not a number.</summary>
    public bool TryReadInt64(out long value)
    {
        Span<byte> text = stackalloc byte[64];
        int length;
        try
        {
            length = RandomAccess.Read(handle, text, 0);
        }
        catch (IOException)
        {
            value = 0;
            return false;
        }
        return TryParseLeadingInteger(text[..length], out value);
    }

    /// <summary>Parses the first integer of a sysfs value such as <c>"4980\n"</c> or <c>"32760 ma"</c>.</summary>
    internal static bool TryParseLeadingInteger(ReadOnlySpan<byte> text, out long value)
    {
        int start = 0;
        while (start < text.Length && (text[start] == (byte)' ' || text[start] == (byte)'\t'))
        {
            start++;
        }
        return Utf8Parser.TryParse(text[start..], out value, out int consumed) && consumed > 0;
    }

    /// <summary>Reads a short text attribute (a label or a name) once, at discovery; trims whitespace and the NUL device-tree strings end with.</summary>
    public static string? TryReadText(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path).Trim().TrimEnd('\0').Trim() : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Sub-directories of <paramref name="directory"/> sorted by name; following symlinks as sysfs needs (bus/driver entries are links). Empty when absent.</summary>
    public static string[] ListDirectories(string directory, string pattern = "*")
    {
        try
        {
            if (!Directory.Exists(directory))
            {
                return [];
            }
            var entries = Directory.GetDirectories(directory, pattern);
            Array.Sort(entries, StringComparer.Ordinal);
            return entries;
        }
        catch (IOException)
        {
            return [];
        }
        catch (UnauthorizedAccessException)
        {
            return [];
        }
    }

    public void Dispose() => handle.Dispose();
}
