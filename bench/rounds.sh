#!/usr/bin/env bash
# Speed against ONNX Runtime on a shared, noisy machine: ROUNDS rounds, each timing ONNX Runtime's
# f32 scale-1 pass and its own int8 one (the graph its quantize_dynamic makes; median of 5 runs
# each), then `ramscli bench` (steady state per image, median of
# its runs) in f32, bf16 and int8, scale 1 and fused, one right after the other, so that each
# round's ratios compare runs made under the same load.  One line per round, then the median
# ratio of each column over the rounds.
#
#   bench/rounds.sh [ROUNDS] [THREADS]      (default 4 rounds, 2 threads)
#
# Needs what bench/run.sh makes in $BENCH_WORK (default /tmp/ramstrans-bench): run that once first.
set -euo pipefail
rounds=${1:-4}
threads=${2:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_WORK:-/tmp/ramstrans-bench}
cli=${RAMSCLI:-$root/build/ramscli}
py=/usr/bin/python3
for f in vitb.safetensors vitb.q8.safetensors vitb.onnx vitb_int8.onnx x0.npy ort/node_modules/onnxruntime-node; do
    [ -e "$work/$f" ] || { echo "bench/rounds.sh: $work/$f is missing: run bench/run.sh first" >&2; exit 1; }
done

per_image() { # precision mode model
    "$cli" bench --json --runs 3 --threads "$threads" --precision "$1" --mode "$2" --model "$3" \
        --input "$work/x0.npy" | $py -c "import json,sys; print(json.load(sys.stdin)['per_image_s'])"
}

ort_median() { # model.onnx
    ORT_DIR="$work/ort" node "$root/bench/ort_bench.js" "$1" "$threads" 5 "$work/x0.npy" |
        $py -c "import json,sys; print(json.load(sys.stdin)['median_s'])"
}

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for r in $(seq 1 "$rounds"); do
    ort=$(ort_median "$work/vitb.onnx")
    ort_int8=$(ort_median "$work/vitb_int8.onnx")
    f32_s1=$(per_image f32 scale1 "$work/vitb.safetensors")
    f32_f=$(per_image f32 fused "$work/vitb.safetensors")
    bf16_s1=$(per_image bf16 scale1 "$work/vitb.safetensors")
    int8_s1=$(per_image int8 scale1 "$work/vitb.q8.safetensors")
    int8_f=$(per_image int8 fused "$work/vitb.q8.safetensors")
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "$r $ort $f32_s1 $f32_f $bf16_s1 $int8_s1 $int8_f $load $ort_int8" >>"$results"
done
kernels=$("$cli" info --json --precision int8 --model "$work/vitb.q8.safetensors" |
    $py -c "import json,sys; d = json.load(sys.stdin); print(d['kernel'] + ', attention ' + d.get('attention_kernel', '?'))")
$py - "$results" "$threads" "$kernels" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print(f"ViT-B/16 at 448, {sys.argv[2]} threads; int8 kernel {sys.argv[3]}; x = against the round's ONNX Runtime f32 scale 1")
print()
print("| round | ORT f32 scale 1 | ORT int8 scale 1 | f32 scale 1 | f32 fused | bf16 scale 1 | int8 scale 1 | int8 fused | int8 / ORT int8 | load |")
print("|---|---|---|---|---|---|---|---|---|---|")
cols = [8, 2, 3, 4, 5, 6]  # ORT int8, then ramscli's columns
ratios = {k: [] for k in cols + ["own"]}
for row in rows:
    ort = float(row[1])
    cells = [f"{ort:.3f} s"]
    for k in cols:
        v = float(row[k])
        ratios[k].append(v / ort)
        cells.append(f"{v:.3f} s ({v / ort:.2f}x)")
    own = float(row[5]) / float(row[8])
    ratios["own"].append(own)
    print(f"| {row[0]} | " + " | ".join(cells) + f" | {own:.2f} | {row[7]} |")
print("| median of the ratios | 1 | " + " | ".join(f"{statistics.median(ratios[k]):.2f}x" for k in cols + ["own"]) + " | |")
PY
