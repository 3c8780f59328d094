#!/usr/bin/env bash
# On-device latency tests for a Jetson: (1) the head's latency per execution provider, (2) end-to-end
# runs against a cloud at given uplink bandwidths (shaped with shape-link.sh), (3) power and energy per
# frame from the INA3221 input rail. Writes CSV files and a short markdown report.
#
#   scripts/jetson/latency-test.sh --model M [--providers tensorrt,cuda,cpu] [--runs N]
#                                  [--plan DIR --cloud HOST:PORT --dev IFACE [--bandwidths 5mbit,10mbit,20mbit]
#                                   [--frames N]] [--edge PATH] [--out DIR] [--dry-run]
#
#   --model M         ONNX model for the head-latency test (e.g. the plan's head.onnx)
#   --providers LIST  execution providers to try, comma-separated (default tensorrt,cuda,cpu)
#   --runs N          timed inferences per provider (default 200)
#   --plan DIR        plan folder (coach plan --out DIR) for the end-to-end runs; skipped when absent
#   --cloud H:P       the coach-cloud to talk to
#   --dev IFACE       interface towards the cloud, shaped per bandwidth (needs root)
#   --bandwidths L    uplink rates, comma-separated (default 5mbit,10mbit,20mbit)
#   --frames N        frames per end-to-end run (default 500)
#   --edge PATH       the coach-edge binary (default /opt/coach/coach-edge, else dist/jetson/coach-edge)
#   --out DIR         results folder (default runs/jetson-latency-<time>)
#   --dry-run         print the commands; run and write nothing
#   -h, --help        this text
#
# The first TensorRT run of a model builds its engine (minutes on a Jetson) into the engine cache; the
# head test runs each provider once untimed first, so the figures are for cached engines.
# Power is sampled by this script from the module's input rail (VDD_IN / POM_5V_IN) every 100 ms while
# each test runs, independently of the edge's own telemetry, whose J/frame is reported beside it.

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
dry_run=0
say() { printf 'latency-test.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
usage_error() { say "$*"; say "see --help"; exit 2; }
show_command() { local q; printf -v q '%q ' "$@"; printf '+ %s\n' "${q% }"; }
need_value() { if [ "$#" -lt 2 ] || [ -z "$2" ]; then usage_error "option $1 needs a value"; fi; printf '%s' "$2"; }

invocation="$0 $*"
model=
providers=tensorrt,cuda,cpu
runs=200
plan=
cloud=
dev=
bandwidths=5mbit,10mbit,20mbit
frames=500
edge=
out=
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$(need_value "$@"); shift ;;
    --providers) providers=$(need_value "$@"); shift ;;
    --runs) runs=$(need_value "$@"); shift ;;
    --plan) plan=$(need_value "$@"); shift ;;
    --cloud) cloud=$(need_value "$@"); shift ;;
    --dev) dev=$(need_value "$@"); shift ;;
    --bandwidths) bandwidths=$(need_value "$@"); shift ;;
    --frames) frames=$(need_value "$@"); shift ;;
    --edge) edge=$(need_value "$@"); shift ;;
    --out) out=$(need_value "$@"); shift ;;
    --dry-run) dry_run=1 ;;
    -h|--help) sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed -e 's/^# \{0,1\}//'; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
  esac
  shift
done

[ -n "$model" ] || usage_error "--model M is required (the head or full model to time)"
case "$runs" in ''|*[!0-9]*|0) usage_error "--runs takes a positive count, got '$runs'" ;; esac
case "$frames" in ''|*[!0-9]*|0) usage_error "--frames takes a positive count, got '$frames'" ;; esac
if [ -n "$plan" ]; then
  [ -n "$cloud" ] || usage_error "--plan needs --cloud HOST:PORT"
  [ -n "$dev" ] || usage_error "--plan needs --dev IFACE to shape the uplink"
fi
if [ -z "$edge" ]; then
  for candidate in /opt/coach/coach-edge "$here/coach-edge" "$repo_root/dist/jetson/coach-edge" "$repo_root/dist/linux-x64/coach-edge"; do
    if [ -x "$candidate" ]; then edge=$candidate; break; fi
  done
fi
[ -n "$edge" ] || die "no coach-edge found; pass --edge PATH"
[ -n "$out" ] || out=$repo_root/runs/jetson-latency-$(date +%Y%m%d-%H%M%S)
if [ "$dry_run" = 0 ]; then
  [ -x "$edge" ] || die "$edge is not executable"
  [ -f "$model" ] || die "model $model not found"
  if [ -n "$plan" ] && [ ! -d "$plan" ]; then die "plan folder $plan not found"; fi
