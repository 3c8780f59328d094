#!/usr/bin/env bash
# Coach's multi-device testbed on one machine (docs/architecture.md §6, extended to N devices for the pipeline of
# docs/edgepipe.md and the coded workers of docs/coded.md): one network namespace per device, all joined to a
# bridge in a hub namespace, each device's egress shaped with `tc … tbf` (what it sends to the next hop) and each
# device in its own CPU cgroup whose quota stands for its speed.
#
#   nodes.sh up --node NAME:CPU:EGRESS[:INGRESS] [--node ...]
#                         NAME: 1-10 of [a-z0-9]; CPU: percent of one core (100 = no quota, 20 = 1 ms per 5 ms);
#                         EGRESS / INGRESS: a tc rate such as 10mbit, or none. Node i (from 0, in the order
#                         given) gets 198.18.1.(10+i)/24.
#   nodes.sh addr NAME                          print the node's address
#   nodes.sh exec NAME [--no-quota] -- CMD...   run CMD in the node's namespace and CPU group
#   nodes.sh rate NAME EGRESS                   change a node's egress rate live
#   nodes.sh cpu NAME PERCENT                   change a node's CPU quota live (100 removes the limit)
#   nodes.sh status                             show what exists
#   nodes.sh down                               remove everything this script made
#   nodes.sh check                              exit 0 when kernel shaping is possible here
#
# Options: --dry-run prints the commands instead of running them. Needs root for everything but `check`,
# `--help` and `--dry-run`. The addresses are in the RFC 2544 benchmarking range and live only inside the
# namespaces this script creates. testbed.sh (one edge, one cloud) uses a different range and may run beside it.
set -euo pipefail

HUB_NS=coach-hub
BRIDGE=coach-br
STATE=${COACH_NODES_STATE:-/run/coach-nodes}
dry_run=0
# shellcheck source=scripts/testbed/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
log() { printf 'nodes: %s\n' "$*" >&2; }

node_ns() { echo "coach-n-$1"; }
node_if() { echo "cn-$1"; }
hub_if() { echo "ch-$1"; }
node_group() { echo "$(cgroup_parent)/coach-n-$1"; }

# The nodes brought up, one NAME per line in address order.
known_nodes() { [ -f "$STATE" ] && cat "$STATE"; return 0; }

node_index() {
  local i=0 n
  while read -r n; do
    if [ "$n" = "$1" ]; then echo "$i"; return 0; fi
    i=$(( i + 1 ))
  done < <(known_nodes)
  log "no node '$1' is up (nodes: $(known_nodes | tr '\n' ' ')); bring it up with: nodes.sh up --node $1:100:none"
  exit 2
}

node_addr() { echo "198.18.1.$(( 10 + $1 ))"; }

valid_rate() { [ "$1" = none ] || rate_bits "$1" >/dev/null; }

shape() {
  # shape NS IF RATE VERB: add or change (VERB) the root tbf of IF in NS, or remove it for "none".
  local ns=$1 dev=$2 rate=$3 verb=$4
  if [ "$rate" = none ]; then
    run ip netns exec "$ns" tc qdisc del dev "$dev" root 2>/dev/null || true
    return 0
  fi
  # shellcheck disable=SC2046
  run ip netns exec "$ns" tc qdisc "$verb" dev "$dev" root tbf $(tbf_args "$rate")
}

