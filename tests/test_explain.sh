#!/bin/bash
# ramscli explain as a user runs it: the picture's size and content (the zoom box drawn exactly
# where classify --json puts it, the right panel equal to the golden zoomed crop of tools/), the
# --rollout dump against the golden rollout, the answer line per --mode, errors and usage errors.
#
#   test_explain.sh RAMSCLI DATA_DIR        (registered with ctest; exit 77 = skipped)
#
# The picture's geometry is fixed by cli/cmd_explain.c's layout: margin 16, panels of k*S pixels with
# k = ceil(320 / S) (S = 64: k = 5, panels 320), left panel at (16, 68), right panel at (352, 68);
# width 3*16 + 2*320 = 688; height 844, or 866 for a photo (one more legend line: the photo box).
set -u
RAMSCLI=$(realpath "$1")
DATA=$(realpath "$2")
MODEL=$DATA/tiny_f32.safetensors
INPUT=$DATA/input.npy
PHOTO=$DATA/images/png_rgb.png
GOLD=$DATA/f32/input
PY=/usr/bin/python3

for f in "$MODEL" "$DATA/tiny_f16.safetensors" "$INPUT" "$PHOTO" "$GOLD/crop.npy" "$GOLD/p.npy" "$GOLD/component.npy"; do
    if [ ! -f "$f" ]; then
        echo "SKIP: golden data $f is not there (tools/reference/make_golden.py writes it)"
        exit 77
    fi
done
if ! $PY -c 'import numpy, PIL' 2>/dev/null; then
    echo "SKIP: $PY has no numpy or PIL"
    exit 77
fi

. "$(dirname "$0")/harness.sh"

# An error: exactly one line on stderr, 'ramscli: ' then something naming $1.
one_error_line() {
    [ "$(grep -c '' "$TMP/err")" -eq 1 ] && grep -q "^ramscli: .*$1" "$TMP/err"
}

# check_picture PNG JSON HEIGHT [CROP.npy]: size, the box frame, the right panel.
check_picture() {
    $PY - "$@" <<'EOF'
import json, sys
import numpy as np
from PIL import Image

png, json_path, want_height = sys.argv[1], sys.argv[2], int(sys.argv[3])
crop_path = sys.argv[4] if len(sys.argv) > 4 else None
img = Image.open(png)
assert img.mode == "RGB", img.mode
a = np.asarray(img).astype(int)
H, W, _ = a.shape
assert (W, H) == (688, want_height), f"size {W}x{H}, want 688x{want_height}"

S, k, x0, y0, xr = 64, 5, 16, 68, 352
box = json.load(open(json_path))["box"]
t, l, b, r = box["top"], box["left"], box["bottom"], box["right"]

# The box frame: 2 px of pure green on the outermost canvas pixels of input rows t..b, cols l..r.
green = np.all(a == [0, 255, 0], axis=2)
want = np.zeros_like(green)
X0, X1, Y0, Y1 = x0 + l * k, x0 + (r + 1) * k - 1, y0 + t * k, y0 + (b + 1) * k - 1
want[Y0:Y0 + 2, X0:X1 + 1] = True
want[Y1 - 1:Y1 + 1, X0:X1 + 1] = True
want[Y0:Y1 + 1, X0:X0 + 2] = True
want[Y0:Y1 + 1, X1 - 1:X1 + 1] = True
panel = (slice(y0, y0 + S * k), slice(x0, x0 + S * k))
assert np.array_equal(green[panel], want[panel]), \
    f"green pixels of the left panel are not exactly the box frame {box}: " \
    f"{int(green[panel].sum())} green, {int(want[panel].sum())} expected"

# The right panel: the zoomed crop de-normalised (ImageNet mean/std of the tiny model), each
# input pixel a k x k square.
if crop_path:
    crop = np.load(crop_path).astype(np.float64)
    mean = np.array([0.485, 0.456, 0.406])[:, None, None]
    std = np.array([0.229, 0.224, 0.225])[:, None, None]
    want_rgb = np.clip(np.rint((crop * std + mean) * 255), 0, 255).transpose(1, 2, 0)
    got = a[y0:y0 + S * k, xr:xr + S * k]
    for dy in range(k):
        for dx in range(k):
            diff = np.abs(got[dy::k, dx::k] - want_rgb).max()
            assert diff <= 1, f"right panel differs from the golden crop by {diff}"
print("picture ok")
EOF
}

