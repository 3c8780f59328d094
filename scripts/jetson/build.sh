#!/usr/bin/env bash
# Builds the deployable Jetson folder dist/jetson/: coach-edge published as NativeAOT for linux-arm64,
# the ONNX Runtime library it loads, and the files install.sh needs (copy the folder to the device and
# run  sudo ./install.sh  there, or stage it into an image with stage-rootfs.sh).
#
#   scripts/jetson/build.sh [--out DIR] [--ort-dir DIR] [--cpu-ort] [--dry-run]
#
#   --out DIR      output folder (default dist/jetson)
#   --ort-dir DIR  take ONNX Runtime from DIR (libonnxruntime.so* and, for TensorRT/CUDA, its
#                  libonnxruntime_providers_*.so, e.g. JetPack's build copied off the device) instead of searching
#   --cpu-ort      skip the search: use the CPU arm64 build of the Microsoft.ML.OnnxRuntime NuGet package
#   --dry-run      print what would be done; changes nothing
#   -h, --help     this text
#
# By default this runs on an x86-64 build host: ./coach publish --rid linux-arm64 cross-compiles coach-edge
# (clang, lld and Debian's arm64 multiarch C runtime; installed as root), so the device needs no .NET SDK.
# On an arm64 host (the Jetson itself, with the .NET SDK 10) the same command compiles natively.
# ONNX Runtime with the TensorRT execution provider is searched for in $COACH_ORT_DIR, /usr/local/lib,
# /usr/lib/aarch64-linux-gnu, /opt/onnxruntime*/lib and python onnxruntime/capi folders: a folder counts
# when it holds the C library libonnxruntime.so* together with libonnxruntime_providers_tensorrt.so.
# Otherwise the CPU build published beside coach-edge (NuGet, 1.30.0) is used, and the edge runs on the CPU
# provider until the device's own TensorRT build is pointed at with COACH_ORT_LIBRARY (docs/jetson.md).

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
dry_run=0
say() { printf 'build.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
usage_error() { say "$*"; say "see --help"; exit 2; }
show_command() { local q; printf -v q '%q ' "$@"; printf '+ %s\n' "${q% }"; }
run() { if [ "$dry_run" = 1 ]; then show_command "$@"; else "$@"; fi; }
need_value() { if [ "$#" -lt 2 ] || [ -z "$2" ]; then usage_error "option $1 needs a value"; fi; printf '%s' "$2"; }

out=$repo_root/dist/jetson
ort_dir=${COACH_ORT_DIR:-}
cpu_ort=0
rid=linux-arm64
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$(need_value "$@"); shift ;;
    --ort-dir) ort_dir=$(need_value "$@"); shift ;;
    --cpu-ort) cpu_ort=1 ;;
    --dry-run) dry_run=1 ;;
    -h|--help) sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed -e 's/^# \{0,1\}//'; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
  esac
  shift
done

command -v dotnet >/dev/null 2>&1 || die "the .NET SDK 10 is needed on the build host (dotnet not on PATH): https://learn.microsoft.com/dotnet/core/install/linux-debian"

# A folder is a usable GPU ONNX Runtime when it has the C library and the TensorRT provider beside it
# (ORT loads its providers from the folder of libonnxruntime).
ort_library_in() {
  local dir=$1 name
  for name in libonnxruntime.so.1 libonnxruntime.so; do
    if [ -e "$dir/$name" ]; then printf '%s' "$dir/$name"; return 0; fi
  done
  for name in "$dir"/libonnxruntime.so.1.*; do
    if [ -e "$name" ]; then printf '%s' "$name"; return 0; fi
  done
  return 1
}

find_gpu_ort() {
  local dir
  for dir in "$@"; do
    [ -d "$dir" ] || continue
    if [ -e "$dir/libonnxruntime_providers_tensorrt.so" ]; then
      if ort_library_in "$dir" >/dev/null; then printf '%s' "$dir"; return 0; fi
      say "note: $dir has the TensorRT provider but no libonnxruntime.so (a python wheel carries only its own binding): build ONNX Runtime with --build_shared_lib --use_tensorrt (docs/jetson.md)"
    fi
  done
  return 1
}

ort_source=
ort_kind=cpu
if [ -n "$ort_dir" ]; then
  ort_library_in "$ort_dir" >/dev/null || die "--ort-dir $ort_dir holds no libonnxruntime.so*"
  ort_source=$ort_dir
  if [ -e "$ort_dir/libonnxruntime_providers_tensorrt.so" ]; then ort_kind=gpu; fi
elif [ "$cpu_ort" = 0 ]; then
  shopt -s nullglob
  candidates=(/usr/local/lib /usr/lib/aarch64-linux-gnu /opt/onnxruntime*/lib /usr/local/onnxruntime*/lib
    /usr/lib/python3*/dist-packages/onnxruntime/capi /usr/local/lib/python3*/dist-packages/onnxruntime/capi
    "$HOME"/.local/lib/python3*/site-packages/onnxruntime/capi)
  shopt -u nullglob
  if ort_source=$(find_gpu_ort "${candidates[@]}"); then
    ort_kind=gpu
  else
    ort_source=
  fi
fi
if [ "$dry_run" = 1 ]; then
  publish_dir=$repo_root/dist/$rid
  show_command "$repo_root/coach" publish --rid "$rid"
else
  say "publishing coach-edge (NativeAOT, $rid)"
  "$repo_root/coach" publish --rid "$rid"
  publish_dir=$repo_root/dist/$rid
  [ -x "$publish_dir/coach-edge" ] || die "$publish_dir/coach-edge was not produced"
fi
if [ -z "$ort_source" ]; then
  ort_source=$publish_dir
  say "no ONNX Runtime with the TensorRT provider found: using the CPU build beside the published binary (the edge will say it fell back to CPU)"
else
  say "ONNX Runtime ($ort_kind) from $ort_source"
fi

native=$out/runtimes/$rid/native
run rm -rf "$out"
run install -d -m 0755 "$out" "$native"
run install -m 0755 "$publish_dir/coach-edge" "$out/coach-edge"
# Skia's native library decodes images:DIR sources (docs/data.md); it is looked up beside the binary.
run install -m 0755 "$publish_dir/libSkiaSharp.so" "$out/libSkiaSharp.so"
if [ "$dry_run" = 1 ]; then
  show_command cp -L "$ort_source/libonnxruntime.so*" "$native/libonnxruntime.so.1"
else
  run cp -L "$(ort_library_in "$ort_source")" "$native/libonnxruntime.so.1"
fi
for provider in "$ort_source"/libonnxruntime_providers_*.so; do
  [ -e "$provider" ] || continue
  run cp -L "$provider" "$native/"
done
for file in install.sh stage-rootfs.sh shape-link.sh latency-test.sh coach-edge.service edge.json; do
  run install -m "$(if [ "${file##*.}" = sh ]; then echo 0755; else echo 0644; fi)" "$here/$file" "$out/$file"
done

commit=$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo unknown)
info="coach-edge $commit built $(date -u +%Y-%m-%dT%H:%M:%SZ) for $rid on $(uname -m)
onnxruntime: $ort_kind build from $ort_source"
if [ "$dry_run" = 1 ]; then
  printf '+ write %s:\n%s\n' "$out/build-info.txt" "$info"
else
  printf '%s\n' "$info" > "$out/build-info.txt"
  say "deployable folder: $out"
  say "next: copy it to the device and run  sudo ./install.sh  there, or  scripts/jetson/stage-rootfs.sh --rootfs Linux_for_Tegra/rootfs"
fi
