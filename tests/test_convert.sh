#!/bin/sh
# tools/convert.py on every checkpoint form it must read, and on the ones it must refuse.
# Usage: tests/test_convert.sh   (needs Debian's python3-torch; runs in a few seconds)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILED=0
fail() { echo "FAIL: $*"; FAILED=1; }

# 1. Every accepted form (made in one process: torch starts slowly) converts to the same bytes:
# the zip format of torch >= 1.6 and the legacy stream, pickle protocols 2 and 4, and a training
# checkpoint whose other values are numpy scalars and an argparse.Namespace (skipped, never rebuilt).
STYLES="state_dict module wrapped wrapped_model pickled pickled_dp legacy_state_dict legacy_pickled legacy_pickled_dp protocol4_pickled numpy_extras"
$PY - "$ROOT/tools/reference" "$TMP" $STYLES <<'EOF' || fail "make_random_checkpoint"
import sys
sys.path.insert(0, sys.argv[1])
from make_random_checkpoint import PRESETS, random_model, save
from ramstrans_torch import Config
cfg = Config(**PRESETS["tiny"])
model = random_model(cfg, seed=0, init="sharp")
import argparse, numpy as np, torch
import make_random_checkpoint as M
for style in sys.argv[3:]:
    out = f"{sys.argv[2]}/{style}.pt"
    if style in M.STYLES:
        save(model, cfg, out, style, extra=True)
    elif style == "numpy_extras":
        sd = model.state_dict(); sd.update(M.extra_tensors(cfg))
        torch.save({"state_dict": sd, "epoch": np.int64(7), "best_acc": np.float64(0.5),
                    "args": argparse.Namespace(lr=0.03, name="run")}, out)
    else:  # legacy_* and protocol4_*: the same objects through other torch.save options
        save(model, cfg, out, style.split("_", 1)[1], extra=True, legacy=style.startswith("legacy"),
             protocol=4 if style.startswith("protocol4") else 2)
EOF
for style in $STYLES; do
  if $PY "$ROOT/tools/convert.py" --input "$TMP/$style.pt" --output "$TMP/$style.safetensors" --num-heads 4 \
      > "$TMP/$style.log" 2>&1; then
    grep -q "ignored 2 tensor\|ignored 16 tensor" "$TMP/$style.log" || fail "$style: extra tensors not reported"
    cmp -s "$TMP/state_dict.safetensors" "$TMP/$style.safetensors" || fail "$style: output differs from state_dict's"
  else
    fail "$style: convert failed: $(cat "$TMP/$style.log")"
  fi
done

# 2. The pickled object carries its head count; a plain state dict of width 32 needs --num-heads.
$PY "$ROOT/tools/convert.py" --input "$TMP/pickled.pt" --output "$TMP/heads.safetensors" > /dev/null 2>&1 ||
  fail "pickled without --num-heads"
cmp -s "$TMP/state_dict.safetensors" "$TMP/heads.safetensors" || fail "pickled: heads not read from the object"

# 3. Weights are exact in f32 and rounded in f16/bf16; metadata as asked.
printf 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n' > "$TMP/labels.txt"
for dt in f16 bf16; do
  $PY "$ROOT/tools/convert.py" --input "$TMP/state_dict.pt" --output "$TMP/$dt.safetensors" --num-heads 4 \
      --dtype $dt --alpha 1.3 --labels "$TMP/labels.txt" --default-mode scale1 > /dev/null 2>&1 || fail "--dtype $dt"
done
$PY - "$ROOT/tools" "$TMP" <<'EOF' || fail "converted tensors or metadata"
import json, sys, numpy as np, torch
sys.path.insert(0, sys.argv[1]); tmp = sys.argv[2]
import model_file
sd = torch.load(f"{tmp}/state_dict.pt")
t32, m32 = model_file.read(f"{tmp}/state_dict.safetensors")
assert set(t32) == {k for k in sd if "part_layer" not in k}, "tensor names"
for k, v in t32.items():
    assert np.array_equal(v, sd[k].numpy()), k
c = json.loads(m32["ramstrans.config"])
assert (c["image_size"], c["patch_size"], c["hidden_size"], c["num_heads"], c["num_layers"], c["mlp_size"],
        c["num_classes"], c["alpha"], c["default_mode"]) == (64, 8, 32, 4, 3, 64, 10, 1.2, "fused"), c