# check_rollout NPY JSON [GOLDEN_P [GOLDEN_COMPONENT]]
check_rollout() {
    $PY - "$@" <<'EOF'
import json, sys
import numpy as np

p = np.load(sys.argv[1])
box = json.load(open(sys.argv[2]))["box"]
assert p.dtype == np.float32 and p.shape == (8, 8), (p.dtype, p.shape)
assert abs(float(p.max()) - 1.0) < 1e-6, p.max()
# DPPM redone in Python on the dumped map (SPEC 2.5-2.7: p > 1.2 * mean(p), largest 8-connected
# component, first in scan order on a tie) must give the box classify --json reports.  (The most
# attended cell itself need not be in the box: DPPM keeps the largest region, not the brightest.)
t = 1.2 * float(p.astype(np.float64).mean())
mask = p > t
assert np.abs(p - t).min() > 1e-5, "a cell too close to the threshold for this check"
seen = np.zeros_like(mask)
best = []
for r0 in range(8):
    for c0 in range(8):
        if not mask[r0, c0] or seen[r0, c0]:
            continue
        comp, stack = [], [(r0, c0)]
        seen[r0, c0] = True
        while stack:
            r, c = stack.pop()
            comp.append((r, c))
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    q, w = r + dr, c + dc
                    if 0 <= q < 8 and 0 <= w < 8 and mask[q, w] and not seen[q, w]:
                        seen[q, w] = True
                        stack.append((q, w))
        if len(comp) > len(best):
            best = comp
rows = [r for r, _ in best]
cols = [c for _, c in best]
want = dict(top=max(0, min(rows) * 8 - 1), left=max(0, min(cols) * 8 - 1),
            bottom=(max(rows) + 1) * 8 - 1, right=(max(cols) + 1) * 8 - 1)
assert want == box, f"DPPM on the dumped rollout gives {want}, classify --json {box}"
if len(sys.argv) > 3:
    gold = np.load(sys.argv[3]).reshape(8, 8)
    err = np.abs(p - gold).max()
    assert err < 1e-4, f"rollout differs from the golden p by {err}"
if len(sys.argv) > 4:
    comp = np.load(sys.argv[4]).astype(bool)
    rows, cols = np.nonzero(comp)
    assert box["top"] == max(0, rows.min() * 8 - 1) and box["bottom"] == (rows.max() + 1) * 8 - 1
    assert box["left"] == max(0, cols.min() * 8 - 1) and box["right"] == (cols.max() + 1) * 8 - 1
print("rollout ok")
EOF
}

cd "$TMP" || exit 1

# ---- a preprocessed tensor ---------------------------------------------------------------------
"$RAMSCLI" classify --json --model "$MODEL" "$INPUT" >"$TMP/input.json" 2>"$TMP/err" ||
    bad "classify --json on input.npy"
run "explain input.npy" 0 "$RAMSCLI" explain --model "$MODEL" --out "$TMP/a.png" --rollout "$TMP/a.npy" "$INPUT" &&
    expect "stdout names the picture, the answer and the box" grep -q "^$TMP/a.png  \[fused\] four .* box t=15 l=15 b=39 r=31$" "$TMP/out" &&
    expect "nothing on stderr" test ! -s "$TMP/err"
expect "picture of input.npy: size, box frame, right panel = golden crop" \
    check_picture "$TMP/a.png" "$TMP/input.json" 844 "$GOLD/crop.npy"
expect "rollout dump: 8x8 float32, = golden p, DPPM on it gives the JSON box, = golden component box" \
    check_rollout "$TMP/a.npy" "$TMP/input.json" "$GOLD/p.npy" "$GOLD/component.npy"
expect "PNG says who wrote it" $PY -c '
import sys; from PIL import Image
assert Image.open(sys.argv[1]).text["Software"].startswith("ramscli explain")' "$TMP/a.png"

# Default output: IMAGE's file name + .explain.png in the current directory.
run "explain without --out" 0 "$RAMSCLI" explain --model "$MODEL" "$INPUT" &&
    expect "default output name" test -s "$TMP/input.npy.explain.png" &&
    expect "same picture as with --out" cmp -s "$TMP/input.npy.explain.png" "$TMP/a.png"

