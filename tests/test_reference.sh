#!/bin/sh
# Issue 2's acceptance check in miniature: random-weight checkpoints in the released code's forms
# (a pickled whole model inside DataParallel, a plain state dict), converted by tools/convert.py and
# run through `ramscli classify --json --mode fused`, against the PyTorch reference: logits within
# 1e-3 relative + 2e-3 absolute, the box exactly (tools/reference/check_reference.py).
# Usage: tests/test_reference.sh RAMSCLI      (needs Debian's python3-torch)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLI=${1:-$ROOT/build/ramscli}
. "$ROOT/tests/harness.sh"
$PY "$ROOT/tools/reference/make_random_checkpoint.py" --preset tiny --style pickled_dp --out "$TMP/tiny.pt" --seed 3
$PY "$ROOT/tools/reference/check_reference.py" --checkpoint "$TMP/tiny.pt" --num-heads 4 --random-inputs 4 --ramscli "$CLI"
$PY "$ROOT/tools/reference/make_random_checkpoint.py" --preset small --style state_dict --out "$TMP/small.pt" --seed 4
$PY "$ROOT/tools/reference/check_reference.py" --checkpoint "$TMP/small.pt" --random-inputs 2 --dtype f16 --ramscli "$CLI"
