#!/usr/bin/env bash
# Fetches the ONNX Runtime shared libraries Coach binds to, from the npm registry package
# onnxruntime-node (CPU builds for linux-x64 and linux-arm64), checks the pinned sha256 and
# extracts them into the cache: $COACH_CACHE/onnxruntime/<version>/<rid>/libonnxruntime.so.1.
# Uses `npm pack` only: `npm install` would run the package's postinstall, which downloads
# from the internet.
#
#   scripts/fetch-onnxruntime.sh            CPU builds (linux-x64, linux-arm64)
#   scripts/fetch-onnxruntime.sh --gpu      also the x86-64 GPU build (CUDA / TensorRT providers)
#   scripts/fetch-onnxruntime.sh --print-dir   print the cache folder and exit
set -euo pipefail

ORT_VERSION=1.30.0
ORT_NODE_SHA256=6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75
GPU_VERSION=0.4.9

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${COACH_CACHE:-$root/.cache}
dest=$cache/onnxruntime/$ORT_VERSION
gpu=0

usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --gpu) gpu=1 ;;
    --print-dir) echo "$dest"; exit 0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "fetch-onnxruntime: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if ! command -v npm >/dev/null 2>&1; then
  echo "fetch-onnxruntime: npm is needed to fetch ONNX Runtime from the npm registry; install it with: apt-get install -y npm" >&2
  exit 1
fi

mkdir -p "$dest" "$cache/npm"
tarball=$cache/npm/onnxruntime-node-$ORT_VERSION.tgz

if [ ! -f "$dest/linux-x64/libonnxruntime.so.1" ] || [ ! -f "$dest/linux-arm64/libonnxruntime.so.1" ]; then
  if [ ! -f "$tarball" ] || ! echo "$ORT_NODE_SHA256  $tarball" | sha256sum -c --status; then
    echo "fetch-onnxruntime: npm pack onnxruntime-node@$ORT_VERSION (~110 MB, once)"
    (cd "$cache/npm" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
  fi
  if ! echo "$ORT_NODE_SHA256  $tarball" | sha256sum -c --status; then
    echo "fetch-onnxruntime: sha256 of $tarball does not match the pinned $ORT_NODE_SHA256; delete it and retry" >&2
    exit 1
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  tar -xzf "$tarball" -C "$tmp" package/bin/napi-v6/linux
  for rid in x64 arm64; do
    mkdir -p "$dest/linux-$rid"
    cp "$tmp/package/bin/napi-v6/linux/$rid/libonnxruntime.so.1" "$dest/linux-$rid/libonnxruntime.so.1"
  done
fi

if [ "$gpu" = 1 ] && [ ! -f "$dest/linux-x64-gpu/libonnxruntime.so" ]; then
  echo "fetch-onnxruntime: npm pack the x86-64 GPU build ($GPU_VERSION)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "com.github.asus4.onnxruntime@$GPU_VERSION" "com.github.asus4.onnxruntime.linux-x64-gpu@$GPU_VERSION" >/dev/null)
  mkdir -p "$dest/linux-x64-gpu"
  for t in "$tmp"/*.tgz; do tar -xzf "$t" -C "$tmp"; done
  find "$tmp/package" -path '*Linux/x64*' -name 'libonnxruntime*.so*' -exec cp {} "$dest/linux-x64-gpu/" \;
  echo "fetch-onnxruntime: GPU build in $dest/linux-x64-gpu (set COACH_ORT_LIBRARY=$dest/linux-x64-gpu/libonnxruntime.so)"
fi

echo "$dest"
