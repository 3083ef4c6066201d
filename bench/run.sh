#!/usr/bin/env bash
# The performance comparison of issues 5, 12 and 13, in one run on the same cores and thread count:
#   ramscli in f32, in bf16 (--precision bf16: the bf16 kernel this CPU runs, named in the output
#   with the CPU's flags) and in int8 (--precision int8 on the q8 file `ramscli quantize` writes:
#   the int8 kernel this CPU runs) (whole process on 1 and on 6 inputs: steady state = the
#   difference / 5; cold start),
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
cli=${RAMSCLI:-$root/build/ramscli}   # RAMSCLI=/path/to/ramscli for another build folder
py=/usr/bin/python3
mkdir -p "$work"
cd "$root"

if [ ! -f "$work/vitb.safetensors" ]; then
    $py tools/reference/make_random_checkpoint.py --preset vitb448 --out "$work/vitb.pt"
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
[ -f "$work/vitb.onnx" ] || $py tools/bench/export_onnx.py --model "$work/vitb.safetensors" --out "$work/vitb.onnx"
# ONNX Runtime's own int8: the graph its quantize_dynamic makes (per-tensor uint8 activations,
# per-channel int8 weights), to compare int8 with int8 on the same CPU.
[ -f "$work/vitb_int8.onnx" ] || $py -W ignore tools/bench/export_onnx.py --int8 --model "$work/vitb.safetensors" --out "$work/vitb_int8.onnx"
if [ ! -d "$work/ort/node_modules/onnxruntime-node" ]; then
    mkdir -p "$work/ort"
    (cd "$work/ort" && npm install --ignore-scripts --no-audit --no-fund onnxruntime-node@1.20.1 >/dev/null)
fi

# Wall seconds and peak RSS (MB) of a whole command.
measure() { /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" >"$work/out.txt" 2>"$work/err.txt" || { cat "$work/err.txt"; exit 1; }
            read -r secs kb <"$work/time.txt"; echo "$secs $((kb / 1024))"; }

