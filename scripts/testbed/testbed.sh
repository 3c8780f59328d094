#!/usr/bin/env bash
# Coach testbed on one machine (docs/architecture.md §6): two network namespaces joined by a veth pair,
# the edge→cloud link shaped with `tc … tbf` (rate changeable during a run), and the edge in a CPU
# cgroup whose quota makes it a stated factor slower than the cloud.
#
#   testbed.sh up [--rate 10mbit] [--edge-cpu-percent 25 | --edge-slowdown 8]
#                                                            create namespaces, link, shaping, cgroup
#   testbed.sh rate RATE                                     change the link rate live (e.g. 5mbit)
#   testbed.sh schedule "20mbit:10,10mbit:10,5mbit:10"       follow a bandwidth schedule (rate:seconds,...)
#   testbed.sh cloud -- CMD...                               run CMD in the cloud namespace
#   testbed.sh edge [--no-quota] -- CMD...                   run CMD in the edge namespace, inside the CPU cgroup (or not)
#   testbed.sh status                                        show what exists
#   testbed.sh down                                          remove everything this script made
#   testbed.sh check                                         exit 0 when kernel shaping is possible here (root, netns, tc, cgroup)
#
# Options: --dry-run prints the commands instead of running them. Needs root for everything but
# `check` and `--help`. Addresses: 198.18.0.1 (edge) and 198.18.0.2 (cloud), the RFC 2544
# benchmarking range, living only inside the two namespaces this script creates.
set -euo pipefail

EDGE_NS=${COACH_EDGE_NS:-coach-edge}
CLOUD_NS=${COACH_CLOUD_NS:-coach-cloud}
EDGE_IF=coach-veth-e
CLOUD_IF=coach-veth-c
EDGE_ADDR=198.18.0.1
CLOUD_ADDR=198.18.0.2
# shellcheck source=scripts/testbed/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CGROUP=$(cgroup_parent)/coach-edge
dry_run=0

usage() { sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
log() { printf 'testbed: %s\n' "$*" >&2; }

cmd_check() { netns_check; }

cmd_up() {
  local rate=10mbit edge_cpu=100 slowdown=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --rate) rate=$2; shift ;;
      --edge-cpu-percent) edge_cpu=$2; shift ;;
      --edge-slowdown) slowdown=$2; shift ;;
      *) log "up: unknown option '$1'"; exit 2 ;;
    esac
    shift
  done
  if ! [[ $slowdown =~ ^[0-9]+$ ]]; then log "up: --edge-slowdown takes a whole factor, e.g. 8"; exit 2; fi
  if [ "$slowdown" -gt 1 ]; then edge_cpu=$(( 100 / slowdown )); fi
  need_root
  rate_bits "$rate" >/dev/null
  cmd_down quiet
  run ip netns add "$EDGE_NS"
  run ip netns add "$CLOUD_NS"
  run ip link add "$EDGE_IF" type veth peer name "$CLOUD_IF"
  run ip link set "$EDGE_IF" netns "$EDGE_NS"
  run ip link set "$CLOUD_IF" netns "$CLOUD_NS"
  run ip -n "$EDGE_NS" addr add "$EDGE_ADDR/30" dev "$EDGE_IF"
  run ip -n "$CLOUD_NS" addr add "$CLOUD_ADDR/30" dev "$CLOUD_IF"
  run ip -n "$EDGE_NS" link set lo up
  run ip -n "$CLOUD_NS" link set lo up
  run ip -n "$EDGE_NS" link set "$EDGE_IF" up
  run ip -n "$CLOUD_NS" link set "$CLOUD_IF" up
  if ! run ip -n "$EDGE_NS" link set dev "$EDGE_IF" gso_max_size "$GSO_MAX_SIZE" \
    || ! run ip -n "$CLOUD_NS" link set dev "$CLOUD_IF" gso_max_size "$GSO_MAX_SIZE"; then
    log "warning: could not cap gso_max_size at $GSO_MAX_SIZE B; a live rate change may stall the link"
  fi
  # Shape both directions: tensors go edge→cloud, results cloud→edge.
  # shellcheck disable=SC2046
  run ip netns exec "$EDGE_NS" tc qdisc add dev "$EDGE_IF" root tbf $(tbf_args "$rate")
  # shellcheck disable=SC2046
  run ip netns exec "$CLOUD_NS" tc qdisc add dev "$CLOUD_IF" root tbf $(tbf_args "$rate")
  if [ "$edge_cpu" -lt 100 ] || [ "$edge_cpu" -gt 100 ]; then
    local period=10000 quota=$(( 100 * edge_cpu ))
    if [ "$edge_cpu" -lt 100 ]; then period=$(( CPU_QUOTA_US * 100 / edge_cpu )); quota=$CPU_QUOTA_US; fi
    if [ "$slowdown" -gt 1 ]; then period=$(( CPU_QUOTA_US * slowdown )); quota=$CPU_QUOTA_US; fi
    cpu_group_write "$CGROUP" "$quota" "$period"
  fi
  log "up: edge $EDGE_ADDR ($EDGE_NS, cpu ${edge_cpu}% of one core, slowdown ${slowdown}) <-> cloud $CLOUD_ADDR ($CLOUD_NS), $rate"
}