fi

# --- power from the input rail, sampled in the background ------------------------------------------
# Prints the command that reads the module's input power in mW, or nothing when there is no INA3221.
input_rail_reader() {
  local label dir n
  for label in /sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*/in*_label; do
    [ -e "$label" ] || continue
    case "$(cat "$label")" in
      VDD_IN|POM_5V_IN|5V_IN)
        dir=${label%/*}; n=${label##*/in}; n=${n%_label}
        # shellcheck disable=SC2016  # a command text to run later, expanded then
        printf 'echo $(( $(cat %s/in%s_input) * $(cat %s/curr%s_input) / 1000 ))' "$dir" "$n" "$dir" "$n"
        return 0 ;;
    esac
  done
  for label in /sys/bus/i2c/drivers/ina3221x/*/iio:device*/rail_name_*; do
    [ -e "$label" ] || continue
    case "$(cat "$label")" in
      VDD_IN|POM_5V_IN|5V_IN)
        dir=${label%/*}; n=${label##*rail_name_}
        printf 'cat %s/in_power%s_input' "$dir" "$n"
        return 0 ;;
    esac
  done
  return 0
}
power_reader=$(input_rail_reader)
sampler_pid=
power_log=
start_power() { # $1: log file of "nanoseconds milliwatts" lines
  power_log=$1
  [ -n "$power_reader" ] || return 0
  ( while :; do printf '%s %s\n' "$(date +%s%N)" "$(bash -c "$power_reader")"; sleep 0.1; done ) > "$power_log" 2>/dev/null &
  sampler_pid=$!
}
stop_power() { # prints "mean_W joules seconds" (trapezoidal rule), or "NA NA NA"
  if [ -n "$sampler_pid" ]; then kill "$sampler_pid" 2>/dev/null || true; wait "$sampler_pid" 2>/dev/null || true; sampler_pid=; fi
  if [ -z "$power_reader" ] || [ ! -s "$power_log" ]; then echo "NA NA NA"; return 0; fi
  awk 'NF == 2 && $2 ~ /^[0-9]+$/ { t = $1 / 1e9; p = $2 / 1000
         if (n++) { j += (p + lp) / 2 * (t - lt); s += t - lt }
         lt = t; lp = p }
       END { if (s > 0) printf "%.3f %.3f %.3f\n", j / s, j, s; else print "NA NA NA" }' "$power_log"
}

# Pulls "NAME ... number" out of the edge's output (first match), or "NA".
json_figure() { # $1: log whose last line is coach-edge run --json's summary, $2: its key; NA when absent
  local value
  value=$(tail -n 1 "$1" | grep -Eo "\"$2\":-?[0-9]+(\.[0-9]+)?" | head -n 1 | cut -d: -f2 || true)
  printf '%s' "${value:-NA}"
}

figure() { # $1: log, $2: extended regex naming the figure
  local value
  value=$(grep -Eio "$2[^0-9-]*-?[0-9]+(\.[0-9]+)?" "$1" | head -n 1 | grep -Eo -- '-?[0-9]+(\.[0-9]+)?$' || true)
  printf '%s' "${value:-NA}"
}

shaped=
cleanup() {
  if [ -n "$sampler_pid" ]; then kill "$sampler_pid" 2>/dev/null || true; fi
  if [ -n "$shaped" ]; then "$here/shape-link.sh" --dev "$shaped" --clear || true; fi
}
trap cleanup EXIT

IFS=, read -r -a provider_list <<< "$providers"
IFS=, read -r -a bandwidth_list <<< "$bandwidths"

if [ "$dry_run" = 1 ]; then
  say "dry run; results would go to $out"
  for p in "${provider_list[@]}"; do
    show_command "$edge" selftest --model "$model" --provider "$p" --runs 1
    show_command "$edge" selftest --model "$model" --provider "$p" --runs "$runs"
  done
  if [ -n "$plan" ]; then
    first=1
    for bw in "${bandwidth_list[@]}"; do
      if [ "$first" = 1 ]; then "$here/shape-link.sh" --dev "$dev" --rate "$bw" --dry-run; first=0
      else "$here/shape-link.sh" --dev "$dev" --change "$bw" --dry-run; fi
      show_command "$edge" run --plan "$plan" --cloud "$cloud" --frames "$frames" --no-progress --json
    done
    "$here/shape-link.sh" --dev "$dev" --clear --dry-run
  fi
  say "power: ${power_reader:-no INA3221 input rail on this machine}"
  exit 0
fi

mkdir -p "$out/logs"
say "results in $out"
{
  echo "device: $(tr -d '\0' 2>/dev/null < /proc/device-tree/model || uname -m)"
  echo "l4t: $(head -n 1 /etc/nv_tegra_release 2>/dev/null || echo unknown)"
  echo "nvpmodel: $(nvpmodel -q 2>/dev/null | tr '\n' ' ' || echo unknown)"
  "$edge" --version 2>&1 || true
} > "$out/environment.txt"

# --- 1. head latency per execution provider ------------------------------------------------------------
echo "provider_requested,provider_used,runs,p50_ms,p99_ms,mean_power_w,joules_per_inference" > "$out/head-latency.csv"
for p in "${provider_list[@]}"; do
  log=$out/logs/selftest-$p.log
  say "head latency, provider $p (warm-up run first: a TensorRT engine build can take minutes)"
  "$edge" selftest --model "$model" --provider "$p" --runs 1 > "$out/logs/selftest-$p-warmup.log" 2>&1 || true
  start_power "$out/logs/power-selftest-$p.txt"
  status=0
  "$edge" selftest --model "$model" --provider "$p" --runs "$runs" > "$log" 2>&1 || status=$?
  read -r mean_w joules _ < <(stop_power)
  used=$(grep -Eio '(tensorrt|cuda|cpu)[A-Za-z]*ExecutionProvider|provider[: =]+[A-Za-z]+' "$log" | head -n 1 | awk '{print $NF}' || true)
  per_inference=NA
  if [ "$joules" != NA ]; then per_inference=$(awk -v j="$joules" -v n="$runs" 'BEGIN { printf "%.4f", j / n }'); fi
  if [ "$status" != 0 ]; then used="failed($status)"; fi
  echo "$p,${used:-NA},$runs,$(figure "$log" 'p50'),$(figure "$log" 'p99'),$mean_w,$per_inference" >> "$out/head-latency.csv"
done

# --- 2. end to end against the cloud at each bandwidth -------------------------------------------------
echo "bandwidth,frames,throughput_fps,latency_p50_ms,latency_p95_ms,mean_power_w,joules_per_frame,edge_mj_per_frame,edge_peak_temp_c" > "$out/end-to-end.csv"
if [ -n "$plan" ]; then
  for bw in "${bandwidth_list[@]}"; do
    if [ -z "$shaped" ]; then "$here/shape-link.sh" --dev "$dev" --rate "$bw"; shaped=$dev
    else "$here/shape-link.sh" --dev "$dev" --change "$bw"; fi
    log=$out/logs/run-$bw.log
    say "end to end at $bw: $frames frames against $cloud"
    start_power "$out/logs/power-run-$bw.txt"
    "$edge" run --plan "$plan" --cloud "$cloud" --frames "$frames" --no-progress --json > "$log" 2> "$log.err" || say "coach-edge run at $bw failed; see $log and $log.err"
    read -r mean_w joules _ < <(stop_power)
    per_frame=NA
    if [ "$joules" != NA ]; then per_frame=$(awk -v j="$joules" -v n="$frames" 'BEGIN { printf "%.4f", j / n }'); fi
    echo "$bw,$frames,$(json_figure "$log" throughput_fps),$(json_figure "$log" latency_p50_ms),$(json_figure "$log" latency_p95_ms),$mean_w,$per_frame,$(json_figure "$log" energy_mj_per_frame),$(json_figure "$log" peak_temp_c)" >> "$out/end-to-end.csv"
  done
  "$here/shape-link.sh" --dev "$dev" --clear
  shaped=
fi

# --- 3. report ------------------------------------------------------------------------------------------
csv_table() { awk -F, 'NR == 1 { h = "|"; s = "|"; for (i = 1; i <= NF; i++) { h = h " " $i " |"; s = s " --- |" }; print h; print s; next }
                        { r = "|"; for (i = 1; i <= NF; i++) r = r " " $i " |"; print r }' "$1"; }
{
  echo "# On-device latency test"
  echo
  sed 's/^/    /' "$out/environment.txt"
  echo
  echo "## Head latency per execution provider ($runs runs of $(basename "$model"))"
  echo
  csv_table "$out/head-latency.csv"
  echo
  if [ -n "$plan" ]; then
    echo "## End to end against $cloud ($frames frames per bandwidth, uplink shaped on $dev)"
    echo
    csv_table "$out/end-to-end.csv"
    echo
  fi
  echo "Power: ${power_reader:+input rail sampled every 100 ms by this script; }${power_reader:-no INA3221 input rail found: power columns are NA}."
  echo "Logs of every run are in logs/. Command: $invocation"
} > "$out/report.md"
say "report: $out/report.md"
