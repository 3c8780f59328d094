using System.Runtime.CompilerServices;

// Every native signature in this assembly is blittable (nint, byte*, int, long*): nothing needs the
// runtime marshaller, and NativeAOT gets no marshalling stubs.
[assembly: DisableRuntimeMarshalling]
[assembly: InternalsVisibleTo("Coach.Native.Tests")]