set_cpu() {
  local name=$1 percent=$2 group
  group=$(node_group "$name")
  if ! [[ $percent =~ ^[0-9]+$ ]] || [ "$percent" -lt 1 ]; then
    log "CPU must be a whole percent of one core ≥ 1, e.g. 25 (got '$percent')"; exit 2
  fi
  if [ "$percent" -ge 100 ]; then
    # The group stays (exec joins it) but without a limit.
    if [ "$(cgroup_version)" = 2 ]; then
      if [ "$dry_run" = 1 ]; then printf '+ echo "max 10000" > %s/cpu.max\n' "$group"
      else mkdir -p "$group"; grep -qw cpu "$CGROUP_MOUNT/cgroup.subtree_control" || echo +cpu > "$CGROUP_MOUNT/cgroup.subtree_control"; echo "max 10000" > "$group/cpu.max"; fi
    else
      if [ "$dry_run" = 1 ]; then printf '+ echo -1 > %s/cpu.cfs_quota_us\n' "$group"
      else mkdir -p "$group"; echo -1 > "$group/cpu.cfs_quota_us"; fi
    fi
    return 0
  fi
  # shellcheck disable=SC2046
  cpu_group_write "$group" $(cpu_quota_for "$percent")
}

cmd_up() {
  local specs=() spec name cpu egress ingress i=0 ns nif hif names=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --node) specs+=("$2"); shift ;;
      *) log "up: unknown option '$1' (see --help)"; exit 2 ;;
    esac
    shift
  done
  [ ${#specs[@]} -gt 0 ] || { log "up: give at least one --node NAME:CPU:EGRESS"; exit 2; }
  [ ${#specs[@]} -le 200 ] || { log "up: at most 200 nodes"; exit 2; }
  for spec in "${specs[@]}"; do
    IFS=: read -r name cpu egress ingress <<< "$spec"
    ingress=${ingress:-none}
    [[ $name =~ ^[a-z0-9]{1,10}$ ]] || { log "up: node name '$name' must be 1-10 of [a-z0-9] (it names interfaces of at most 15 characters)"; exit 2; }
    if ! [[ ${cpu:-} =~ ^[0-9]+$ ]] || [ "$cpu" -lt 1 ]; then log "up: '$spec': CPU must be a whole percent ≥ 1"; exit 2; fi
    [ -n "${egress:-}" ] || { log "up: '$spec': give NAME:CPU:EGRESS, e.g. edge:25:10mbit or w1:100:none"; exit 2; }
    valid_rate "$egress"; valid_rate "$ingress"
    for n in "${names[@]+"${names[@]}"}"; do [ "$n" != "$name" ] || { log "up: node '$name' given twice"; exit 2; }; done
    names+=("$name")
  done
  need_root
  cmd_down quiet
  run ip netns add "$HUB_NS"
  run ip -n "$HUB_NS" link set lo up
  run ip -n "$HUB_NS" link add "$BRIDGE" type bridge
  run ip -n "$HUB_NS" link set "$BRIDGE" up
  if [ "$dry_run" = 0 ]; then mkdir -p "$(dirname "$STATE")"; : > "$STATE"; fi
  for spec in "${specs[@]}"; do
    IFS=: read -r name cpu egress ingress <<< "$spec"
    ingress=${ingress:-none}
    ns=$(node_ns "$name"); nif=$(node_if "$name"); hif=$(hub_if "$name")
    run ip netns add "$ns"
    run ip -n "$ns" link set lo up
    run ip link add "$nif" type veth peer name "$hif"
    run ip link set "$nif" netns "$ns"
    run ip link set "$hif" netns "$HUB_NS"
    run ip -n "$HUB_NS" link set "$hif" master "$BRIDGE"
    run ip -n "$ns" addr add "$(node_addr "$i")/24" dev "$nif"
    run ip -n "$ns" link set "$nif" up
    run ip -n "$HUB_NS" link set "$hif" up
    run ip -n "$ns" link set dev "$nif" gso_max_size "$GSO_MAX_SIZE" || log "warning: could not cap gso_max_size on $nif"
    run ip -n "$HUB_NS" link set dev "$hif" gso_max_size "$GSO_MAX_SIZE" || log "warning: could not cap gso_max_size on $hif"
    # What the node sends leaves through its own veth end; what it receives leaves the bridge through the hub end.
    shape "$ns" "$nif" "$egress" add
    shape "$HUB_NS" "$hif" "$ingress" add
    set_cpu "$name" "$cpu"
    if [ "$dry_run" = 0 ]; then echo "$name" >> "$STATE"; fi
    log "up: $name $(node_addr "$i") cpu ${cpu}% egress $egress ingress $ingress"
    i=$(( i + 1 ))
  done
}

cmd_addr() {
  [ $# -eq 1 ] || { log "addr: give one node name"; exit 2; }
  node_addr "$(node_index "$1")"
}

cmd_exec() {
  local name=${1:-} quota=1
  [ -n "$name" ] || { log "exec: give a node name"; exit 2; }
  shift
  if [ "${1:-}" = "--no-quota" ]; then quota=0; shift; fi
  [ "${1:-}" = "--" ] && shift
  [ $# -gt 0 ] || { log "exec: give the command after --"; exit 2; }
  need_root
  node_index "$name" >/dev/null
  local ns group
  ns=$(node_ns "$name"); group=$(node_group "$name")
  if [ "$dry_run" = 1 ]; then printf '+ ip netns exec %s %s\n' "$ns" "$*"; return 0; fi
  if [ "$quota" = 1 ] && [ -d "$group" ]; then
    # The shell joins the group first, so the command and all its threads inherit the quota.
    exec sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec ip netns exec "$@"' nodes-exec "$group" "$ns" "$@"
  fi
  exec ip netns exec "$ns" "$@"
}

cmd_rate() {
  [ $# -eq 2 ] || { log "rate: give a node and a rate, e.g. rate w1 5mbit"; exit 2; }
  need_root
  node_index "$1" >/dev/null
  valid_rate "$2"
  local ns nif
  ns=$(node_ns "$1"); nif=$(node_if "$1")
  if [ "$2" = none ]; then shape "$ns" "$nif" none change
  elif ip netns exec "$ns" tc qdisc show dev "$nif" 2>/dev/null | grep -q tbf; then shape "$ns" "$nif" "$2" change
  else shape "$ns" "$nif" "$2" add; fi
  log "rate: $1 egress $2"
}

cmd_cpu() {
  [ $# -eq 2 ] || { log "cpu: give a node and a percent, e.g. cpu w3 5"; exit 2; }
  need_root
  node_index "$1" >/dev/null
  set_cpu "$1" "$2"
}

cmd_status() {
  local n i=0
  [ -n "$(known_nodes)" ] || { echo "no nodes"; return 0; }
  while read -r n; do
    echo "$n $(node_addr "$i") ns $(node_ns "$n")"
    ip netns exec "$(node_ns "$n")" tc qdisc show dev "$(node_if "$n")" 2>/dev/null | sed 's/^/  egress: /' || true
    if [ -f "$(node_group "$n")/cpu.max" ]; then echo "  cpu.max: $(cat "$(node_group "$n")/cpu.max")"; fi
    i=$(( i + 1 ))
  done < <(known_nodes)
}

cmd_down() {
  local quiet=${1:-} n
  need_root
  while read -r n; do
    [ -n "$n" ] || continue
    if ip netns list 2>/dev/null | grep -qE "^$(node_ns "$n")\b"; then run ip netns del "$(node_ns "$n")"; fi
    cpu_group_remove "$(node_group "$n")"
  done < <(known_nodes)
  if ip netns list 2>/dev/null | grep -qE "^$HUB_NS\b"; then run ip netns del "$HUB_NS"; fi
  if [ "$dry_run" = 0 ]; then rm -f "$STATE"; fi
  [ "$quiet" = quiet ] || log "down: removed nodes, bridge and CPU groups"
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
  addr) cmd_addr "$@" ;;
  exec) cmd_exec "$@" ;;
  rate) cmd_rate "$@" ;;
  cpu) cmd_cpu "$@" ;;
  status) cmd_status ;;
  down) cmd_down ;;
  check) netns_check ;;
  *) log "unknown command '$sub' (see --help)"; exit 2 ;;
esac
