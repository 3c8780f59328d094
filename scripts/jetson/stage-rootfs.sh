#!/usr/bin/env bash
# Stages the Coach edge into a Jetson image before flashing: the same files as install.sh, written under
# a Linux_for_Tegra/rootfs directory (no chroot, no systemd needed), with the unit enabled by symlink.
#
#   scripts/jetson/stage-rootfs.sh --rootfs DIR [--from DIR] [--prefix DIR] [--config FILE] [--dry-run]
#
#   --rootfs DIR   the target root, e.g. ~/nvidia/nvidia_sdk/JetPack_6.x_Linux_JETSON_*/Linux_for_Tegra/rootfs
#   --from DIR     folder holding coach-edge. Default: dist/jetson (scripts/jetson/build.sh, arm64). When that
#                  is absent, dist/linux-x64 (./coach publish) is used with a warning: a host build checks the
#                  layout (CI) but does not run on a Jetson.
#   --prefix DIR   program folder on the target (default /opt/coach)
#   --config FILE  edge.json to install (default scripts/jetson/edge.json)
#   --dry-run      print what would be done; changes nothing
#   -h, --help     this text
#
# The service runs as a systemd DynamicUser, so no account is added to the image's passwd/group files.
# Flash afterwards as usual, e.g.  sudo ./flash.sh jetson-orin-nano-devkit internal  (see docs/jetson.md).

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
dry_run=0
say() { printf 'stage-rootfs.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
usage_error() { say "$*"; say "see --help"; exit 2; }
need_value() { if [ "$#" -lt 2 ] || [ -z "$2" ]; then usage_error "option $1 needs a value"; fi; printf '%s' "$2"; }

rootfs=
from=
passthrough=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rootfs) rootfs=$(need_value "$@"); shift ;;
    --from) from=$(need_value "$@"); shift ;;
    --prefix|--config) passthrough+=("$1" "$(need_value "$@")"); shift ;;
    --dry-run) dry_run=1 ;;
    -h|--help) sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed -e 's/^# \{0,1\}//'; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
  esac
  shift
done

[ -n "$rootfs" ] || usage_error "--rootfs DIR is required"
[ -d "$rootfs" ] || die "--rootfs $rootfs is not a directory"
rootfs=$(cd "$rootfs" && pwd)
[ "$rootfs" != / ] || die "--rootfs / is the running system: use scripts/jetson/install.sh there"
if [ ! -e "$rootfs/etc/os-release" ] && [ ! -e "$rootfs/usr/lib/os-release" ]; then
  say "note: $rootfs has no etc/os-release, so it is not (yet) a Linux_for_Tegra rootfs; staging anyway"
fi

if [ -z "$from" ]; then
  if [ -x "$here/coach-edge" ]; then
    from=$here # run from the deployable folder build.sh made
  elif [ -x "$repo_root/dist/jetson/coach-edge" ]; then
    from=$repo_root/dist/jetson
  elif [ -x "$repo_root/dist/linux-x64/coach-edge" ]; then
    from=$repo_root/dist/linux-x64
    say "warning: no dist/jetson (scripts/jetson/build.sh); staging the HOST build dist/linux-x64 — for layout checks only, it will not run on a Jetson"
  else
    die "no coach-edge to stage: run scripts/jetson/build.sh (arm64, for a real image) or ./coach publish (host build, layout checks only), or pass --from DIR"
  fi
fi

# Warn when the binary is not for the Jetson's CPU.
if command -v file >/dev/null 2>&1 && [ -e "$from/coach-edge" ]; then
  case "$(file -bL "$from/coach-edge")" in
    *aarch64*) ;;
    *) say "warning: $from/coach-edge is not an aarch64 binary ($(file -bL "$from/coach-edge" | cut -d, -f1,2))" ;;
  esac
fi

args=(--from "$from" --root "$rootfs" --no-start "${passthrough[@]}")
if [ "$dry_run" = 1 ]; then args+=(--dry-run); fi
"$here/install.sh" "${args[@]}"
