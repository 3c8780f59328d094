#!/usr/bin/env bash
# Coach's session facade (Coach.Native's SessionBinding) against ONNX Runtime's official managed API
# (Microsoft.ML.OnnxRuntime.Managed) called directly, both compiled with NativeAOT into one program (as coach-edge
# and coach-cloud are): what the facade costs per run (docs/onnxruntime.md). It counts the trim/AOT warnings the
# publish prints (CI fails on any) and times each on the same model through inputs and outputs bound once to
# caller memory: per-run time (median of 21 batches) and managed bytes allocated per run.
#
#   scripts/bench/managed-ort-aot.sh [--model FILE]... [--runs N] [--keep]
#
# Default models: the bundled resnet-fm112 and vgg-fm112, and ONNX's one-operator Relu test model (Debian's
# libonnx-testdata), whose run is short enough for the facade's own cost to show.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
version=$(sed -n 's/.*Include="Microsoft.ML.OnnxRuntime.Managed" Version="\([^"]*\)".*/\1/p' "$root/Directory.Packages.props")
models=()
runs=2000
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --model) models+=("$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"); shift ;;
    --runs) runs=$2; shift ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "managed-ort-aot.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ ${#models[@]} -eq 0 ]; then
  models=("$root/models/resnet-fm112.onnx" "$root/models/vgg-fm112.onnx")
  relu=/usr/share/libonnx-testdata/data/node/test_relu/model.onnx
  [ -e "$relu" ] && models+=("$relu")
fi

work=$(mktemp -d)
if [ "$keep" = 1 ]; then echo "managed-ort-aot.sh: working in $work" >&2; else trap 'rm -rf "$work"' EXIT; fi
cat > "$work/Probe.csproj" <<PROJECT
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <AllowUnsafeBlocks>true</AllowUnsafeBlocks>
    <PublishAot>true</PublishAot>
    <InvariantGlobalization>true</InvariantGlobalization>
    <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>
    <ImportDirectoryBuildProps>false</ImportDirectoryBuildProps>
    <ImportDirectoryPackagesProps>false</ImportDirectoryPackagesProps>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Microsoft.ML.OnnxRuntime.Managed" Version="$version" />
    <ProjectReference Include="$root/native/Coach.Native/Coach.Native.csproj" />
  </ItemGroup>
</Project>
PROJECT
cat > "$work/Program.cs" <<'PROGRAM'
using System;
using System.Diagnostics;
using System.Linq;
using System.Runtime.InteropServices;
using Coach.Native.OnnxRuntime;
using Managed = Microsoft.ML.OnnxRuntime;

string path = args[0];
int runs = int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
// Finds the library and hands it to the managed API as its "onnxruntime" import, so both call the same code.
OrtLibrary.EnsureLoaded();

using var coach = Coach.Native.OnnxRuntime.InferenceSession.Open(path, new SessionSettings { IntraOpThreads = 1 });
var inputs = coach.Inputs.Select(i => (i.Name, PinnedTensor.Create(i.ElementType, i.ConcreteShape(1)))).ToList();
var outputs = coach.Outputs.Select(o => (o.Name, PinnedTensor.Create(o.ElementType, o.ConcreteShape(1)))).ToList();
foreach (var (_, t) in inputs)
{
    var span = t.AsSpan<float>();
    for (int k = 0; k < span.Length; k++) span[k] = (k % 251) / 251f;
}
using var binding = coach.Bind(inputs, outputs);

using var options = new Managed.SessionOptions { IntraOpNumThreads = 1 };
using var managed = new Managed.InferenceSession(path, options);
using var runOptions = new Managed.RunOptions();
using var io = managed.CreateIoBinding();
var values = new System.Collections.Generic.List<Managed.OrtValue>();
unsafe Managed.OrtValue Wrap(PinnedTensor t)
{
    var v = Managed.OrtValue.CreateTensorValueWithData(Managed.OrtMemoryInfo.DefaultInstance, Managed.Tensors.TensorElementType.Float,
        t.Shape, (nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.AsSpan<float>())), t.ByteCount);
    values.Add(v);
    return v;
}
foreach (var (name, t) in inputs) io.BindInput(name, Wrap(t));
foreach (var (name, t) in outputs) io.BindOutput(name, Wrap(t));

(double Micros, double Bytes) Time(Action run)
{
    for (int i = 0; i < Math.Max(50, runs / 10); i++) run();
    var batches = new double[21];
    long before = GC.GetAllocatedBytesForCurrentThread();
    for (int b = 0; b < batches.Length; b++)
    {
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < runs; i++) run();
        batches[b] = Stopwatch.GetElapsedTime(start).TotalMicroseconds / runs;
    }
    double bytes = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)(runs * batches.Length);
    Array.Sort(batches);
    return (batches[batches.Length / 2], bytes);
}

// Alternate the two so that the machine's drift hits both alike.
var c1 = Time(binding.Run);
var m1 = Time(() => managed.RunWithBinding(runOptions, io));
var c2 = Time(binding.Run);
var m2 = Time(() => managed.RunWithBinding(runOptions, io));
double coachUs = Math.Min(c1.Micros, c2.Micros), managedUs = Math.Min(m1.Micros, m2.Micros);
Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
    $"| {System.IO.Path.GetFileName(System.IO.Path.GetDirectoryName(path) is { } d && path.EndsWith("model.onnx", StringComparison.Ordinal) ? d : path)} | {coachUs:0.###} µs, {Math.Max(c1.Bytes, c2.Bytes):0.#} B | {managedUs:0.###} µs ({managedUs / coachUs:0.00}×), {Math.Max(m1.Bytes, m2.Bytes):0.#} B |"));
foreach (var v in values) v.Dispose();
foreach (var (_, t) in inputs.Concat(outputs)) t.Dispose();
PROGRAM
log=$work/publish.log
dotnet publish "$work/Probe.csproj" -c Release -r linux-x64 -o "$work/out" -nologo -clp:NoSummary > "$log" 2>&1 || { cat "$log" >&2; exit 1; }
warnings=$(grep -Eo 'warning IL[0-9]+[^[]*' "$log" | sort -u || true)
count=0
[ -z "$warnings" ] || count=$(printf '%s\n' "$warnings" | wc -l)
echo "NativeAOT publish with Microsoft.ML.OnnxRuntime.Managed $version and Coach.Native: $count distinct trim/AOT warnings"
[ -z "$warnings" ] || printf '%s\n' "$warnings" | sed 's/^/  /'
echo
echo "| model | Coach SessionBinding.Run (facade) | managed RunWithBinding (OrtIoBinding) directly |"
echo "| --- | --- | --- |"
for model in "${models[@]}"; do
  per_model=$runs
  case "$model" in *models/*fm112.onnx) per_model=$(( runs / 20 > 20 ? runs / 20 : 20 )) ;; esac
  "$work/out/Probe" "$model" "$per_model"
done