cmd_rate() {
  [ $# -eq 1 ] || { log "rate: give one rate, e.g. 5mbit"; exit 2; }
  need_root
  rate_bits "$1" >/dev/null
  # shellcheck disable=SC2046
  run ip netns exec "$EDGE_NS" tc qdisc change dev "$EDGE_IF" root tbf $(tbf_args "$1")
  # shellcheck disable=SC2046
  run ip netns exec "$CLOUD_NS" tc qdisc change dev "$CLOUD_IF" root tbf $(tbf_args "$1")
  log "rate: $1"
}

cmd_schedule() {
  [ $# -eq 1 ] || { log "schedule: give rate:seconds,..., e.g. 20mbit:10,10mbit:10,5mbit:10"; exit 2; }
  local step rate secs
  IFS=, read -r -a steps <<< "$1"
  for step in "${steps[@]}"; do
    rate=${step%%:*}; secs=${step#*:}
    cmd_rate "$rate"
    if [ "$dry_run" = 1 ]; then printf '+ sleep %s\n' "$secs"; else sleep "$secs"; fi
  done
}

cmd_exec() {
  local ns=$1 cgroup=$2; shift 2
  if [ "${1:-}" = "--no-quota" ]; then cgroup=0; shift; fi
  [ "${1:-}" = "--" ] && shift
  [ $# -gt 0 ] || { log "give the command after --"; exit 2; }
  need_root
  if [ "$dry_run" = 1 ]; then printf '+ ip netns exec %s %s\n' "$ns" "$*"; return 0; fi
  if [ "$cgroup" = 1 ] && [ -d "$CGROUP" ]; then
    # The shell joins the cgroup first, so the command and all its threads inherit the quota.
    exec sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec ip netns exec "$@"' testbed-edge "$CGROUP" "$ns" "$@"
  fi
  exec ip netns exec "$ns" "$@"
}

cmd_status() {
  ip netns list 2>/dev/null | grep -E "^($EDGE_NS|$CLOUD_NS)\b" || echo "no testbed namespaces"
  ip netns exec "$EDGE_NS" tc qdisc show dev "$EDGE_IF" 2>/dev/null || true
  if [ -f "$CGROUP/cpu.max" ]; then echo "edge cgroup quota (v2 cpu.max): $(cat "$CGROUP/cpu.max") us"
  elif [ -d "$CGROUP" ]; then echo "edge cgroup quota (v1): $(cat "$CGROUP/cpu.cfs_quota_us")/$(cat "$CGROUP/cpu.cfs_period_us") us"; fi
  return 0
}

cmd_down() {
  local quiet=${1:-}
  need_root
  if ip netns list 2>/dev/null | grep -qE "^$EDGE_NS\b"; then run ip netns del "$EDGE_NS"; fi
  if ip netns list 2>/dev/null | grep -qE "^$CLOUD_NS\b"; then run ip netns del "$CLOUD_NS"; fi
  cpu_group_remove "$CGROUP"
  [ "$quiet" = quiet ] || log "down: removed namespaces, link and cgroup"
}

args=()
for a in "$@"; do
  case "$a" in
    --dry-run) dry_run=1 ;;
    -h|--help) usage; exit 0 ;;
    *) args+=("$a") ;;
  esac
done
set -- "${args[@]+"${args[@]}"}"
sub=${1:-}
[ -n "$sub" ] || { usage; exit 2; }
shift
case "$sub" in
  up) cmd_up "$@" ;;
  rate) cmd_rate "$@" ;;
  schedule) cmd_schedule "$@" ;;
  cloud) cmd_exec "$CLOUD_NS" 0 "$@" ;;
  edge) cmd_exec "$EDGE_NS" 1 "$@" ;;
  status) cmd_status ;;
  down) cmd_down ;;
  check) cmd_check ;;
  *) log "unknown command '$sub' (see --help)"; exit 2 ;;
esac
