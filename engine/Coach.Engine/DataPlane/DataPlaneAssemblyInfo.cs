using System.Runtime.CompilerServices;

// The width-specific UAQ kernels and the scalar CRC are internal; the tests compare every width with the scalar path.
[assembly: InternalsVisibleTo("Coach.Engine.Tests")]
[assembly: InternalsVisibleTo("Coach.Benchmarks")]
