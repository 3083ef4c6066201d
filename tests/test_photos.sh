#!/bin/sh
# Issue 3's acceptance check: every valid test photo (JPEG and PNG of every kind) through
# `ramscli classify --json --mode fused` against PIL + torchvision + the PyTorch reference on a
# random 448-px model with the released CUB preprocessing: the same box, logits within 1e-2.
# Usage: tests/test_photos.sh RAMSCLI       (needs Debian's python3-torch, -torchvision, -pil)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLI=${1:-$ROOT/build/ramscli}
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
$PY "$ROOT/tools/reference/make_random_checkpoint.py" --preset small --out "$TMP/small.pt" --seed 7 >/dev/null
$PY "$ROOT/tools/convert.py" --input "$TMP/small.pt" --output "$TMP/small.safetensors" >/dev/null
cd "$ROOT/tests/data/images"
$PY -W ignore "$ROOT/tools/reference/check_photos.py" --model "$TMP/small.safetensors" --ramscli "$CLI" \
    $(ls *.jpg *.png | grep -v '^bad_')
