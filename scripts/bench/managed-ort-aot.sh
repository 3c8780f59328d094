#!/usr/bin/env bash
# How ONNX Runtime's official managed API (Microsoft.ML.OnnxRuntime.Managed) fares under NativeAOT, for the
# choice between it and Coach's own C-API binding (docs/onnxruntime.md): publishes a minimal NativeAOT program
# that opens a bundled model and runs it through an OrtIoBinding, counts the trim/AOT warnings the publish
# prints, and runs the binary. Coach's own binaries publish with none (CI fails on any).
#
#   scripts/bench/managed-ort-aot.sh [--version 1.30.0] [--model models/resnet-fm112.onnx] [--keep]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
version=$(sed -n 's/.*Include="Microsoft.ML.OnnxRuntime.Managed" Version="\([^"]*\)".*/\1/p' "$root/Directory.Packages.props")
model=$root/models/resnet-fm112.onnx
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --version) version=$2; shift ;;
    --model) model=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "managed-ort-aot.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

work=$(mktemp -d)
if [ "$keep" = 1 ]; then echo "managed-ort-aot.sh: working in $work" >&2; else trap 'rm -rf "$work"' EXIT; fi
cat > "$work/Probe.csproj" <<PROJECT
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <PublishAot>true</PublishAot>
    <InvariantGlobalization>true</InvariantGlobalization>
    <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>
    <ImportDirectoryBuildProps>false</ImportDirectoryBuildProps>
    <ImportDirectoryPackagesProps>false</ImportDirectoryPackagesProps>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Microsoft.ML.OnnxRuntime" Version="$version" />
  </ItemGroup>
</Project>
PROJECT
cat > "$work/Program.cs" <<'PROGRAM'
using System;
using System.Linq;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

using var options = new SessionOptions { IntraOpNumThreads = 1 };
using var session = new InferenceSession(args[0], options);
var input = session.InputMetadata.First();
var output = session.OutputMetadata.First();
long[] inShape = input.Value.Dimensions.Select(d => d < 0 ? 1L : d).ToArray();
long[] outShape = output.Value.Dimensions.Select(d => d < 0 ? 1L : d).ToArray();
var inData = new float[inShape.Aggregate(1L, (a, b) => a * b)];
var outData = new float[outShape.Aggregate(1L, (a, b) => a * b)];
using var inValue = OrtValue.CreateTensorValueFromMemory(inData, inShape);
using var outValue = OrtValue.CreateTensorValueFromMemory(outData, outShape);
using var binding = session.CreateIoBinding();
binding.BindInput(input.Key, inValue);
binding.BindOutput(output.Key, outValue);
using var run = new RunOptions();
session.RunWithBinding(run, binding);
Console.WriteLine($"ran {input.Key} -> {output.Key}: {outData.Length} outputs, first {outData[0]:F4}");
PROGRAM
log=$work/publish.log
dotnet publish "$work/Probe.csproj" -c Release -r linux-x64 -o "$work/out" -nologo -clp:NoSummary > "$log" 2>&1 || { cat "$log" >&2; exit 1; }
warnings=$(grep -Eo 'warning IL[0-9]+[^[]*' "$log" | sort -u || true)
count=0
[ -z "$warnings" ] || count=$(printf '%s\n' "$warnings" | wc -l)
echo "Microsoft.ML.OnnxRuntime.Managed $version under NativeAOT: $count distinct trim/AOT warnings"
printf '%s\n' "$warnings" | sed 's/^/  /'
echo "binary: $(du -h "$work/out/Probe" | cut -f1)"
"$work/out/Probe" "$model"
