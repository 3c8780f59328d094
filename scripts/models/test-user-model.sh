#!/usr/bin/env bash
# A user's own model and images end to end (docs/data.md), as CI runs it:
#   1. exports a model of `coach models imagenet` (default SqueezeNet 1.1, the smallest) at 3×224×224
#      (torchvision, random weights; Debian's python3-torch, python3-torchvision, python3-onnx) unless
#      it is already in .cache/models/imagenet/;
#   2. writes the bundled test frames as a folder of JPEGs in class subfolders (coach data images);
#   3. profiles the model and plans it with COACH and label-free calibration on those JPEGs
#      (coach plan --calib images:DIR): plan.json must say so and carry calibrated bits;
#   4. checks the plan's head.onnx + tail.onnx against the full model (coach bench split --plan);
#   5. runs coach-edge --source images:DIR against coach-cloud: every frame must be answered;
#   6. the bundled model on the same JPEGs: the accuracy of an edge run through a split plan must
#      match coach eval's on the folder (within one frame in a hundred).
#
#   scripts/models/test-user-model.sh [--model squeezenet1_1-224|shufflenet_v2_x1_0-224|efficientnet_b0-224|resnet50-224]
#                                     [--frames N] [--dist DIR] [--keep] [--skip-bundled]
#
# Needs coach, coach-cloud and coach-edge in --dist (default dist/linux-x64, made by ./coach publish
# when missing) and /usr/bin/python3 with torch, torchvision and onnx for the export.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
cd "$repo_root"
frames=100
dist=dist/linux-x64
keep=0
name=squeezenet1_1-224
bundled=1
say() { printf 'test-user-model.sh: %s\n' "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --frames) [ $# -ge 2 ] || die "--frames needs a number"; frames=$2; shift ;;
    --dist) [ $# -ge 2 ] || die "--dist needs a folder"; dist=$2; shift ;;
    --keep) keep=1 ;;
    --model) [ $# -ge 2 ] || die "--model needs a name"; name=$2; shift ;;
    --skip-bundled) bundled=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) say "unknown option '$1' (see --help)"; exit 2 ;;
  esac
  shift
done

if [ "$dist" = dist/linux-x64 ] && { [ ! -x "$dist/coach-cloud" ] || [ ! -x "$dist/coach-edge" ] || [ ! -x "$dist/coach" ]; }; then
  ./coach publish
fi
for binary in coach coach-cloud coach-edge; do [ -x "$dist/$binary" ] || die "$dist/$binary is missing"; done
coach=$dist/coach

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$keep" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
field() { sed -n "s/.*\"$2\":\\([0-9.]*\\).*/\\1/p" <<<"$1"; }

# Starts coach-cloud on a free loopback port for plan $1; prints the address.
start_cloud() {
  local port address
  for _ in $(seq 50); do
    port=$(( 20000 + RANDOM % 30000 ))
    ss -Htln 2>/dev/null | awk '{print $4}' | grep -qx "127.0.0.1:$port" || break
  done
  address=127.0.0.1:$port
  "$dist/coach-cloud" serve --plans "$1" --listen "$address" --log-interval-s 0 >"$work/cloud-$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 150); do
    ss -Htln 2>/dev/null | awk '{print $4}' | grep -qx "$address" && { echo "$address"; return 0; }
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/cloud-$port.log" >&2; die "coach-cloud exited"; }
    sleep 0.1
  done
  cat "$work/cloud-$port.log" >&2
  die "coach-cloud is not listening on $address"
}

# Runs coach-edge on plan $1 with source $2 against a cloud; prints its JSON summary; every frame must be answered.
edge_run() {
  local cloud summary sent answered failed
  cloud=$(start_cloud "$1")
  "$dist/coach-edge" run --plan "$1" --cloud "$cloud" --source "$2" --frames "$frames" --scheduler fixed \
    --no-progress --json >"$work/edge.out" 2>"$work/edge.err" || { cat "$work/edge.err" >&2; die "coach-edge failed on $1"; }
  summary=$(tail -n 1 "$work/edge.out")
  sent=$(field "$summary" frames_sent)
  answered=$(field "$summary" frames_answered)
  failed=$(field "$summary" frames_failed)
  [ "$sent" = "$frames" ] || die "the edge sent $sent of $frames frames"
  if [ "$answered" != "$sent" ] || [ "$failed" != 0 ]; then die "answered $answered of $sent frames, $failed lost"; fi
  echo "$summary"
}

model=.cache/models/imagenet/$name.onnx
say "1. $model"
if [ ! -f "$model" ]; then
  /usr/bin/python3 scripts/models/export_paper_models.py --set imagenet --only "${name%-224}" \
    || die "the export failed; install Debian's python3-torch python3-torchvision python3-onnx"
fi
[ -f "$model" ] || die "the export wrote no $model"

say "2. $frames bundled test frames as JPEG"
"$coach" data images --out "$work/jpg" --frames "$frames" --format jpeg --quality 90 >&2

say "3. profile, and a COACH plan with label-free calibration on the JPEGs"
"$coach" profile --model "$model" --device this-machine --out "$work/profile.json" --runs 5 >&2
"$coach" plan --model "$model" --edge-profile "$work/profile.json" --cloud-profile "$work/profile.json" --edge-slowdown 8 \
  --bandwidth 10mbit --calib "images:$work/jpg" --calib-frames "$frames" --method coach --out "$work/plan" >&2
grep -q '"calibration": *"[^"]*label-free' "$work/plan/plan.json" || { cat "$work/plan/plan.json" >&2; die "plan.json does not say its bits come from label-free calibration"; }

say "4. head.onnx + tail.onnx against the full model"
"$coach" bench split --plan "$work/plan" >&2 || die "the plan's head and tail do not reproduce the full model"

say "5. coach-edge --source images: against coach-cloud"
summary=$(edge_run "$work/plan" "images:$work/jpg")
say "ok: $(field "$summary" frames_answered)/$frames frames answered; $(field "$summary" bytes_per_frame) B a frame on the wire"

[ "$bundled" = 1 ] || exit 0
say "6. the bundled model on the same JPEGs: edge run against coach eval"
expected=$("$coach" eval --model resnet-fm112 --data "images:$work/jpg" --json 2>/dev/null | tail -n 1)
"$coach" plan --model models/resnet-fm112.onnx --edge-profile models/profiles/resnet-fm112.cpu.json \
  --cloud-profile models/profiles/resnet-fm112.cpu.json --edge-slowdown 8 --bandwidth 10mbit --calib fixed:8 \
  --method coach --out "$work/plan-fm" >&2
summary=$(edge_run "$work/plan-fm" "images:$work/jpg")
eval_accuracy=$(field "$expected" accuracy)
edge_accuracy=$(field "$summary" accuracy)
awk -v a="$eval_accuracy" -v b="$edge_accuracy" -v n="$frames" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1.0 / n + 1e-9 || d <= 0.01) }' \
  || die "the edge run's accuracy $edge_accuracy differs from coach eval's $eval_accuracy on the same JPEGs"
say "ok: coach eval $eval_accuracy, edge run through a split plan $edge_accuracy on $frames JPEGs"
