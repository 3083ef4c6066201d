#!/bin/bash
# ramscli classify --json on malformed inputs and models, each case named: every bad file gets
# exactly one line on stderr naming it, the exit status is a plain 1 (never a signal, never a
# sanitizer's), and the good inputs given around the bad ones are still classified.
#
#   test_malformed.sh RAMSCLI DATA_DIR          (registered with ctest; tests/sanitize.sh runs it
#                                                 in the ASan+UBSan build like every ctest test)
set -uo pipefail
RAMSCLI=$1
DATA=$2
MODEL=$DATA/tiny_f32.safetensors
GOOD_NPY=$DATA/input.npy
GOOD_PNG=$DATA/images/png_rgb.png
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# ---- malformed inputs -------------------------------------------------------------------------
inputs=()
add() { inputs+=("$TMP/in/$1"); }
mkdir -p "$TMP/in"
: >"$TMP/in/empty.png"; add empty.png
echo "not an image" >"$TMP/in/text.jpg"; add text.jpg
head -c 700 "$DATA/images/jpeg_420.jpg" >"$TMP/in/truncated.jpg"; add truncated.jpg
head -c 1000 "$GOOD_PNG" >"$TMP/in/truncated.png"; add truncated.png
head -c 100 "$GOOD_NPY" >"$TMP/in/truncated.npy"; add truncated.npy
head -c 2000 "$DATA/images/webp_anim_lossy.webp" >"$TMP/in/truncated.webp"; add truncated.webp
for f in bad_png_crc.png bad_png_huge.png bad_jpeg_2080_scans.jpg bad_jpeg_zero_width.jpg npy_bad_i4.npy \
    npy_bad_fortran.npy npy_bad_be.npy bad_jpeg_junk_before_rst.jpg bad_webp_huge.webp \
    bad_webp_anim_huge_canvas.webp bad_webp_lossless_damaged.webp bad_webp_riff_only.webp \
    bad_webp_anim_damaged_first_frame.webp bad_webp_no_frame.webp; do
    cp "$DATA/images/$f" "$TMP/in/$f"; add "$f"
done
$PY - "$TMP/in" <<'EOF'
import sys, numpy as np
d = sys.argv[1]
x = np.zeros((3, 64, 64), np.float32)
x[1, 2, 3] = np.nan
np.save(f"{d}/nan.npy", x)
x[1, 2, 3] = np.inf
np.save(f"{d}/inf.npy", x)
np.save(f"{d}/wrong_shape.npy", np.zeros((64, 64, 3), np.float32))
np.save(f"{d}/batch_of_two.npy", np.zeros((2, 3, 64, 64), np.float32))
with open(f"{d}/lying_npy_header.npy", "wb") as f:  # announces 3x64x64, holds 10 floats
    np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (3, 64, 64)})
    f.write(np.zeros(10, np.float32).tobytes())
EOF
for f in nan.npy inf.npy wrong_shape.npy batch_of_two.npy lying_npy_header.npy; do add "$f"; done
# (A directory given as an input is walked by ramscli, so it is no malformed input here; the
# library's refusal of one is in test_limits.c.)
mkfifo "$TMP/in/fifo.npy"; add fifo.npy
inputs+=("$TMP/in/missing.png")

# The good inputs first, between and last: all three must be classified.
timeout 300 "$RAMSCLI" classify --json --model "$MODEL" "$GOOD_NPY" "${inputs[@]:0:8}" "$GOOD_PNG" \
    "${inputs[@]:8}" "$GOOD_NPY" >"$TMP/out.json" 2>"$TMP/err.txt"
rc=$?
[ "$rc" -eq 1 ] || fail "inputs: exit status $rc, expected 1"
good=$(grep -c '"file"' "$TMP/out.json")
[ "$good" -eq 3 ] || fail "inputs: $good results on stdout, expected the 3 good inputs"
for path in "${inputs[@]}"; do
    n=$(grep -cF "$path:" "$TMP/err.txt")
    [ "$n" -eq 1 ] || fail "input $(basename "$path"): $n lines name it on stderr, expected 1"
done
lines=$(wc -l <"$TMP/err.txt")
[ "$lines" -eq "${#inputs[@]}" ] || fail "inputs: $lines stderr lines for ${#inputs[@]} bad inputs"
echo "---- ${#inputs[@]} malformed inputs:"
cat "$TMP/err.txt"

# ---- odd but valid: a folder as a user has it ---------------------------------------------------
# Stray bytes between JPEG header segments (as Photoshop and some cameras write them) and WebP of
# every kind: `classify DIR` classifies every file and exits 0.
mkdir -p "$TMP/photos"
for f in jpeg_junk_before_dqt.jpg jpeg_junk_before_app1.jpg jpeg_junk_ff00_before_dqt.jpg \
    jpeg_junk_before_sos_progressive.jpg webp_lossy.webp webp_lossless_alpha.webp webp_anim_lossy.webp \
    webp_anim_offset_lossy_alpha.webp; do
    cp "$DATA/images/$f" "$TMP/photos/$f"
