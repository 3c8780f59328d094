#!/usr/bin/env bash
# Shapes the device's uplink with tc's token bucket filter (tbf), for field experiments at a chosen
# bandwidth: set a rate, change it live during a run, show it, or clear it.
#
#   scripts/jetson/shape-link.sh --dev IFACE --rate RATE [--burst BYTES] [--latency MS] [--dry-run]
#   scripts/jetson/shape-link.sh --dev IFACE --change RATE [--dry-run]
#   scripts/jetson/shape-link.sh --dev IFACE --clear [--dry-run]
#   scripts/jetson/shape-link.sh --dev IFACE --show
#
#   --dev IFACE      the interface towards the cloud (eth0, wlan0, l4tbr0 for USB device mode, ...)
#   --rate RATE      set (or replace) the root qdisc: tbf at RATE, e.g. 10mbit, 500kbit, 2.5mbit, 1gbit
#   --change RATE    alter the rate of the tbf already there, without dropping the queue (live schedules)
#   --clear          remove the root qdisc (back to the kernel default)
#   --show           print the current root qdisc
#   --burst BYTES    bucket size (default: 10 ms at RATE, at least 4096 bytes)
#   --latency MS     longest a packet may wait in the bucket (default 50)
#   --allow-loopback permit --dev lo (it would slow every local service, so it is refused by default)
#   --dry-run        print the tc commands; changes nothing
#   -h, --help       this text
#
# tbf shapes what the device SENDS (its egress): the cut tensors to the cloud, which is what the paper's
# bandwidth means here; results coming back are small. Needs root (CAP_NET_ADMIN) and iproute2's tc.

set -euo pipefail

dry_run=0
say() { printf 'shape-link.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
usage_error() { say "$*"; say "see --help"; exit 2; }
show_command() { local q; printf -v q '%q ' "$@"; printf '+ %s\n' "${q% }"; }
run() { if [ "$dry_run" = 1 ]; then show_command "$@"; else "$@"; fi; }
need_value() { if [ "$#" -lt 2 ] || [ -z "$2" ]; then usage_error "option $1 needs a value"; fi; printf '%s' "$2"; }

dev=
action=
rate=
burst=
latency_ms=50
allow_loopback=0
set_action() { [ -z "$action" ] || usage_error "choose one of --rate, --change, --clear, --show"; action=$1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --dev) dev=$(need_value "$@"); shift ;;
    --rate) set_action set; rate=$(need_value "$@"); shift ;;
    --change) set_action change; rate=$(need_value "$@"); shift ;;
    --clear) set_action clear ;;
    --show) set_action show ;;
    --burst) burst=$(need_value "$@"); shift ;;
    --latency) latency_ms=$(need_value "$@"); shift ;;
    --allow-loopback) allow_loopback=1 ;;
    --dry-run) dry_run=1 ;;
    -h|--help) sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed -e 's/^# \{0,1\}//'; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
  esac
  shift
done

[ -n "$dev" ] || usage_error "--dev IFACE is required (the interface towards the cloud; see: ip -brief link)"
[ -n "$action" ] || usage_error "say what to do: --rate RATE, --change RATE, --clear or --show"
case "$dev" in
  *[!A-Za-z0-9_.@:-]*) usage_error "'$dev' is not an interface name" ;;
esac
if [ "$dev" = lo ] && [ "$allow_loopback" = 0 ]; then
  die "refusing to shape the loopback interface: it would slow every local service (and a cloud on this host is not a field link); pass --allow-loopback if that is really meant"
fi
command -v tc >/dev/null 2>&1 || die "tc not found: apt-get install -y iproute2"
if [ ! -e "/sys/class/net/$dev" ]; then
  if [ "$dry_run" = 1 ]; then
    say "note: no interface '$dev' on this machine (dry run goes on)"
  else
    die "no interface '$dev' here; the interfaces are: $(cd /sys/class/net && printf '%s ' *)"
  fi
fi

# RATE as bits per second: NUMBER followed by bit, kbit, mbit or gbit (tc's own "mbps" means megaBYTES).
rate_bps() {
  local text=$1
  awk -v t="$text" 'BEGIN {
    if (match(t, /^[0-9]+(\.[0-9]+)?/) == 0) exit 1
    n = substr(t, 1, RLENGTH); u = tolower(substr(t, RLENGTH + 1))
    if (u == "bit") m = 1; else if (u == "kbit") m = 1e3; else if (u == "mbit") m = 1e6; else if (u == "gbit") m = 1e9; else exit 1
    v = n * m; if (v < 8000) exit 1
    printf "%.0f", v
  }'
}

if [ "$action" = set ] || [ "$action" = change ]; then
  bps=$(rate_bps "$rate") || usage_error "rate '$rate' is not like 10mbit, 500kbit, 2.5mbit or 1gbit (at least 8kbit)"
  case "$latency_ms" in ''|*[!0-9]*) usage_error "--latency takes whole milliseconds, got '$latency_ms'" ;; esac
  if [ -z "$burst" ]; then
    # 10 ms of traffic: tbf needs at least rate/HZ bytes per bucket to reach its rate.
    burst=$(( bps / 8 / 100 ))
    [ "$burst" -ge 4096 ] || burst=4096
  fi
  case "$burst" in ''|*[!0-9]*) usage_error "--burst takes bytes, got '$burst'" ;; esac
fi

if [ "$dry_run" = 0 ] && [ "$action" != show ] && [ "$(id -u)" != 0 ]; then
  die "changing qdiscs needs root (CAP_NET_ADMIN): sudo $0 ..."
fi

case "$action" in
  set)
    run tc qdisc replace dev "$dev" root tbf rate "${bps}bit" burst "$burst" latency "${latency_ms}ms"
    [ "$dry_run" = 1 ] || say "$dev shaped to $rate (burst $burst B, latency ${latency_ms} ms)"
    ;;
  change)
    if [ "$dry_run" = 0 ] && ! tc qdisc show dev "$dev" root | grep -q '^qdisc tbf'; then
      die "$dev has no tbf to change; set one first with --rate"
    fi
    run tc qdisc change dev "$dev" root tbf rate "${bps}bit" burst "$burst" latency "${latency_ms}ms"
    [ "$dry_run" = 1 ] || say "$dev now at $rate"
    ;;
  clear)
    if [ "$dry_run" = 0 ] && ! tc qdisc show dev "$dev" root | grep -Eq '^qdisc (tbf|netem|htb)'; then
      say "$dev has no shaping qdisc; nothing to clear"
    else
      run tc qdisc del dev "$dev" root
      [ "$dry_run" = 1 ] || say "$dev unshaped"
    fi
    ;;
  show)
    tc qdisc show dev "$dev" root
    ;;
esac