inputs1="$work/x0.npy"
inputs6="$work/x0.npy $work/x1.npy $work/x2.npy $work/x3.npy $work/x4.npy $work/x5.npy"
# ramscli twice: in the environment as it is, and with OpenBLAS's core pinning variables unset for
# ramscli alone (some machines set OPENBLAS_CORETYPE=Haswell, which keeps OpenBLAS off AVX-512
# even where the CPU has it, while ONNX Runtime's own kernels use it).
declare -A res
# classify_times KEY MODEL COMMAND...: COMMAND (a ramscli classify with its leading options) on 1 and
# on 6 inputs in scale 1 and fused, into res[KEY.MODE.t1|t6|rss|steady] (steady = the difference / 5).
classify_times() {
    local key=$1 model=$2 mode t1 t6 rss1 rss6 k
    shift 2
    for mode in scale1 fused; do
        read -r t1 rss1 < <(measure "$@" --json --threads "$threads" --mode $mode --model "$model" $inputs1)
        read -r t6 rss6 < <(measure "$@" --json --threads "$threads" --mode $mode --model "$model" $inputs6)
        k=$key.$mode
        res[$k.t1]=$t1; res[$k.t6]=$t6; res[$k.rss]=$rss6
        res[$k.steady]=$(echo "($t6 - $t1) / 5" | bc -l)
    done
}
for env_name in pinned unpinned; do
    if [ $env_name = pinned ]; then run=(env); else run=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE); fi
    # (ramscli no longer names the kernel set: it sees only libramstrans's API; OpenBLAS, loaded
    # the same way in the same environment, names it.)
    res[$env_name.core]=$("${run[@]}" $py -c "import ctypes; b = ctypes.CDLL('libopenblas.so.0')
b.openblas_get_corename.restype = ctypes.c_char_p; print(b.openblas_get_corename().decode())")
    classify_times "$env_name" "$work/vitb.safetensors" "${run[@]}" "$cli" classify
done
# bf16 (issue 12): the environment as is; the kernel is the library's choice for this CPU.
classify_times bf16 "$work/vitb.safetensors" "$cli" classify --precision bf16
# int8 (issue 13): the q8 file ramscli quantize writes (the same bytes as convert.py --dtype q8).
[ -f "$work/vitb.q8.safetensors" ] || "$cli" quantize --model "$work/vitb.safetensors" --out "$work/vitb.q8.safetensors" >/dev/null
classify_times int8 "$work/vitb.q8.safetensors" "$cli" classify --precision int8
# The kernel, and the attention products' kernel (sgemm, or bf16 tiles where the CPU has them).
kernels() { $py -c "import json,sys; d = json.load(sys.stdin); print(d['kernel'] + ', attention ' + d.get('attention_kernel', 'openblas-sgemm'))"; }
int8_kernel=$("$cli" info --json --precision int8 --model "$work/vitb.q8.safetensors" | kernels)
int8_bench=$("$cli" bench --json --runs 1 --threads "$threads" --mode scale1 --precision int8 --model "$work/vitb.q8.safetensors")
q8_ratio=$($py -c "import os; print(os.path.getsize('$work/vitb.q8.safetensors') / os.path.getsize('$work/vitb.safetensors'))")
info_json=$("$cli" info --json --precision bf16 --model "$work/vitb.safetensors")
bf16_kernel=$(echo "$info_json" | kernels)
cpu_flags=$(echo "$info_json" | $py -c "import json,sys; print(json.load(sys.stdin)['cpu']['features'] or 'none of avx2/avx512/amx')")
read -r _ ort_rss < <(measure env ORT_DIR="$work/ort" node bench/ort_bench.js "$work/vitb.onnx" "$threads" 5 "$work/x0.npy")
ort_json=$(cat "$work/out.txt")
ort_s=$(echo "$ort_json" | $py -c "import json,sys; print(json.load(sys.stdin)['median_s'])")
read -r _ ort_int8_rss < <(measure env ORT_DIR="$work/ort" node bench/ort_bench.js "$work/vitb_int8.onnx" "$threads" 5 "$work/x0.npy")
ort_int8_s=$($py -c "import json,sys; print(json.load(sys.stdin)['median_s'])" <"$work/out.txt")
read -r _ torch_rss < <(measure $py tools/bench/bench_torch.py --model "$work/vitb.safetensors" --input "$work/x0.npy" --threads "$threads" --runs 2)
torch_json=$(cat "$work/out.txt")
load_ms=$("$cli" bench --json --runs 1 --threads "$threads" --mode scale1 --model "$work/vitb.safetensors" | $py -c "import json,sys; d=json.load(sys.stdin); print(round(d['load_s']*1e3,1))")
bf16_bench=$("$cli" bench --json --runs 1 --threads "$threads" --mode scale1 --precision bf16 --model "$work/vitb.safetensors")

$py - <<PY
import json
res = {}
for e in ("pinned", "unpinned"):
    res[e] = dict(core="${res[pinned.core]}" if e == "pinned" else "${res[unpinned.core]}")
res["pinned"].update(s1=${res[pinned.scale1.steady]}, f=${res[pinned.fused.steady]}, s1_t1=${res[pinned.scale1.t1]},
                     f_t1=${res[pinned.fused.t1]}, s1_rss=${res[pinned.scale1.rss]}, f_rss=${res[pinned.fused.rss]})
res["unpinned"].update(s1=${res[unpinned.scale1.steady]}, f=${res[unpinned.fused.steady]}, s1_t1=${res[unpinned.scale1.t1]},
                       f_t1=${res[unpinned.fused.t1]}, s1_rss=${res[unpinned.scale1.rss]}, f_rss=${res[unpinned.fused.rss]})
res["int8"] = dict(core="$int8_kernel", s1=${res[int8.scale1.steady]}, f=${res[int8.fused.steady]}, s1_t1=${res[int8.scale1.t1]},
                   f_t1=${res[int8.fused.t1]}, s1_rss=${res[int8.scale1.rss]}, f_rss=${res[int8.fused.rss]})
ib = json.loads('''$int8_bench''')
res["bf16"] = dict(core="$bf16_kernel", s1=${res[bf16.scale1.steady]}, f=${res[bf16.fused.steady]}, s1_t1=${res[bf16.scale1.t1]},
                   f_t1=${res[bf16.fused.t1]}, s1_rss=${res[bf16.scale1.rss]}, f_rss=${res[bf16.fused.rss]})
bb = json.loads('''$bf16_bench''')
ort, ort_rss, torch_rss = $ort_s, $ort_rss, $torch_rss
ort_int8, ort_int8_rss = $ort_int8_s, $ort_int8_rss
t = json.loads('''$torch_json''')
cpu = open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].split(chr(10))[0].strip()
print(f"machine: $(nproc) cores, {cpu}, threads $threads; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} here")
print(f"CPU flags (libramstrans: CPUID + XCR0): $cpu_flags; bf16 kernel here: $bf16_kernel")
print()
print("| engine (ViT-B/16 @ 448, f32) | scale 1 | both scales | peak RSS |")
print("|---|---|---|---|")
for e, what in (("pinned", "environment as is"), ("unpinned", "OPENBLAS_CORETYPE unset")):
    r = res[e]
    print(f"| ramscli, OpenBLAS {r['core']} kernels ({what}) | {r['s1']:.3f} s | {r['f']:.3f} s | "
          f"{r['s1_rss']} MB (scale1), {r['f_rss']} MB (fused) |")