done
timeout 300 "$RAMSCLI" classify --json --model "$MODEL" "$TMP/photos" >"$TMP/out.json" 2>"$TMP/err.txt"
rc=$?
[ "$rc" -eq 0 ] || fail "folder of odd but valid photos: exit status $rc: $(cat "$TMP/err.txt")"
good=$(grep -c '"file"' "$TMP/out.json")
[ "$good" -eq 8 ] || fail "folder of odd but valid photos: $good results, expected 8"
echo "---- a folder with header junk in JPEGs and WebP of every kind: $good classified, exit $rc"

# ---- malformed models ---------------------------------------------------------------------------
mkdir -p "$TMP/m"
: >"$TMP/m/empty.safetensors"
head -c 5 "$MODEL" >"$TMP/m/five_bytes.safetensors"
head -c 3000 "$MODEL" >"$TMP/m/truncated_header.safetensors"
head -c 100000 "$MODEL" >"$TMP/m/truncated_data.safetensors"
mkdir "$TMP/m/a_directory.safetensors"
$PY - "$MODEL" "$TMP/m" <<'EOF'
import json, struct, sys
import numpy as np
src, d = sys.argv[1], sys.argv[2]
raw = open(src, "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header, data = json.loads(raw[8:8 + n]), raw[8 + n:]

def write(name, h, body=None, length=None):
    text = json.dumps(h).encode()
    text += b" " * (-len(text) % 8)
    with open(f"{d}/{name}.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(text) if length is None else length) + text + (data if body is None else body))

def edited(fn):
    h = json.loads(json.dumps(header))
    fn(h)
    return h

def config(**kv):
    def fn(h):
        c = json.loads(h["__metadata__"]["ramstrans.config"])
        c.update(kv)
        h["__metadata__"]["ramstrans.config"] = json.dumps(c)
    return fn

write("header_length_lies", header, length=1 << 40)
write("header_length_past_end", header, length=n + 64)
with open(f"{d}/header_not_json.safetensors", "wb") as f:
    f.write(struct.pack("<Q", 16) + b"{not json at all" + data)
write("no_metadata", edited(lambda h: h.pop("__metadata__")))
write("dtype_i8", edited(lambda h: h["part_head.bias"].update(dtype="I8")))
write("offsets_out_of_range", edited(lambda h: h["part_head.bias"].update(data_offsets=[len(data), len(data) + 40])))
write("shape_wrong", edited(lambda h: h["part_head.bias"].update(shape=[5, 2])))
write("tensor_missing", edited(lambda h: h.pop("transformer.encoder.part_norm.bias")))
write("config_not_json", edited(lambda h: h["__metadata__"].update({"ramstrans.config": "{"})))
write("layers_10e12", edited(config(num_layers=10 ** 12)))
write("hidden_a_string", edited(config(hidden_size="32")))
write("working_memory_absurd", edited(config(image_size=2048, patch_size=16, num_layers=256)))
write("labels_wrong_type", edited(lambda h: h["__metadata__"].update({"ramstrans.labels": "[1, 2]"})))
body = bytearray(data)
t = header["transformer.encoder.layer.0.attn.key.bias"]["data_offsets"][0]
body[t:t + 4] = np.float32(np.nan).tobytes()
write("nan_bias", header, bytes(body))
EOF
models=("$TMP"/m/*.safetensors "$TMP/m/missing.safetensors")
for model in "${models[@]}"; do
    name=$(basename "$model")
    timeout 60 "$RAMSCLI" classify --json --model "$model" "$GOOD_NPY" >"$TMP/out.json" 2>"$TMP/err.txt"
    rc=$?
    [ "$rc" -ge 1 ] && [ "$rc" -le 125 ] || fail "model $name: exit status $rc"
    [ "$(wc -l <"$TMP/err.txt")" -eq 1 ] && grep -qF "$model" "$TMP/err.txt" ||
        fail "model $name: stderr is not one line naming it: $(cat "$TMP/err.txt")"
    [ -s "$TMP/out.json" ] && fail "model $name: a result was printed"
    echo "model $name: $(cat "$TMP/err.txt")"
done

# A model with NaN in a weight matrix loads (the loader scans only the small tensors), and each
# input is refused at run time with its own line.
$PY - "$MODEL" "$TMP/nan_matrix.safetensors" <<'EOF'
import json, struct, sys
import numpy as np
raw = bytearray(open(sys.argv[1], "rb").read())
(n,) = struct.unpack("<Q", raw[:8])
h = json.loads(raw[8:8 + n])
t = 8 + n + h["transformer.encoder.layer.0.attn.value.weight"]["data_offsets"][0] + 20
raw[t:t + 4] = np.float32(np.nan).tobytes()
open(sys.argv[2], "wb").write(raw)
EOF
timeout 60 "$RAMSCLI" classify --json --model "$TMP/nan_matrix.safetensors" "$GOOD_NPY" "$GOOD_PNG" \
    >"$TMP/out.json" 2>"$TMP/err.txt"
rc=$?
[ "$rc" -eq 1 ] || fail "NaN weight matrix: exit status $rc"
[ "$(grep -c "non-finite" "$TMP/err.txt")" -eq 2 ] || fail "NaN weight matrix: $(cat "$TMP/err.txt")"
echo "model with NaN in a weight matrix: $(tr '\n' '|' <"$TMP/err.txt")"

if [ "$failures" -ne 0 ]; then
    echo "$failures failures"
    exit 1
fi
echo "all malformed inputs and models refused cleanly"
