#!/bin/sh
# Issue 3's acceptance check: every valid test photo (JPEG, PNG and WebP of every kind) through
# `ramscli classify --json --mode fused` against PIL + torchvision + the PyTorch reference on a
# random 448-px model with the released CUB preprocessing: the same box, logits within 1e-2.
# Besides, the example photos re-encoded by PIL as lossy, lossless and alpha WebP (issue 15).
# Usage: tests/test_photos.sh RAMSCLI       (needs Debian's python3-torch, -torchvision, -pil)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLI=${1:-$ROOT/build/ramscli}
. "$ROOT/tests/harness.sh"
$PY "$ROOT/tools/reference/make_random_checkpoint.py" --preset small --out "$TMP/small.pt" --seed 7 >/dev/null
$PY "$ROOT/tools/convert.py" --input "$TMP/small.pt" --output "$TMP/small.safetensors" >/dev/null
mkdir "$TMP/webp"
$PY - "$ROOT/examples" "$TMP/webp" <<'EOF'
import glob, os, sys
import numpy as np
from PIL import Image
src, out = sys.argv[1], sys.argv[2]
for path in sorted(glob.glob(os.path.join(src, "*.png"))):
    name = os.path.splitext(os.path.basename(path))[0]
    im = Image.open(path).convert("RGB")
    h, w = im.height, im.width
    y, x = np.mgrid[0:h, 0:w]
    rgba = im.copy()
    rgba.putalpha(Image.fromarray(((x * 255 // w + y * 128 // h) % 256).astype(np.uint8)))
    im.save(os.path.join(out, name + "_lossy.webp"), quality=80)
    im.save(os.path.join(out, name + "_lossless.webp"), lossless=True)
    rgba.save(os.path.join(out, name + "_alpha.webp"), quality=75)
EOF
cd "$ROOT/tests/data/images"
$PY -W ignore "$ROOT/tools/reference/check_photos.py" --model "$TMP/small.safetensors" --ramscli "$CLI" \
    $(ls *.jpg *.png *.webp | grep -v '^bad_') "$TMP"/webp/*.webp
