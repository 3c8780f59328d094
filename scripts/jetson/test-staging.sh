#!/usr/bin/env bash
# CI check of the Jetson deployment path, short of the hardware: stages the edge into a fresh temporary
# rootfs with stage-rootfs.sh, checks the layout (/opt/coach/coach-edge, /etc/coach/edge.json, the unit
# and its multi-user.target.wants symlink), has systemd-analyze verify the unit (when installed), runs
# every script's --dry-run and --help, and shellcheck on every script under scripts/.
#
#   scripts/jetson/test-staging.sh [--from DIR] [--keep] [--dry-run]
#
#   --from DIR   folder holding coach-edge (default: dist/jetson; when it is missing, scripts/jetson/build.sh
#                makes it: the arm64 coach-edge cross-compiled on this machine)
#   --keep       keep the temporary rootfs and print its path
#   --dry-run    print the steps; stage nothing
#   -h, --help   this text
#
# The staged binary is the cross-compiled arm64 coach-edge; scripts/jetson/test-emulated.sh checks that it
# runs (under qemu-user). The staged image itself is not booted here.

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
dry_run=0
keep=0
from=
say() { printf 'test-staging.sh: %s\n' "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }
usage_error() { say "$*"; say "see --help"; exit 2; }
need_value() { if [ "$#" -lt 2 ] || [ -z "$2" ]; then usage_error "option $1 needs a value"; fi; printf '%s' "$2"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --from) from=$(need_value "$@"); shift ;;
    --keep) keep=1 ;;
    --dry-run) dry_run=1 ;;
    -h|--help) sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed -e 's/^# \{0,1\}//'; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
  esac
  shift
done

if [ "$dry_run" = 1 ]; then
  cat <<STEPS
+ scripts/jetson/build.sh              (only when dist/jetson has no coach-edge)
+ scripts/jetson/stage-rootfs.sh --rootfs "\$(mktemp -d)"${from:+ --from $from}
+ check opt/coach/coach-edge, etc/coach/edge.json, etc/systemd/system/coach-edge.service and its enablement symlink
+ systemd-analyze verify (a copy of the unit whose ExecStart points into the staged root)
+ each script: --help and --dry-run
+ shellcheck coach .ci/run scripts/*.sh scripts/jetson/*.sh scripts/models/*.sh
STEPS
  exit 0
fi

cd "$repo_root"
if [ -z "$from" ] && [ ! -x dist/jetson/coach-edge ]; then
  say "no dist/jetson: scripts/jetson/build.sh (arm64 coach-edge, cross-compiled)"
  scripts/jetson/build.sh
fi

rootfs=$(mktemp -d)
work=$(mktemp -d)
cleanup() {
  rm -rf "$work"
  if [ "$keep" = 1 ]; then say "staged rootfs kept at $rootfs"; else rm -rf "$rootfs"; fi
}
trap cleanup EXIT

say "staging into $rootfs"
args=(--rootfs "$rootfs")
if [ -n "$from" ]; then args+=(--from "$from"); fi
scripts/jetson/stage-rootfs.sh "${args[@]}"

# Layout.
[ -x "$rootfs/opt/coach/coach-edge" ] || die "opt/coach/coach-edge missing or not executable"
[ -f "$rootfs/etc/coach/edge.json" ] || die "etc/coach/edge.json missing"
unit=$rootfs/etc/systemd/system/coach-edge.service
[ -f "$unit" ] || die "etc/systemd/system/coach-edge.service missing"
link=$rootfs/etc/systemd/system/multi-user.target.wants/coach-edge.service
[ -L "$link" ] || die "enablement symlink $link missing"
[ "$(readlink "$link")" = /etc/systemd/system/coach-edge.service ] || die "enablement symlink points to $(readlink "$link"), not /etc/systemd/system/coach-edge.service"
[ -f "$rootfs$(readlink "$link")" ] || die "enablement symlink does not resolve inside the rootfs"
grep -q '^ExecStart=/opt/coach/coach-edge run --config /etc/coach/edge.json$' "$unit" || die "ExecStart of the staged unit does not use /opt/coach and /etc/coach/edge.json: $(grep '^ExecStart' "$unit")"
! grep -q '@[A-Z]*@' "$unit" || die "unfilled placeholder in the unit: $(grep -n '@[A-Z]*@' "$unit")"
python_ok=0
for python in /usr/bin/python3 python3; do
  if command -v "$python" >/dev/null 2>&1 && "$python" -c 'import json,sys; json.load(open(sys.argv[1]))' "$rootfs/etc/coach/edge.json"; then
    python_ok=1
    break
  fi
done
[ "$python_ok" = 1 ] || say "note: no python3 to check that edge.json parses (the C# tests check it too)"
machine() { readelf -hW "$1" 2>/dev/null | sed -n 's/^ *Machine: *//p'; }
[ "$(machine "$rootfs/opt/coach/coach-edge")" = AArch64 ] || die "the staged coach-edge is not an aarch64 binary ($(machine "$rootfs/opt/coach/coach-edge"))"
ort=$(find "$rootfs/opt/coach" -name 'libonnxruntime.so*' | head -n 1)
[ -n "$ort" ] || die "no ONNX Runtime library in the staged folder"
[ "$(machine "$ort")" = AArch64 ] || die "the staged ONNX Runtime ${ort#"$rootfs"} is not an aarch64 library"
say "ONNX Runtime staged: $(cd "$rootfs/opt/coach" && find . -name 'libonnxruntime*.so*' | tr '\n' ' ')"
[ "$(machine "$rootfs/opt/coach/libSkiaSharp.so")" = AArch64 ] || die "no aarch64 libSkiaSharp.so beside the staged coach-edge (images:DIR sources need it)"
say "layout ok: opt/coach/coach-edge, etc/coach/edge.json, coach-edge.service, multi-user.target.wants link"

