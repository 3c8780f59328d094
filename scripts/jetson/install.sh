#!/usr/bin/env bash
# Installs the Coach edge as a systemd service: the deployable folder (coach-edge + ONNX Runtime) to
# /opt/coach, the configuration to /etc/coach/edge.json (an existing one is kept), the hardened unit
# coach-edge.service to /etc/systemd/system, enabled for multi-user.target.
#
#   scripts/jetson/install.sh [--from DIR] [--root DIR] [--prefix DIR] [--config FILE] [--force-config]
#                             [--no-start] [--dry-run]
#
#   --from DIR       folder holding coach-edge (default dist/jetson, made by scripts/jetson/build.sh)
#   --root DIR       install under DIR instead of / (staging an image; implies --no-start)
#   --prefix DIR     where the program goes on the target (default /opt/coach)
#   --config FILE    configuration to install (default scripts/jetson/edge.json); see docs/jetson.md
#   --force-config   replace an existing edge.json (the old one is kept as edge.json.old)
#   --no-start       do not run systemctl (daemon-reload, enable --now) on the live system
#   --dry-run        print every command instead of running it; changes nothing
#   -h, --help       this text
#
# The enablement is a plain symlink (etc/systemd/system/multi-user.target.wants/coach-edge.service), so
# it works for a staged root with no systemd running; on the live system systemctl is also called.

set -euo pipefail

# This script runs from the repository (scripts/jetson/) or from a deployable folder made by build.sh,
# which carries it with the unit template and edge.json.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
dry_run=0
say() { printf 'install.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
usage_error() { say "$*"; say "see --help"; exit 2; }
show_command() { local q; printf -v q '%q ' "$@"; printf '+ %s\n' "${q% }"; }
show_write() { local file=$1 q; shift; printf -v q '%q ' "$@"; printf '+ %s> %q\n' "$q" "$file"; }
run() { if [ "$dry_run" = 1 ]; then show_command "$@"; else "$@"; fi; }
need_value() { if [ "$#" -lt 2 ] || [ -z "$2" ]; then usage_error "option $1 needs a value"; fi; printf '%s' "$2"; }

from=
root=/
prefix=/opt/coach
config=$here/edge.json
force_config=0
start=1

while [ $# -gt 0 ]; do
  case "$1" in
    --from) from=$(need_value "$@"); shift ;;
    --root) root=$(need_value "$@"); shift ;;
    --prefix) prefix=$(need_value "$@"); shift ;;
    --config) config=$(need_value "$@"); shift ;;
    --force-config) force_config=1 ;;
    --no-start) start=0 ;;
    --dry-run) dry_run=1 ;;
    -h|--help) sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed -e 's/^# \{0,1\}//'; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
  esac
  shift
done

if [ -z "$from" ]; then
  if [ -x "$here/coach-edge" ]; then from=$here; else from=$repo_root/dist/jetson; fi
fi
case "$prefix" in /*) ;; *) usage_error "--prefix must be an absolute path on the target, got '$prefix'" ;; esac
[ -x "$from/coach-edge" ] || die "no executable coach-edge in $from: build it with scripts/jetson/build.sh (on the Jetson or an arm64 host) or pass --from DIR"
[ -f "$config" ] || die "configuration $config not found"
[ -f "$here/coach-edge.service" ] || die "unit template $here/coach-edge.service missing"
root=${root%/}
staged=0
if [ -n "$root" ]; then staged=1; fi
if [ "$staged" = 1 ]; then
  [ -d "$root" ] || die "--root $root is not a directory"
  start=0
elif [ "$dry_run" = 0 ] && [ "$(id -u)" != 0 ]; then
  die "installing into / needs root: sudo $0 ..."
fi

etc_coach=$root/etc/coach
unit_dir=$root/etc/systemd/system
unit=$unit_dir/coach-edge.service
target=$root$prefix
config_on_target=/etc/coach/edge.json

if [ "$dry_run" = 1 ]; then say "dry run: installing $from -> $target"; else say "installing $from -> $target"; fi

# The program: coach-edge, the ONNX Runtime libraries it loads (runtimes/<rid>/native/, or beside it) and Skia's
# image decoder beside it.
run install -d -m 0755 "$target"
run install -m 0755 "$from/coach-edge" "$target/coach-edge"
if [ -d "$from/runtimes" ]; then
  run cp -a "$from/runtimes" "$target/"
fi
for lib in "$from"/libonnxruntime*.so* "$from"/libSkiaSharp.so; do
  [ -e "$lib" ] || continue
  run cp -a "$lib" "$target/"
done
if [ -f "$from/build-info.txt" ]; then
  run install -m 0644 "$from/build-info.txt" "$target/build-info.txt"
fi

# The configuration: kept when present, unless --force-config. 0640: it names the key file.
run install -d -m 0755 "$etc_coach"
if [ -f "$etc_coach/edge.json" ] && [ "$force_config" = 0 ]; then
  say "keeping the existing $etc_coach/edge.json (--force-config replaces it)"
else
  if [ -f "$etc_coach/edge.json" ]; then run cp -a "$etc_coach/edge.json" "$etc_coach/edge.json.old"; fi
  run install -m 0644 "$config" "$etc_coach/edge.json"
fi

# The unit, with the target's paths filled in.
run install -d -m 0755 "$unit_dir"
if [ "$dry_run" = 1 ]; then
  show_write "$unit" sed -e "s|@PREFIX@|$prefix|g" -e "s|@CONFIG@|$config_on_target|g" "$here/coach-edge.service"
else
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@CONFIG@|$config_on_target|g" "$here/coach-edge.service" > "$unit"
  chmod 0644 "$unit"
fi

# Growing restart delays need systemd >= 254 (RestartSteps=); JetPack 6 (Ubuntu 22.04) has 249, where
# the unit's fixed RestartSec= applies. The version is read from the target root's libsystemd-shared.
systemd_version() {
  local lib version=0
  for lib in "$root"/usr/lib/systemd/libsystemd-shared-*.so "$root"/lib/systemd/libsystemd-shared-*.so; do
    [ -e "$lib" ] || continue
    lib=${lib##*/libsystemd-shared-}
    lib=${lib%%.*}
    case "$lib" in *[!0-9]*|'') ;; *) [ "$lib" -gt "$version" ] && version=$lib ;; esac
  done
  printf '%s' "$version"
}
if [ "$(systemd_version)" -ge 254 ]; then
  run install -d -m 0755 "$unit_dir/coach-edge.service.d"
  if [ "$dry_run" = 1 ]; then
    show_write "$unit_dir/coach-edge.service.d/backoff.conf" printf '[Service]\nRestartSteps=8\nRestartMaxDelaySec=5min\n'
  else
    printf '[Service]\nRestartSteps=8\nRestartMaxDelaySec=5min\n' > "$unit_dir/coach-edge.service.d/backoff.conf"
  fi
fi

# Enable: the symlink systemctl enable would make, absolute inside the target.
run install -d -m 0755 "$unit_dir/multi-user.target.wants"
run ln -sfn /etc/systemd/system/coach-edge.service "$unit_dir/multi-user.target.wants/coach-edge.service"

if [ "$start" = 1 ] && command -v systemctl >/dev/null 2>&1; then
  run systemctl daemon-reload
  run systemctl enable --now coach-edge.service
  say "started: follow it with  journalctl -u coach-edge -f"
elif [ "$staged" = 1 ]; then
  say "staged under $root; coach-edge starts at the target's next boot"
fi
