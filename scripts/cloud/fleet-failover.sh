#!/usr/bin/env bash
# Failover of a Coach cloud fleet on loopback (docs/fleet.md), as CI runs it:
#   1. plans one COACH split of the bundled model into a plan folder both clouds serve;
#   2. starts two coach-cloud backends on that folder, each with its /metrics and /health port;
#   3. starts HAProxy with scripts/cloud/haproxy.cfg as shipped (its addresses from the environment);
#   4. runs one coach-edge through HAProxy, and SIGKILLs the backend that holds the edge mid-run;
#   5. checks from the edge's JSON summary that every frame was answered (none lost), that the edge
#      reconnected and that the surviving backend answered requests after the kill; prints the reconnect
#      count and how long the edge was without a cloud, and the survivor's /metrics.
#
#   scripts/cloud/fleet-failover.sh [--frames N] [--fps F] [--dist DIR] [--keep]
#
# Needs HAProxy (Debian's haproxy package; this script installs nothing) and coach, coach-cloud and
# coach-edge in --dist (default dist/linux-x64, made by ./coach publish when missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
cd "$repo_root"
frames=400
fps=100
dist=dist/linux-x64
keep=0
say() { printf 'fleet-failover.sh: %s\n' "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --frames) [ $# -ge 2 ] || die "--frames needs a number"; frames=$2; shift ;;
    --fps) [ $# -ge 2 ] || die "--fps needs a rate"; fps=$2; shift ;;
    --dist) [ $# -ge 2 ] || die "--dist needs a folder"; dist=$2; shift ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) say "unknown option '$1' (see --help)"; exit 2 ;;
  esac
  shift
done

command -v haproxy >/dev/null 2>&1 || die "haproxy is not installed: apt-get install haproxy (Debian's package; CI installs it)"
if [ "$dist" = dist/linux-x64 ] && { [ ! -x "$dist/coach-cloud" ] || [ ! -x "$dist/coach-edge" ] || [ ! -x "$dist/coach" ]; }; then
  ./coach publish
fi
for binary in coach coach-cloud coach-edge; do [ -x "$dist/$binary" ] || die "$dist/$binary is missing"; done

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$keep" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Five loopback ports nobody listens on: the frontend, two clouds, their two health ports.
free_ports() {
  local taken base
  taken=$(ss -Htln 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
  for _ in $(seq 50); do
    base=$(( 20000 + RANDOM % 30000 ))
    if ! grep -qxE "$base|$((base + 1))|$((base + 2))|$((base + 3))|$((base + 4))" <<<"$taken"; then
      echo "$base"; return 0
    fi
  done
  die "found no five free loopback ports"
}
base=$(free_ports)
frontend=127.0.0.1:$base
cloud_port=("" $((base + 1)) $((base + 2)))
health_port=("" $((base + 3)) $((base + 4)))

# GET http://127.0.0.1:PORT/PATH with bash's /dev/tcp (no HTTP client needed); prints status line and body.
http_get() {
  local port=$1 path=$2 response
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
  response=$(cat <&3)
  exec 3>&-
  printf '%s\n' "$response" | tr -d '\r'
}
health_of() { http_get "${health_port[$1]}" /health 2>/dev/null | tail -n 1; }
field() { sed -n "s/.*\"$2\":\\([0-9.]*\\).*/\\1/p" <<<"$1"; }

say "1. a COACH plan both clouds serve"
plans=$work/plans
"$dist/coach" plan --model models/resnet-fm112.onnx --edge-profile models/profiles/resnet-fm112.cpu.json \
  --cloud-profile models/profiles/resnet-fm112.cpu.json --edge-slowdown 8 --bandwidth 10mbit --calib fixed:4 --out "$plans/coach" >"$work/plan.log" 2>&1 ||
  { cat "$work/plan.log" >&2; die "coach plan failed"; }
if grep -q '"method": *"edge"' "$plans/coach/plan.json"; then die "the plan is edge-only: nothing would cross the link"; fi

say "2. two coach-cloud backends on $plans"
for n in 1 2; do
  "$dist/coach-cloud" serve --listen "127.0.0.1:${cloud_port[$n]}" --metrics-listen "127.0.0.1:${health_port[$n]}" \
    --plans "$plans" --preload --threads 1 --log-interval-s 0 >"$work/cloud$n.out" 2>"$work/cloud$n.err" &
  pids+=($!)
  cloud_pid[n]=$!
done
for n in 1 2; do
  for _ in $(seq 150); do
    [[ $(health_of "$n") == *'"status":"serving"'* ]] && break
    kill -0 "${cloud_pid[$n]}" 2>/dev/null || { cat "$work/cloud$n.err" >&2; die "coach-cloud $n exited"; }
    sleep 0.1
  done
  [[ $(health_of "$n") == *'"status":"serving"'* ]] || { cat "$work/cloud$n.err" >&2; die "coach-cloud $n is not healthy on port ${health_port[$n]}"; }
  say "cloud $n: 127.0.0.1:${cloud_port[$n]}, health $(health_of "$n")"
done

say "3. HAProxy on $frontend (scripts/cloud/haproxy.cfg)"
export COACH_FRONTEND=$frontend COACH_CLOUD1=127.0.0.1:${cloud_port[1]} COACH_HEALTH1=${health_port[1]} \
  COACH_CLOUD2=127.0.0.1:${cloud_port[2]} COACH_HEALTH2=${health_port[2]}
haproxy -c -q -f "$here/haproxy.cfg" || die "haproxy refused scripts/cloud/haproxy.cfg"
haproxy -db -f "$here/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
pids+=($!)
haproxy_pid=$!
for _ in $(seq 50); do
  ss -Htln 2>/dev/null | awk '{print $4}' | grep -qx "$frontend" && break
  kill -0 "$haproxy_pid" 2>/dev/null || { cat "$work/haproxy.log" >&2; die "haproxy exited"; }
  sleep 0.1
done

say "4. coach-edge: $frames frames at $fps frames/s through HAProxy; one backend is killed mid-run"
# Each line of the edge's log is stamped with the time it arrived, to time the reconnect.
"$dist/coach-edge" run --plan "$plans/coach" --cloud "$frontend" --frames "$frames" --fps "$fps" --scheduler fixed \
  --no-progress --json >"$work/edge.out" 2> >(while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done >"$work/edge.err") &
edge_pid=$!
pids+=("$edge_pid")
victim=
for _ in $(seq 200); do
  for n in 1 2; do
    health=$(health_of "$n")
    if [ "$(field "$health" connections)" = 1 ] && [ "$(field "$health" answered)" -gt 20 ] 2>/dev/null; then victim=$n; break 2; fi
  done
  kill -0 "$edge_pid" 2>/dev/null || break
  sleep 0.05
done
[ -n "$victim" ] || { cat "$work/edge.err" >&2; die "no backend took the edge's connection and answered it"; }
survivor=$(( 3 - victim ))
answered_before=$(field "$(health_of "$survivor")" answered)
killed_at=$EPOCHREALTIME
kill -KILL "${cloud_pid[$victim]}"
wait "${cloud_pid[$victim]}" 2>/dev/null || true
say "SIGKILL to cloud $victim after it answered $(field "$health" answered) requests"

wait "$edge_pid" || { cat "$work/edge.err" >&2; die "coach-edge failed"; }
summary=$(tail -n 1 "$work/edge.out")
printf '%s\n' "$summary"

say "5. every frame answered, through the other backend"
sent=$(field "$summary" frames_sent)
answered=$(field "$summary" frames_answered)
failed=$(field "$summary" frames_failed)
reconnects=$(field "$summary" reconnects)
fallback=$(field "$summary" fallback_answers)
[ "$sent" = "$frames" ] || die "the edge sent $sent of $frames frames"
if [ "$answered" != "$sent" ] || [ "$failed" != 0 ]; then die "answered $answered of $sent frames, $failed lost"; fi
[ "${reconnects:-0}" -ge 1 ] || die "the edge never reconnected after its cloud was killed"
answered_after=$(field "$(health_of "$survivor")" answered)
[ "$answered_after" -gt "$answered_before" ] || die "cloud $survivor answered nothing after the kill ($answered_before before, $answered_after after)"
lost_at=$(grep -m 1 'edge: .*answering on the edge' "$work/edge.err" | cut -d ' ' -f 1)
back_at=$(grep -m 1 'edge: reconnected to the cloud' "$work/edge.err" | cut -d ' ' -f 1)
[ -n "$back_at" ] || { cat "$work/edge.err" >&2; die "the edge logged no reconnect"; }
awk -v k="$killed_at" -v l="${lost_at:-$killed_at}" -v b="$back_at" 'BEGIN {
  printf "fleet-failover.sh: reconnect: %.0f ms from the kill to the edge noticing, %.0f ms more to the next connection\n", (l - k) * 1000, (b - l) * 1000 }' >&2
say "ok: $answered/$sent frames answered, 0 lost; $reconnects reconnect(s), $fallback frame(s) answered on the edge meanwhile; cloud $survivor answered $((answered_after - answered_before)) requests after the kill"
say "cloud $survivor /metrics:"
http_get "${health_port[$survivor]}" /metrics | sed '1,/^$/d' | grep '^coach_cloud' >&2