# The unit as systemd reads it. verify checks that ExecStart's binary exists, on this host: a copy of the
# unit pointing into the staged tree stands in (same name, so the same unit is checked). Any message fails.
if command -v systemd-analyze >/dev/null 2>&1; then
  sed "s|^ExecStart=/opt/coach/|ExecStart=$rootfs/opt/coach/|" "$unit" > "$work/coach-edge.service"
  if ! output=$(systemd-analyze verify --man=no "$work/coach-edge.service" 2>&1) || [ -n "$output" ]; then
    printf '%s\n' "$output" >&2
    die "systemd-analyze verify rejected coach-edge.service"
  fi
  say "systemd-analyze verify: coach-edge.service accepted ($(systemd-analyze --version | head -n 1))"
  if exposure=$(systemd-analyze security --offline=yes "$work/coach-edge.service" 2>/dev/null | grep -o 'Overall exposure level.*'); then
    say "systemd-analyze security: $exposure"
  fi
else
  say "note: systemd-analyze not installed (apt-get install systemd); unit not verified"
fi

# Every script answers --help, and --dry-run changes nothing.
for s in scripts/jetson/*.sh; do
  "$s" --help >/dev/null || die "$s --help failed"
done
snapshot=$(find "$rootfs" -printf '%p %s %T@\n' | sort | sha256sum)
scripts/jetson/stage-rootfs.sh --rootfs "$rootfs" --from "$rootfs/opt/coach" --dry-run >/dev/null 2>&1 || die "stage-rootfs.sh --dry-run failed"
scripts/jetson/install.sh --from "$rootfs/opt/coach" --root "$rootfs" --force-config --dry-run >/dev/null 2>&1 || die "install.sh --dry-run failed"
scripts/jetson/shape-link.sh --dev eth0 --rate 10mbit --dry-run >/dev/null 2>&1 || die "shape-link.sh --dry-run failed"
scripts/jetson/build.sh --cpu-ort --dry-run >/dev/null 2>&1 || die "build.sh --dry-run failed"
scripts/jetson/latency-test.sh --edge "$rootfs/opt/coach/coach-edge" --model models/any.onnx --out "$work/latency" --dry-run >/dev/null 2>&1 || die "latency-test.sh --dry-run failed"
[ "$(find "$rootfs" -printf '%p %s %T@\n' | sort | sha256sum)" = "$snapshot" ] || die "a --dry-run changed the staged rootfs"
[ ! -e "$work/latency" ] || die "latency-test.sh --dry-run wrote its output folder"
say "--help and --dry-run ok for every script"

# Lint every script of the project.
if command -v shellcheck >/dev/null 2>&1; then
  shopt -s nullglob
  scripts=(coach .ci/run scripts/*.sh scripts/*/*.sh)
  shopt -u nullglob
  shellcheck "${scripts[@]}" || die "shellcheck found problems (above)"
  say "shellcheck clean: ${#scripts[@]} scripts"
else
  die "shellcheck not installed (apt-get install shellcheck)"
fi
say "ok"
