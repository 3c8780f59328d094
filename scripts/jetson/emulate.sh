#!/usr/bin/env bash
# Runs a linux-arm64 program (the cross-compiled coach-edge) on an x86-64 machine under qemu-user, as the
# CI does:
#
#   scripts/jetson/emulate.sh dist/linux-arm64/coach-edge --version
#   scripts/jetson/emulate.sh dist/linux-arm64/coach-edge selftest --model models/resnet-fm112.onnx
#
# Why not plain `qemu-aarch64-static PROGRAM`: ONNX Runtime's CPU detection (cpuinfo) parses /proc/cpuinfo
# while the library loads, and qemu-user hands an arm64 program the host's x86 /proc/cpuinfo; the arm64
# parser then dereferences a null pointer inside dlopen (SIGSEGV before any Coach code runs). So the program
# runs in a private mount namespace where /proc/cpuinfo is that of a Jetson AGX Orin (Cortex-A78AE cores,
# one entry per CPU of this machine). Needs root, or unprivileged user namespaces; the arm64 C runtime
# comes from Debian's multiarch packages (./coach publish --rid linux-arm64 installs them as root).
set -euo pipefail

if [ $# -lt 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
  sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  [ $# -ge 1 ] && exit 0 || exit 2
fi

qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
if [ -z "$qemu" ]; then
  echo "emulate.sh: qemu-aarch64 is missing; install it with: apt-get install -y qemu-user-static" >&2
  exit 1
fi
if [ ! -e /lib/ld-linux-aarch64.so.1 ]; then
  echo "emulate.sh: the arm64 C runtime is missing; install it with: dpkg --add-architecture arm64 && apt-get update && apt-get install -y libc6:arm64 libstdc++6:arm64 libssl3:arm64" >&2
  exit 1
fi

cpuinfo=$(mktemp)
trap 'rm -f "$cpuinfo"' EXIT
for ((cpu = 0; cpu < $(nproc); cpu++)); do
  printf 'processor\t: %d\nBogoMIPS\t: 62.50\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp uscat ilrcpc flagm paca pacg\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: 0xd42\nCPU revision\t: 1\n\n' "$cpu"
done > "$cpuinfo"

# The bind mount lives only in the new namespace: the machine's /proc/cpuinfo is untouched.
# shellcheck disable=SC2016 # expanded by the inner shell
inner='mount --bind "$0" /proc/cpuinfo && shift && exec "$@"'
if [ "$(id -u)" = 0 ]; then
  unshare --mount --propagation private sh -c "$inner" "$cpuinfo" x "$qemu" "$@"
else
  unshare --user --map-root-user --mount --propagation private sh -c "$inner" "$cpuinfo" x "$qemu" "$@"
fi