r = res["bf16"]
print(f"| ramscli --precision bf16, kernel {r['core']} | {r['s1']:.3f} s | {r['f']:.3f} s | "
      f"{r['s1_rss']} MB (scale1), {r['f_rss']} MB (fused) |")
r = res["int8"]
print(f"| ramscli --precision int8 (q8 file), kernel {r['core']} | {r['s1']:.3f} s | {r['f']:.3f} s | "
      f"{r['s1_rss']} MB (scale1), {r['f_rss']} MB (fused) |")
print(f"| ONNX Runtime 1.20.1 (median of 5) | {ort:.3f} s | - | {ort_rss} MB |")
print(f"| ONNX Runtime 1.20.1 int8 (quantize_dynamic's graph, median of 5) | {ort_int8:.3f} s | - | {ort_int8_rss} MB |")
print(f"| PyTorch reference ({t['torch']}, median of 2) | {t['scale1_s']:.3f} s | {t['fused_s']:.3f} s | {torch_rss} MB |")
print()
for e in ("pinned", "unpinned"):
    r = res[e]
    print(f"- {r['core']}: scale1 / ORT {r['s1'] / ort:.2f}x (target <= 0.90); fused / ORT {r['f'] / ort:.2f}x (target <= 1.9); "
          f"peak RSS / ORT {r['s1_rss'] / ort_rss:.2f}x scale1, {r['f_rss'] / ort_rss:.2f}x fused (target <= 0.6); "
          f"cold whole process {r['s1_t1']:.3f} s = {r['s1_t1'] / r['s1']:.2f}x steady (scale1), "
          f"{r['f_t1']:.3f} s = {r['f_t1'] / r['f']:.2f}x (fused) (target <= 1.2)")
print(f"- model load $load_ms ms (target < 50); steady state = (time on 6 inputs - time on 1) / 5, whole processes")
r, f32 = res["bf16"], res["pinned"]
lim = {"bf16-amx": (0.30, 0.60), "bf16-avx512": (0.60, 1.2)}.get(r["core"].split(",")[0])
print(f"- bf16 ({r['core']}): scale1 / ORT {r['s1'] / ort:.2f}x, fused / ORT {r['f'] / ort:.2f}x" +
      (f" (targets of issue 12 for this kernel: <= {lim[0]}, <= {lim[1]})" if lim else " (issue 12 sets no target for the portable kernel)") +
      f"; bf16 / f32 {r['s1'] / f32['s1']:.2f}x scale1, {r['f'] / f32['f']:.2f}x fused; peak RSS {r['s1_rss']} / {r['f_rss']} MB against f32's "
      f"{f32['s1_rss']} / {f32['f_rss']} MB (target: not higher); model load {bb['load_s'] * 1e3:.0f} ms (packing); "
      f"ramscli bench: {bb['gflops']:.1f} GFLOP/s, {100 * bb['gflops'] / bb['bf16_gflops']:.0f}% of the bf16 kernel's rate here "
      f"({bb['bf16_gflops']:.1f}), sgemm {bb['sgemm_gflops']:.1f}")
r = res["int8"]
lim = {"int8-amx": (0.25, 0.50), "int8-avx512-vnni": (0.45, 0.90), "int8-avx-vnni": (0.60, 1.20), "int8-avx2": (0.60, 1.20)}.get(r["core"].split(",")[0])
print(f"- int8 ({r['core']}, q8 file {$q8_ratio:.3f} of the f32 file, target <= 0.27): scale1 / ORT {r['s1'] / ort:.2f}x, "
      f"fused / ORT {r['f'] / ort:.2f}x" +
      f"; against ONNX Runtime's own int8 {r['s1'] / ort_int8:.2f}x (its int8 / its f32 {ort_int8 / ort:.2f}x)" +
      (f" (targets of issue 13 for this kernel: <= {lim[0]}, <= {lim[1]})" if lim else " (issue 13 sets no target for the portable kernel)") +
      f"; int8 / f32 {r['s1'] / f32['s1']:.2f}x scale1, {r['f'] / f32['f']:.2f}x fused; peak RSS / ORT {r['s1_rss'] / ort_rss:.2f}x scale1, "
      f"{r['f_rss'] / ort_rss:.2f}x fused (target <= 0.35); model load {ib['load_s'] * 1e3:.0f} ms (packing); "
      f"ramscli bench: {ib['gflops']:.1f} GFLOP/s, {100 * ib['gflops'] / ib['int8_gops']:.0f}% of the int8 kernel's rate here "
      f"({ib['int8_gops']:.1f} GOP/s with the activations' quantization), sgemm {ib['sgemm_gflops']:.1f}")
PY
