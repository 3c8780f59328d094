using System.Runtime.InteropServices;

namespace Coach.Native.OnnxRuntime;

/// <summary>Native memory behind a <see cref="PinnedTensor"/>; a SafeHandle so that a
/// <see cref="SessionBinding"/> can keep it alive (AddRef) even after the tensor is disposed.</summary>
internal sealed unsafe class NativeBufferHandle : SafeHandle
{
    public NativeBufferHandle(nuint byteCount)
        : base(0, ownsHandle: true)
    {
        // 64-byte alignment: what ORT's own CPU allocator gives, so vectorised kernels see the same.
        var memory = NativeMemory.AlignedAlloc(byteCount == 0 ? 1 : byteCount, 64);
        NativeMemory.Clear(memory, byteCount);
        SetHandle((nint)memory);
    }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        NativeMemory.AlignedFree((void*)handle);
        return true;
    }
}
