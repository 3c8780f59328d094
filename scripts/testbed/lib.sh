# shellcheck shell=bash
# What testbed.sh (edge and cloud) and nodes.sh (N devices on a bridge) share: rate parsing, the tbf shaper's
# arguments, and CPU quotas through cgroup v2 or the v1 cpu controller. Sourced, never run.

# cgroup v2 (cpu.max, JetPack 6 and current distributions) when the unified hierarchy offers the cpu controller,
# else the v1 cpu controller (cpu.cfs_quota_us). COACH_CGROUP_MOUNT points the scripts at another tree (tests use a
# fake one).
CGROUP_MOUNT=${COACH_CGROUP_MOUNT:-/sys/fs/cgroup}
# --dry-run, set by the sourcing script: print commands instead of running them.
dry_run=${dry_run:-0}
cgroup_version() {
  if [ -f "$CGROUP_MOUNT/cgroup.controllers" ] && grep -qw cpu "$CGROUP_MOUNT/cgroup.controllers"; then echo 2
  elif [ -f "$CGROUP_MOUNT/cpu/cpu.cfs_quota_us" ]; then echo 1
  else echo 0; fi
}
# The folder under which CPU groups live for the interface found.
cgroup_parent() {
  if [ "$(cgroup_version)" = 2 ]; then echo "$CGROUP_MOUNT"; else echo "$CGROUP_MOUNT/cpu"; fi
}
# CFS takes quotas of at least 1 ms, so the finest throttling for a share p % of one core is a 1 ms quota per
# (100/p) ms period (8 ms for a TX2-like 12.5 %). A short period keeps a saturated device smoothly slowed; a frame
# that finds a full quota after idling still runs up to 1 ms at full speed.
CPU_QUOTA_US=1000

# tbf needs a burst of at least rate/HZ; 32 kbit is plenty up to ~100 Mbit/s with HZ=250+, and more is
# given at high rates so the shaper, not the burst, sets the throughput.
MIN_BURST=4096
# tbf cannot send a queued packet larger than its burst: after a live rate change to a smaller burst, a
# segmentation-offload packet queued under the old, larger one blocks the queue for good (measured here:
# 20 -> 10 Mbit/s with a TCP stream running, nothing sent afterwards). Every packet is kept below the
# smallest burst instead.
# shellcheck disable=SC2034 # used by the scripts that source this file
GSO_MAX_SIZE=4000

rate_bits() {
  local r=${1,,} n unit
  n=${r%%[a-z]*}; unit=${r#"$n"}
  case "$unit" in
    kbit) echo $(( n * 1000 )) ;;
    mbit) echo $(( n * 1000000 )) ;;
    gbit) echo $(( n * 1000000000 )) ;;
    bit|"") echo "$n" ;;
    *) log "unknown rate unit in '$1' (use kbit, mbit or gbit, e.g. 10mbit)"; exit 2 ;;
  esac
}

tbf_args() {
  local rate=$1 bits burst
  bits=$(rate_bits "$rate")
  burst=$(( bits / 250 / 8 ))
  [ "$burst" -lt "$MIN_BURST" ] && burst=$MIN_BURST
  echo "rate $rate burst $burst latency 100ms"
}

# cpu_group_write DIR QUOTA_US PERIOD_US: create the group DIR (under cgroup_parent) with that quota.
cpu_group_write() {
  local dir=$1 quota=$2 period=$3
  if [ "$(cgroup_version)" = 2 ]; then
    # The parent must hand the cpu controller to its children before the group has cpu.max.
    if [ "$dry_run" = 1 ]; then
      printf '+ echo +cpu > %s/cgroup.subtree_control\n+ mkdir -p %s\n+ echo "%s %s" > %s/cpu.max\n' "$CGROUP_MOUNT" "$dir" "$quota" "$period" "$dir"
    else
      grep -qw cpu "$CGROUP_MOUNT/cgroup.subtree_control" || echo +cpu > "$CGROUP_MOUNT/cgroup.subtree_control"
      mkdir -p "$dir"
      echo "$quota $period" > "$dir/cpu.max"
    fi
    log "cpu quota $dir: cgroup v2 cpu.max $quota/$period us"
  elif [ "$dry_run" = 1 ]; then
    printf '+ mkdir -p %s\n+ echo %s > %s/cpu.cfs_period_us\n+ echo %s > %s/cpu.cfs_quota_us\n' "$dir" "$period" "$dir" "$quota" "$dir"
  else
    mkdir -p "$dir"
    # Period first when it grows, quota first when the period shrinks below the old quota: both must stay valid.
    echo "$period" > "$dir/cpu.cfs_period_us" 2>/dev/null || true
    echo "$quota" > "$dir/cpu.cfs_quota_us"
    echo "$period" > "$dir/cpu.cfs_period_us"
    log "cpu quota $dir: cgroup v1 cpu.cfs_quota_us $quota/$period us"
  fi
}

# cpu_quota_for PERCENT: "QUOTA PERIOD" giving PERCENT % of one core (1 ms quota below one core).
cpu_quota_for() {
  local p=$1
  if [ "$p" -lt 100 ]; then echo "$CPU_QUOTA_US $(( CPU_QUOTA_US * 100 / p ))"
  else echo "$(( 100 * p )) 10000"; fi
}

# cpu_group_remove DIR: move any member back to the parent, then remove the group.
cpu_group_remove() {
  local dir=$1 parent
  parent=$(cgroup_parent)
  [ -d "$dir" ] || return 0
  if [ -f "$dir/cgroup.procs" ] && [ "$dry_run" = 0 ]; then
    while read -r pid; do echo "$pid" > "$parent/cgroup.procs" 2>/dev/null || true; done < "$dir/cgroup.procs"
  fi
  run rmdir "$dir" 2>/dev/null || true
}

# netns_check: exit status 0 when root may create namespaces, shape with tc and limit CPU here.
netns_check() {
  [ "$(id -u)" = 0 ] || { log "not root: kernel shaping unavailable"; return 1; }
  command -v ip >/dev/null || { log "ip (iproute2) missing: apt-get install -y iproute2"; return 1; }
  command -v tc >/dev/null || { log "tc (iproute2) missing: apt-get install -y iproute2"; return 1; }
  [ "$(cgroup_version)" != 0 ] || { log "no CPU cgroup: neither cgroup v2 with the cpu controller at $CGROUP_MOUNT nor the v1 cpu controller at $CGROUP_MOUNT/cpu"; return 1; }
  local probe="coach-probe-$$"
  if ! ip netns add "$probe" 2>/dev/null; then log "cannot create network namespaces here"; return 1; fi
  ip netns del "$probe"
  return 0
}

run() {
  if [ "$dry_run" = 1 ]; then printf '+ %s\n' "$*"; else "$@"; fi
}
need_root() {
  if [ "$(id -u)" != 0 ] && [ "$dry_run" = 0 ]; then
    log "needs root (network namespaces, tc and cgroups); run it with sudo, or use --dry-run to see the commands"
    exit 1
  fi
}
