#!/usr/bin/env bash
# The performance comparison of issue 5, in one run on the same cores and thread count:
#   ramscli (whole process on 1 and on 6 inputs: steady state = the difference / 5; cold start),
#   ONNX Runtime's CPU engine (npm onnxruntime-node, installed with --ignore-scripts into a
#   scratch folder, never a project dependency) on the same scale-1 network exported to ONNX,
#   and the PyTorch reference; ViT-B/16 at 448 with random weights; peak RSS of each.
#
#   bench/run.sh [THREADS]      (default 2; build first: cmake --build build)
#
# Work files (a 350 MB model, the ONNX export, ORT) go to $BENCH_WORK (default /tmp/ramstrans-bench).
set -euo pipefail
threads=${1:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_WORK:-/tmp/ramstrans-bench}
cli=$root/build/ramscli
py=/usr/bin/python3
mkdir -p "$work"
cd "$root"

if [ ! -f "$work/vitb.safetensors" ]; then
    $py tools/make_random_checkpoint.py --preset vitb448 --out "$work/vitb.pt"
    $py tools/convert.py --input "$work/vitb.pt" --output "$work/vitb.safetensors"
    rm -f "$work/vitb.pt"
fi
if [ ! -f "$work/x5.npy" ]; then
    $py - "$work" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(5)
for i in range(6):
    np.save(f"{sys.argv[1]}/x{i}.npy", rng.standard_normal((3, 448, 448)).astype(np.float32))
PY
fi
[ -f "$work/vitb.onnx" ] || $py tools/export_onnx.py --model "$work/vitb.safetensors" --out "$work/vitb.onnx"
if [ ! -d "$work/ort/node_modules/onnxruntime-node" ]; then
    mkdir -p "$work/ort"
    (cd "$work/ort" && npm install --ignore-scripts --no-audit --no-fund onnxruntime-node@1.20.1 >/dev/null)
fi

# Wall seconds and peak RSS (MB) of a whole command.
measure() { /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" >"$work/out.txt" 2>"$work/err.txt" || { cat "$work/err.txt"; exit 1; }
            read -r secs kb <"$work/time.txt"; echo "$secs $((kb / 1024))"; }

inputs1="$work/x0.npy"
inputs6="$work/x0.npy $work/x1.npy $work/x2.npy $work/x3.npy $work/x4.npy $work/x5.npy"
declare -A res
for mode in scale1 fused; do
    read -r t1 rss1 < <(measure "$cli" classify --json --threads "$threads" --mode $mode --model "$work/vitb.safetensors" $inputs1)
    read -r t6 rss6 < <(measure "$cli" classify --json --threads "$threads" --mode $mode --model "$work/vitb.safetensors" $inputs6)
    res[$mode.t1]=$t1; res[$mode.t6]=$t6; res[$mode.rss]=$rss6
    res[$mode.steady]=$(echo "($t6 - $t1) / 5" | bc -l)
done
read -r _ ort_rss < <(measure env ORT_DIR="$work/ort" node bench/ort_bench.js "$work/vitb.onnx" "$threads" 5 "$work/x0.npy")
ort_json=$(cat "$work/out.txt")
ort_s=$(echo "$ort_json" | $py -c "import json,sys; print(json.load(sys.stdin)['median_s'])")
read -r _ torch_rss < <(measure $py tools/bench_torch.py --model "$work/vitb.safetensors" --input "$work/x0.npy" --threads "$threads" --runs 2)
torch_json=$(cat "$work/out.txt")
load_ms=$("$cli" bench --json --runs 1 --threads "$threads" --mode scale1 --model "$work/vitb.safetensors" | $py -c "import json,sys; d=json.load(sys.stdin); print(round(d['load_s']*1e3,1))")

$py - <<PY
r = dict(s1=${res[scale1.steady]}, f=${res[fused.steady]}, s1_t1=${res[scale1.t1]}, f_t1=${res[fused.t1]},
         s1_rss=${res[scale1.rss]}, f_rss=${res[fused.rss]}, ort=$ort_s, ort_rss=$ort_rss, torch_rss=$torch_rss)
import json
t = json.loads('''$torch_json''')
print(f"machine: $(nproc) cores, {open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].split(chr(10))[0].strip()}, threads $threads")
print()
print("| engine (ViT-B/16 @ 448, f32) | scale 1 | both scales | peak RSS |")
print("|---|---|---|---|")
print(f"| ramscli (steady state) | {r['s1']:.3f} s | {r['f']:.3f} s | {r['s1_rss']} MB (scale1), {r['f_rss']} MB (fused) |")
print(f"| ONNX Runtime 1.20.1 (median) | {r['ort']:.3f} s | - | {r['ort_rss']} MB |")
print(f"| PyTorch reference ({t['torch']}) | {t['scale1_s']:.3f} s | {t['fused_s']:.3f} s | {r['torch_rss']} MB |")
print()
print(f"- scale1 / ORT: {r['s1']/r['ort']:.2f}x (target <= 0.90); fused / ORT: {r['f']/r['ort']:.2f}x (target <= 1.9)")
print(f"- peak RSS / ORT: {r['s1_rss']/r['ort_rss']:.2f}x scale1, {r['f_rss']/r['ort_rss']:.2f}x fused (target <= 0.6)")
print(f"- cold: whole ramscli process on one input {r['s1_t1']:.3f} s (scale1) = {r['s1_t1']/r['s1']:.2f}x steady, "
      f"{r['f_t1']:.3f} s (fused) = {r['f_t1']/r['f']:.2f}x steady (target <= 1.2); model load $load_ms ms (target < 50)")
PY