# The answer line follows --mode; the picture is the same whatever the mode but for its mark.
for mode in scale1 scale2 fused; do
    want=$("$RAMSCLI" classify --json --model "$MODEL" --mode $mode "$INPUT" |
        $PY -c 'import json,sys; print(json.load(sys.stdin)["top"][0]["label"])')
    run "explain --mode $mode" 0 "$RAMSCLI" explain --model "$MODEL" --mode $mode --out "$TMP/m.png" "$INPUT" &&
        expect "--mode $mode answers '$want' as classify does" grep -q "\[$mode\] $want " "$TMP/out"
done

# The f16 model gives the same box.
run "explain with the f16 model" 0 "$RAMSCLI" explain --model "$DATA/tiny_f16.safetensors" --out "$TMP/h.png" "$INPUT" &&
    expect "f16: same box frame" check_picture "$TMP/h.png" "$TMP/input.json" 844

# ---- a photo -----------------------------------------------------------------------------------
"$RAMSCLI" classify --json --model "$MODEL" "$PHOTO" >"$TMP/photo.json" 2>"$TMP/err" || bad "classify --json on the photo"
run "explain a PNG photo" 0 "$RAMSCLI" explain --model "$MODEL" -o "$TMP/p.png" --rollout "$TMP/p.npy" "$PHOTO"
expect "picture of the photo: size, box frame where classify --json puts it" \
    check_picture "$TMP/p.png" "$TMP/photo.json" 866
expect "photo rollout: 8x8, DPPM on it gives the JSON box" check_rollout "$TMP/p.npy" "$TMP/photo.json"

# ---- errors: exit 1, one line naming the file ----------------------------------------------------
run "missing image" 1 "$RAMSCLI" explain --model "$MODEL" -o "$TMP/x.png" "$TMP/missing.jpg" &&
    expect "missing image: one line naming it" one_error_line "$TMP/missing.jpg"
expect "no picture left behind" test ! -e "$TMP/x.png"
run "broken PNG" 1 "$RAMSCLI" explain --model "$MODEL" -o "$TMP/x.png" "$DATA/images/bad_png_crc.png" &&
    expect "broken PNG: one line naming it" one_error_line "bad_png_crc.png"
run "not an image" 1 "$RAMSCLI" explain --model "$MODEL" -o "$TMP/x.png" "$DATA/images/bad_text.png" &&
    expect "not an image: one line naming it" one_error_line "bad_text.png"
run "tensor of the wrong shape" 1 "$RAMSCLI" explain --model "$MODEL" -o "$TMP/x.png" "$DATA/images/npy_f4_1d.npy" &&
    expect "wrong shape: one line naming it" one_error_line "npy_f4_1d.npy: tensor shape"
run "unwritable --out" 1 "$RAMSCLI" explain --model "$MODEL" -o "$TMP/no/such/dir.png" "$INPUT" &&
    expect "unwritable --out: one line naming it" one_error_line "$TMP/no/such/dir.png: cannot create"
run "unwritable --rollout" 1 "$RAMSCLI" explain --model "$MODEL" -o "$TMP/x.png" --rollout "$TMP/no/r.npy" "$INPUT" &&
    expect "unwritable --rollout: one line naming it" one_error_line "$TMP/no/r.npy"
run "missing model" 1 "$RAMSCLI" explain --model "$TMP/none.safetensors" -o "$TMP/x.png" "$INPUT" &&
    expect "missing model: one line naming it" one_error_line "$TMP/none.safetensors"

# ---- usage errors: exit 2, nothing on stdout ---------------------------------------------------------
run "no IMAGE" 2 "$RAMSCLI" explain --model "$MODEL"
run "two IMAGEs" 2 "$RAMSCLI" explain --model "$MODEL" "$INPUT" "$INPUT"
run "--mode nonsense" 2 "$RAMSCLI" explain --model "$MODEL" --mode nonsense "$INPUT"
run "unknown option" 2 "$RAMSCLI" explain --frobnicate "$INPUT" &&
    expect "usage error names the option" grep -q "unknown option '--frobnicate'" "$TMP/err"
run "--out without value" 2 "$RAMSCLI" explain "$INPUT" --out
expect "usage errors print nothing on stdout" test ! -s "$TMP/out"
run "--help" 0 "$RAMSCLI" explain --help && expect "--help prints usage" grep -q "^usage: ramscli explain" "$TMP/out"

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
