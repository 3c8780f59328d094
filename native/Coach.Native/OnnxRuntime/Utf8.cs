using System.Runtime.InteropServices;
using System.Text;

namespace Coach.Native.OnnxRuntime;

/// <summary>UTF-8 strings across the C boundary, marshalled by hand (the runtime marshaller is off).</summary>
internal static unsafe class Utf8
{
    public static string ToString(byte* text) =>
        text == null ? "" : Marshal.PtrToStringUTF8((nint)text) ?? "";

    /// <summary>A NUL-terminated UTF-8 copy on the managed heap, to be pinned with <c>fixed</c>.</summary>
    public static byte[] ToNullTerminated(string text)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
        Encoding.UTF8.GetBytes(text, bytes);
        return bytes;
    }
}

/// <summary>
/// An array of NUL-terminated UTF-8 strings in one native block (<c>const char* const*</c>), as
/// ORT wants input/output names and provider option keys. Native, so it never moves and its
/// pointer can be handed to every run without pinning.
/// </summary>
internal sealed unsafe class Utf8StringArray : IDisposable
{
    private byte** _pointers;

    public Utf8StringArray(IReadOnlyList<string> strings)
    {
        Count = strings.Count;
        var encoded = new byte[Count][];
        nuint textBytes = 0;
        for (var i = 0; i < Count; i++)
        {
            encoded[i] = Utf8.ToNullTerminated(strings[i]);
            textBytes += (nuint)encoded[i].Length;
        }
        var pointerBytes = (nuint)(Count * sizeof(byte*));
        _pointers = (byte**)NativeMemory.Alloc(pointerBytes + textBytes + 1);
        var text = (byte*)_pointers + pointerBytes;
        for (var i = 0; i < Count; i++)
        {
            _pointers[i] = text;
            encoded[i].CopyTo(new Span<byte>(text, encoded[i].Length));
            text += encoded[i].Length;
        }
    }

    public int Count { get; }

    public byte** Pointers
    {
        get
        {
            ObjectDisposedException.ThrowIf(_pointers == null, this);
            return _pointers;
        }
    }

    public void Dispose()
    {
        if (_pointers != null)
        {
            NativeMemory.Free(_pointers);
            _pointers = null;
        }
    }
}
