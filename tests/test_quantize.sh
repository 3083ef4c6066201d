#!/bin/sh
# q8 model files (issue 13): `ramscli quantize` (C) and `tools/convert.py --dtype q8` (Python) write
# the same bytes from the same weights: random RAMS-Trans checkpoints (a pickled DataParallel model, a
# state dict), a plain ViT (Google .npz), f16 and bf16 model files, and weights holding the rule's
# edge cases (ties at .5 with scales 1 and 1/8, zero rows, denormal rows, a scale that underflows,
# huge values).  A q8 file runs in int8 with the logits of its f32 source quantized at load, in f32
# against the PyTorch reference on its dequantized weights; malformed q8 files are refused with one
# line naming the tensor.
# Usage: tests/test_quantize.sh RAMSCLI      (needs Debian's python3-numpy and python3-torch)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLI=${1:-$ROOT/build/ramscli}
. "$ROOT/tests/harness.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
same() { cmp -s "$1" "$2" || fail "$3: ramscli quantize and convert.py --dtype q8 differ ($(cmp "$1" "$2" 2>&1 | head -1))"; echo "ok: $3: the same $(wc -c <"$1") bytes"; }

# ---- the same bytes from C and from Python -----------------------------------------------------
$PY "$ROOT/tools/reference/make_random_checkpoint.py" --preset tiny --style pickled_dp --out "$TMP/tiny.pt" --seed 3
$PY "$ROOT/tools/reference/make_random_checkpoint.py" --preset small --style state_dict --out "$TMP/small.pt" --seed 4
$PY "$ROOT/tools/reference/make_random_vit.py" --preset tiny --layout google --out "$TMP/vit.npz" --seed 5 >/dev/null
for c in tiny:"$TMP/tiny.pt --num-heads 4" small:"$TMP/small.pt" vit:"$TMP/vit.npz"; do
    name=${c%%:*} args=${c#*:}
    # shellcheck disable=SC2086
    $PY "$ROOT/tools/convert.py" --input $args --output "$TMP/$name.safetensors" >/dev/null
    # shellcheck disable=SC2086
    $PY "$ROOT/tools/convert.py" --input $args --output "$TMP/${name}_py.q8.safetensors" --dtype q8 >/dev/null
    "$CLI" quantize --model "$TMP/$name.safetensors" --out "$TMP/${name}_c.q8.safetensors" >/dev/null
    same "$TMP/${name}_c.q8.safetensors" "$TMP/${name}_py.q8.safetensors" "$name checkpoint"
done

# f16 and bf16 model files: C widens them exactly, as model_file.read does.
for dt in f16 bf16; do
    $PY "$ROOT/tools/convert.py" --input "$TMP/small.pt" --output "$TMP/small_$dt.safetensors" --dtype $dt >/dev/null
    "$CLI" quantize -m "$TMP/small_$dt.safetensors" -o "$TMP/small_${dt}_c.q8.safetensors" >/dev/null
    $PY - "$ROOT/tools" "$TMP/small_$dt.safetensors" "$TMP/small_${dt}_py.q8.safetensors" <<'EOF'
import sys; sys.path.insert(0, sys.argv[1])
import model_file
t, m = model_file.read(sys.argv[2])
model_file.write(sys.argv[3], t, m, dtype="q8")
EOF
    same "$TMP/small_${dt}_c.q8.safetensors" "$TMP/small_${dt}_py.q8.safetensors" "$dt model file"
done

# The rule's edges, written into an f32 model file's matrices.
$PY - "$ROOT/tools" "$TMP/tiny.safetensors" "$TMP/edges.safetensors" "$TMP/edges_py.q8.safetensors" <<'EOF'
import sys; sys.path.insert(0, sys.argv[1])
import numpy as np
import model_file
t, m = model_file.read(sys.argv[2])
q = t["transformer.encoder.layer.0.attn.query.weight"]
D = q.shape[1]
q[0, :] = 0; q[0, :9] = [127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -127]   # scale 1: ties to even
q[1, :] = 0                                                                    # a zero row
q[2, :] = 0; q[2, :3] = [1e-39, -5e-40, 2e-40]                                 # a denormal row
q[3, :] = 0; q[3, :2] = [1e-45, -1e-45]                                        # the scale underflows to 0
q[4, :] = (np.arange(D) - D / 2 + 0.5).astype(np.float32) * np.float32(0.125)  # scale 1/8: ties
q[4, 0] = 15.875
q[5, :] = np.float32(3e38) * np.cos(np.arange(D))                              # huge
rng = np.random.default_rng(7)
f = t["transformer.encoder.layer.0.ffn.fc1.weight"]
f[:] = rng.standard_normal(f.shape).astype(np.float32) * np.exp(rng.uniform(-30, 30, (f.shape[0], 1))).astype(np.float32)
model_file.write(sys.argv[3], t, m)
model_file.write(sys.argv[4], t, m, dtype="q8")
EOF
"$CLI" quantize -m "$TMP/edges.safetensors" -o "$TMP/edges_c.q8.safetensors" >/dev/null
same "$TMP/edges_c.q8.safetensors" "$TMP/edges_py.q8.safetensors" "edge values (ties, zero, denormal, underflowing and huge rows)"

# ---- running q8 files ----------------------------------------------------------------------------
"$CLI" info --model "$TMP/tiny_c.q8.safetensors" | grep -q "weights Q8" || fail "info does not say Q8"
ratio=$($PY -c "import os,sys; print(round(os.path.getsize(sys.argv[1]) / os.path.getsize(sys.argv[2]), 3))" \
    "$TMP/small_c.q8.safetensors" "$TMP/small.safetensors")
echo "ok: q8 file of the small model: $ratio of the f32 file"
$PY - "$TMP" <<'EOF'
import sys, numpy as np
rng = np.random.default_rng(11)
for i in range(2):
    np.save(f"{sys.argv[1]}/x{i}.npy", rng.standard_normal((3, 64, 64)).astype(np.float32))
EOF
a=$("$CLI" classify --json --precision int8 --model "$TMP/tiny.safetensors" "$TMP/x0.npy" "$TMP/x1.npy") || fail "int8 on f32 file"
b=$("$CLI" classify --json --precision int8 --model "$TMP/tiny_c.q8.safetensors" "$TMP/x0.npy" "$TMP/x1.npy") || fail "int8 on q8 file"
[ "$a" = "$b" ] || fail "int8 on the q8 file differs from int8 on its f32 source"
echo "ok: --precision int8: the q8 file and its f32 source (quantized at load) give the same output"
# In f32, the q8 file's weights dequantized (q * scale): ramscli against the PyTorch reference on them.
$PY "$ROOT/tools/reference/check_reference.py" --checkpoint "$TMP/tiny.pt" --num-heads 4 --dtype q8 --random-inputs 2 \
    --ramscli "$CLI" | tail -1

# ---- refusals: one line naming the tensor, exit 1 ------------------------------------------------
refuse() { # file, expected text
    if "$CLI" info --precision int8 --model "$1" >"$TMP/out" 2>"$TMP/err"; then fail "$(basename "$1") was accepted"; fi
    [ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "$(basename "$1"): not one line: $(cat "$TMP/err")"
    grep -q -- "$2" "$TMP/err" || fail "$(basename "$1"): '$(cat "$TMP/err")' does not say '$2'"
    echo "ok: refused: $(cat "$TMP/err")"
}
$PY - "$TMP/tiny_c.q8.safetensors" "$TMP" <<'EOF'
import json, struct, sys
src, out = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()
(n,) = struct.unpack("<Q", data[:8])
header, body = json.loads(data[8:8 + n]), bytearray(data[8 + n:])
Q = "transformer.encoder.layer.0.attn.query.weight"
def write(name, h, b=body):
    text = json.dumps(h, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    open(f"{out}/{name}.safetensors", "wb").write(struct.pack("<Q", len(text)) + text + bytes(b))
def edited(f):
    h = json.loads(json.dumps(header)); f(h); return h
def scale_value(v):
    b = bytearray(body); a = header[Q + "_scale"]["data_offsets"][0]; b[a + 4:a + 8] = struct.pack("<f", v); return b
write("bad_negative_scale", header, scale_value(-0.5))
write("bad_nan_scale", header, scale_value(float("nan")))
write("bad_missing_scale", edited(lambda h: h.pop(Q + "_scale")))
write("bad_scale_shape", edited(lambda h: h[Q + "_scale"].update(shape=[2, h[Q + "_scale"]["shape"][0] // 2])))
write("bad_scheme", edited(lambda h: h["__metadata__"].update({"ramstrans.quantization": "q4"})))
write("bad_no_metadata", edited(lambda h: h["__metadata__"].pop("ramstrans.quantization")))
def float_matrix(h):  # the query weight claims F32: its bytes cannot match
    h[Q]["dtype"] = "F32"
write("bad_f32_matrix", edited(float_matrix))
EOF
$PY - "$ROOT/tools" "$TMP/tiny.safetensors" "$TMP" <<'EOF'
import sys; sys.path.insert(0, sys.argv[1])
import model_file
t, m = model_file.read(sys.argv[2])
rule = model_file.is_q8_matrix
model_file.is_q8_matrix = lambda n: rule(n) and n != "transformer.encoder.layer.1.ffn.fc2.weight"
model_file.write(f"{sys.argv[3]}/bad_float_matrix.safetensors", t, m, dtype="q8")
model_file.is_q8_matrix = lambda n: rule(n) or n == "transformer.embeddings.patch_embeddings.weight"
model_file.write(f"{sys.argv[3]}/bad_i8_patch.safetensors", t, m, dtype="q8")
EOF
refuse "$TMP/bad_float_matrix.safetensors" "layer.1.ffn.fc2.weight is F32, but a q8 file stores the Linear weight matrices as I8"
refuse "$TMP/bad_i8_patch.safetensors" "patch_embeddings.weight is I8, but the patch embedding stays floating point"
refuse "$TMP/bad_negative_scale.safetensors" "attn.query.weight_scale: scale 1 is -0.5"
refuse "$TMP/bad_nan_scale.safetensors" "attn.query.weight_scale: scale 1 is nan"
refuse "$TMP/bad_missing_scale.safetensors" "attn.query.weight_scale is missing"
refuse "$TMP/bad_scale_shape.safetensors" "attn.query.weight_scale must be F32"
refuse "$TMP/bad_scheme.safetensors" 'ramstrans.quantization "q4" is not supported'
refuse "$TMP/bad_no_metadata.safetensors" "attn.query.weight is I8, but the file is not quantized"
refuse "$TMP/bad_f32_matrix.safetensors" "attn.query.weight"
if "$CLI" quantize -m "$TMP/tiny_c.q8.safetensors" -o "$TMP/again.safetensors" 2>"$TMP/err"; then fail "a q8 file was quantized again"; fi
grep -q "already a q8 model file" "$TMP/err" && [ ! -e "$TMP/again.safetensors" ] || fail "quantize of a q8 file: $(cat "$TMP/err")"
echo "ok: refused: $(cat "$TMP/err")"
if "$CLI" quantize -m "$TMP/tiny.safetensors" -o "$TMP/no/such/dir/x.safetensors" 2>"$TMP/err"; then fail "wrote into a missing folder"; fi
[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "unwritable output: $(cat "$TMP/err")"
echo "ok: refused: $(cat "$TMP/err")"
set +e
"$CLI" quantize -m "$TMP/tiny.safetensors" 2>/dev/null; [ $? -eq 2 ] || fail "quantize without --out is not a usage error"
set -e
[ -z "$(ls "$TMP" | grep '\.tmp\.')" ] || fail "a temporary file was left: $(ls "$TMP" | grep '\.tmp\.')"
echo "all q8 checks passed"
