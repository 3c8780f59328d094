using System.Runtime.InteropServices;

namespace Coach.Native.OnnxRuntime;

/// <summary>Owner of one native ORT object; released exactly once through its ORT release function.</summary>
internal abstract class OrtHandle : SafeHandle
{
    protected OrtHandle(nint handle)
        : base(0, ownsHandle: true)
    {
        SetHandle(handle);
    }

    public override bool IsInvalid => handle == 0;
}

internal sealed unsafe class OrtEnvHandle(nint handle) : OrtHandle(handle)
{
    protected override bool ReleaseHandle()
    {
        OrtApi.ReleaseEnv(handle);
        return true;
    }
}

internal sealed unsafe class OrtSessionOptionsHandle(nint handle) : OrtHandle(handle)
{
    protected override bool ReleaseHandle()
    {
        OrtApi.ReleaseSessionOptions(handle);
        return true;
    }
}

internal sealed unsafe class OrtSessionHandle(nint handle) : OrtHandle(handle)
{
    protected override bool ReleaseHandle()
    {
        OrtApi.ReleaseSession(handle);
        return true;
    }
}

internal sealed unsafe class OrtMemoryInfoHandle(nint handle) : OrtHandle(handle)
{
    protected override bool ReleaseHandle()
    {
        OrtApi.ReleaseMemoryInfo(handle);
        return true;
    }
}

internal sealed unsafe class OrtValueHandle(nint handle) : OrtHandle(handle)
{
    protected override bool ReleaseHandle()
    {
        OrtApi.ReleaseValue(handle);
        return true;
    }
}

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
