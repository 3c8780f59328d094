#!/usr/bin/env bash
# CI check of the linux-arm64 coach-edge on an x86-64 machine, under qemu-user (scripts/jetson/emulate.sh):
#   1. dist/linux-arm64/coach-edge is an aarch64 ELF with a __managedcode section (NativeAOT, not a host build);
#   2. `coach-edge --version` names the ONNX Runtime it loaded (the arm64 build beside it, 1.30 or newer);
#   3. `coach-edge selftest` runs the bundled model on that ONNX Runtime;
#   4. a 200-frame `coach-edge run` of a split plan against this machine's x64 coach-cloud on loopback
#      answers every frame.
#
#   scripts/jetson/test-emulated.sh [--frames N] [--keep]
#
# Needs: ./coach publish --rid linux-arm64 (dist/linux-arm64/) and ./coach publish (dist/linux-x64/, for
# coach-cloud and the planner); both are made here when missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
cd "$repo_root"
frames=200
keep=0
say() { printf 'test-emulated.sh: %s\n' "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --frames) [ $# -ge 2 ] || die "--frames needs a number"; frames=$2; shift ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) say "unknown option '$1' (see --help)"; exit 2 ;;
  esac
  shift
done

edge=dist/linux-arm64/coach-edge
[ -x "$edge" ] || ./coach publish --rid linux-arm64
if [ ! -x dist/linux-x64/coach-cloud ] || [ ! -x dist/linux-x64/coach ]; then ./coach publish; fi

work=$(mktemp -d)
cloud_pid=
cleanup() {
  if [ -n "$cloud_pid" ]; then kill "$cloud_pid" 2>/dev/null || true; wait "$cloud_pid" 2>/dev/null || true; fi
  if [ "$keep" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

say "1. $edge is a NativeAOT aarch64 executable"
header=$(readelf -hW "$edge") || die "readelf could not read $edge"
grep -q 'Machine:[[:space:]]*AArch64' <<<"$header" || die "$edge is not an aarch64 ELF: $(grep Machine: <<<"$header")"
readelf -SW "$edge" | grep -q '__managedcode' || die "$edge has no __managedcode section (not a NativeAOT binary)"

say "2. --version under emulation"
version=$("$here/emulate.sh" "$edge" --version) || die "coach-edge --version failed under emulation"
printf '%s\n' "$version"
[[ $version =~ onnxruntime\ 1\.([0-9]+)\.[0-9]+ ]] || die "--version names no loaded ONNX Runtime: $version"
[ "${BASH_REMATCH[1]}" -ge 30 ] || die "ONNX Runtime 1.${BASH_REMATCH[1]} is older than the 1.30 Coach is tested with"
grep -q "library: $repo_root/dist/linux-arm64/" <<<"$version" || die "the ONNX Runtime loaded is not the arm64 build beside the binary"

say "3. selftest on the bundled model"
"$here/emulate.sh" "$edge" selftest --model models/resnet-fm112.onnx --runs 5

say "4. $frames-frame run against the x64 coach-cloud"
# Layer cuts only (--input-codec none): what crosses is UAQ-packed, the arm64 code path this run is for.
plan=$work/plan
dist/linux-x64/coach plan --model models/resnet-fm112.onnx --edge-profile models/profiles/resnet-fm112.cpu.json \
  --cloud-profile models/profiles/resnet-fm112.cpu.json --edge-slowdown 8 --bandwidth 10mbit --calib fixed:4 --input-codec none --out "$plan" >&2
if grep -q '"method": *"edge"' "$plan/plan.json"; then die "the plan is edge-only: nothing would cross the link"; fi
dist/linux-x64/coach-cloud serve --listen 127.0.0.1:0 --plans "$plan" --log-interval-s 0 >"$work/cloud.out" 2>"$work/cloud.err" &
cloud_pid=$!
address=
for _ in $(seq 100); do
  address=$(sed -n 's/^coach-cloud: listening on \([0-9.]*:[0-9]*\).*/\1/p' "$work/cloud.out" | head -n 1)
  [ -n "$address" ] && break
  kill -0 "$cloud_pid" 2>/dev/null || { cat "$work/cloud.err" >&2; die "coach-cloud exited"; }
  sleep 0.1
done
[ -n "$address" ] || die "coach-cloud did not say where it listens"
summary=$("$here/emulate.sh" "$edge" run --plan "$plan" --cloud "$address" --frames "$frames" --scheduler fixed --no-progress --json | tail -n 1)
printf '%s\n' "$summary"
answered=$(sed -n 's/.*"frames_answered":\([0-9]*\).*/\1/p' <<<"$summary")
failed=$(sed -n 's/.*"frames_failed":\([0-9]*\).*/\1/p' <<<"$summary")
requests=$(sed -n 's/.*"requests_answered":\([0-9]*\).*/\1/p' <<<"$summary")
if [ "$answered" != "$frames" ] || [ "$failed" != 0 ]; then die "answered $answered of $frames frames ($failed failed)"; fi
[ "$requests" = "$frames" ] || die "the cloud answered $requests of $frames requests: frames did not cross the link"
say "ok: the arm64 coach-edge answered $answered/$frames frames through the x64 coach-cloud"