assert json.loads(m32["ramstrans.labels"])[3] == "class_3"
assert json.loads(m32["ramstrans.preprocess"])["crop"]["width"] == 64
for dt, tol in (("f16", 1e-3), ("bf16", 8e-3)):
    t, m = model_file.read(f"{tmp}/{dt}.safetensors")
    for k, v in t.items():
        assert np.allclose(v, sd[k].numpy(), rtol=tol, atol=1e-4), (dt, k)
    c = json.loads(m["ramstrans.config"])
    assert c["alpha"] == 1.3 and c["default_mode"] == "scale1", c
    assert json.loads(m["ramstrans.labels"]) == list("abcdefghij")
EOF

# 4. Refusals: exit status 1, one line on stderr that says why, no output file.
$PY - "$ROOT/tools" "$TMP" <<'EOF' || fail "could not write the bad checkpoints"
import os, sys, torch
sys.path.insert(0, sys.argv[1]); tmp = sys.argv[2]
sd = torch.load(f"{tmp}/state_dict.pt")
sd = {k: v for k, v in sd.items() if "part_layer" not in k}
def save(name, obj): torch.save(obj, f"{tmp}/bad_{name}.pt")
save("not_rams", {"encoder.weight": torch.zeros(3, 3), "encoder.bias": torch.zeros(3)})
save("missing", {k: v for k, v in sd.items() if k != "part_head.bias"})
bad = dict(sd); bad["transformer.encoder.layer.1.ffn.fc1.weight"] = torch.zeros(65, 32); save("shape", bad)
bad = dict(sd); bad["transformer.embeddings.position_embeddings"] = torch.zeros(1, 65, 32); save("one_cls", bad)
bad = dict(sd); bad["transformer.encoder.layer.2.attn.key.weight"] = torch.full((32, 32), float("nan")); save("nan", bad)
bad = dict(sd); bad["part_head.weight"] = torch.full((10, 32), 1e6); save("f16_range", bad)
bad = {k: v for k, v in sd.items() if ".layer.1." not in k}; save("layer_gap", bad)
save("no_state", {"epoch": 3, "optimizer": {}})
save("tensor", torch.zeros(3))
class Evil:  # a pickle that would run os.system when loaded with the plain unpickler
    def __reduce__(self):
        return (os.system, (f"touch {tmp}/pwned",))
save("evil", {"model": Evil()})
with open(f"{tmp}/bad_garbage.pt", "wb") as f:
    f.write(b"this is not a checkpoint\n" * 10)
EOF
printf 'a\nb\n' > "$TMP/two_labels.txt"
refuse() { # name expected-words [extra args]
  name=$1; words=$2; shift 2
  rm -f "$TMP/out.safetensors"
  $PY "$ROOT/tools/convert.py" --input "$TMP/$name" --output "$TMP/out.safetensors" --num-heads 4 "$@" \
    > "$TMP/refuse.out" 2> "$TMP/refuse.err"
  rc=$?
  [ $rc -eq 1 ] || fail "$name: exit status $rc, want 1"
  [ "$(wc -l < "$TMP/refuse.err")" -eq 1 ] || fail "$name: stderr is not one line: $(cat "$TMP/refuse.err")"
  grep -qi "$words" "$TMP/refuse.err" || fail "$name: message lacks '$words': $(cat "$TMP/refuse.err")"
  [ ! -e "$TMP/out.safetensors" ] || fail "$name: wrote an output file"
  [ ! -e "$TMP/out.safetensors.tmp" ] || fail "$name: left a temporary file"
}
refuse bad_not_rams.pt "not a RAMS-Trans"
refuse bad_missing.pt "part_head.bias"
refuse bad_shape.pt "layer.1.ffn.fc1.weight"
refuse bad_one_cls.pt "G\*G + 2"
refuse bad_nan.pt "NaN"
refuse bad_f16_range.pt "f16 range" --dtype f16
refuse bad_layer_gap.pt "not 0..L-1"
refuse bad_no_state.pt "neither tensors"
refuse bad_tensor.pt "not a model"
refuse bad_evil.pt "names 'posix.system'"
[ ! -e "$TMP/pwned" ] || fail "bad_evil.pt: loading ran code from the checkpoint"
refuse bad_garbage.pt "not a torch.save checkpoint"
refuse does_not_exist.pt "no such file"
refuse state_dict.pt "2 labels" --labels "$TMP/two_labels.txt"
rm -f "$TMP/out.safetensors"
$PY "$ROOT/tools/convert.py" --input "$TMP/state_dict.pt" --output "$TMP/out.safetensors" > /dev/null 2> "$TMP/refuse.err"
[ $? -eq 1 ] && grep -q "num-heads" "$TMP/refuse.err" || fail "width 32 without --num-heads: $(cat "$TMP/refuse.err")"

if [ $FAILED -eq 0 ]; then echo "test_convert: all passed"; else echo "test_convert: FAILED"; fi
exit $FAILED
