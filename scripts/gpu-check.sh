#!/usr/bin/env bash
# Checks Coach on an NVIDIA machine and writes one report (markdown): which ONNX Runtime and execution providers
# load, the CUDA selftests of the bundled models, the TensorRT request (used, or the fallback and its reason),
# per-layer GPU profiles, and a split run with coach-cloud's tails on the GPU answered end to end.
#
#   scripts/gpu-check.sh [--dist DIR] [--out FILE] [--frames N]
#
#   --dist DIR   the GPU build (default dist/linux-x64-gpu, made by ./coach publish --gpu when missing and the
#                machine can restore NuGet packages; on an offline GPU machine, build it elsewhere and copy it)
#   --out FILE   the report (default docs/results/gpu-check.md)
#   --frames N   frames of the split run (default 2000)
#
# ONNX Runtime's CUDA provider (Microsoft.ML.OnnxRuntime.Gpu.Linux 1.30) needs CUDA 13's libcudart, libcublas(Lt)
# and libcurand, and cuDNN 9, on the loader's path (LD_LIBRARY_PATH or ld.so.cache); the TensorRT provider also
# needs libnvinfer.so.10. The report lists what the provider library cannot resolve. CI never runs this.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
dist=dist/linux-x64-gpu
out=docs/results/gpu-check.md
frames=2000
die() { printf 'gpu-check.sh: %s\n' "$*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --dist) dist=$2; shift ;;
    --out) out=$2; shift ;;
    --frames) frames=$2; shift ;;
    -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done

command -v nvidia-smi >/dev/null 2>&1 || die "no nvidia-smi: this is not an NVIDIA machine (or the driver is not installed)"
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n 1) || die "nvidia-smi sees no GPU"
if [ ! -x "$dist/coach-edge" ] || [ ! -x "$dist/coach-cloud" ] || [ ! -x "$dist/coach" ]; then
  ./coach publish --gpu
  dist=dist/linux-x64-gpu
fi
edge=$dist/coach-edge
work=$(mktemp -d)
cloud_pid=
cleanup() { if [ -n "$cloud_pid" ]; then kill "$cloud_pid" 2>/dev/null || true; wait "$cloud_pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$(dirname "$out")"

section() { printf '\n## %s\n\n' "$1"; }
fenced() { printf '```\n'; cat; printf '```\n'; }

{
  echo "# GPU check"
  echo
  echo "GPU: $gpu; host: $(nproc) cores; $(date -u +%Y-%m-%d); command: scripts/gpu-check.sh --dist $dist --frames $frames"

  section "ONNX Runtime and providers"
  "$edge" --version 2>&1 | fenced
  echo
  echo "Libraries the CUDA and TensorRT providers cannot resolve (empty: none):"
  echo
  for provider in "$dist"/libonnxruntime_providers_cuda.so "$dist"/libonnxruntime_providers_tensorrt.so; do
    [ -e "$provider" ] || { echo "- $(basename "$provider"): not in $dist"; continue; }
    missing=$(ldd "$provider" 2>/dev/null | awk '/not found/ { print $1 }' | tr '\n' ' ')
    echo "- $(basename "$provider"): ${missing:-all resolved}"
  done

  section "Selftests (CUDA, 200 runs)"
  for model in models/resnet-fm112.onnx models/vgg-fm112.onnx; do
    "$edge" selftest --model "$model" --provider cuda --runs 200 2>&1 | grep -E 'model:|provider:|refused:|latency:|check:' | fenced
  done

  section "TensorRT requested"
  "$edge" selftest --model models/resnet-fm112.onnx --provider tensorrt --runs 20 2>&1 | grep -E 'provider:|refused:|fell back|latency:' | fenced

  section "Per-layer profiles on the GPU"
  for name in resnet-fm112 vgg-fm112; do
    "$edge" profile --model "models/$name.onnx" --device gpu --provider cuda --out "$work/$name.gpu.json" 2>&1 | tail -n 3 | fenced
  done

  section "Split run with the cloud's tails on the GPU ($frames frames)"
  "$dist/coach" plan --model models/resnet-fm112.onnx --edge-profile models/profiles/resnet-fm112.cpu.json \
    --edge-slowdown 8 --cloud-profile "$work/resnet-fm112.gpu.json" --bandwidth 50mbit --calib fixed:4 --out "$work/plan" 2>&1 | tail -n 1 | fenced
  "$dist/coach-cloud" serve --listen 127.0.0.1:0 --plans "$work/plan" --log-interval-s 0 >"$work/cloud.out" 2>"$work/cloud.err" &
  cloud_pid=$!
  address=
  for _ in $(seq 200); do
    address=$(sed -n 's/^coach-cloud: listening on \([0-9.]*:[0-9]*\).*/\1/p' "$work/cloud.out" | head -n 1)
    [ -n "$address" ] && break
    sleep 0.1
  done
  [ -n "$address" ] || { cat "$work/cloud.err"; die "coach-cloud did not start"; }
  "$edge" run --plan "$work/plan" --cloud "$address" --frames "$frames" --scheduler fixed --no-progress --json 2>&1 | tail -n 12 | fenced
  echo
  echo "The cloud's log (which provider its tails loaded on):"
  echo
  grep -E 'loaded the tail|provider' "$work/cloud.err" | head -n 5 | fenced
} > "$out"
echo "gpu-check.sh: report in $out"
