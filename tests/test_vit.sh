#!/bin/sh
# Plain ViTs (issue 14): one set of random weights written as a Google .npz, timm .pth and .safetensors,
# a Hugging Face folder (model.safetensors and pytorch_model.bin) and a ViT-pytorch state dict must
# convert to byte-identical model files; ramscli on them must give the logits of the PyTorch ViT that
# loads the .npz (tools/reference/vit_torch.py) within 1e-3 relative + 1e-3 absolute in --mode scale1,
# and a box plus both scales' logits in --mode fused (tools/reference/check_vit.py); also at another
# image size (--image-size: position embeddings resized as the released load_from does), at a second
# architecture, with Hugging Face's LayerNorm eps 1e-12, and as --as-rams.  Then the refusals: each
# names the file and what is missing, exit status 1, one stderr line, no output file.
# Usage: tests/test_vit.sh RAMSCLI      (needs Debian's python3-torch and python3-scipy)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLI=${1:-$ROOT/build/ramscli}
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILED=0
fail() { echo "FAIL: $*"; FAILED=1; }
convert() { $PY "$ROOT/tools/convert.py" "$@" > "$TMP/convert.log" 2>&1 || { fail "convert $*: $(cat "$TMP/convert.log")"; return 1; }; }

# 1. One set of weights in every layout -> identical model files.
$PY "$ROOT/tools/reference/make_random_vit.py" --preset tiny --layout all --out "$TMP/w" --seed 5 --hf-eps 1e-6 \
  > /dev/null 2>&1 || fail "make_random_vit tiny"
$PY "$ROOT/tools/reference/make_random_vit.py" --preset tiny --layout hf --hf-bin --out "$TMP/w/hf_bin" --seed 5 \
  --hf-eps 1e-6 > /dev/null 2>&1 || fail "make_random_vit tiny hf_bin"
convert --input "$TMP/w/vit.npz" --output "$TMP/npz.safetensors"
grep -q "heads 4 (the query kernel" "$TMP/convert.log" || fail "npz: heads not read from the query kernel"
for src in timm.pth timm.safetensors hf hf_bin vitpytorch.pth hf/model.safetensors; do
  convert --input "$TMP/w/$src" --output "$TMP/other.safetensors" --num-heads 4 &&
    { cmp -s "$TMP/npz.safetensors" "$TMP/other.safetensors" || fail "$src: model file differs from the .npz's"; }
done
$PY - "$ROOT/tools" "$TMP/npz.safetensors" <<'EOF' || fail "model file metadata"
import json, sys
sys.path.insert(0, sys.argv[1]); import model_file
t, m = model_file.read(sys.argv[2])
c = json.loads(m["ramstrans.config"])
assert m["ramstrans.format_version"] == "2" and c["num_cls_tokens"] == 1 and c["default_mode"] == "scale1", (m, c)
assert "transformer.embeddings.cls_token" in t and "transformer.embeddings.cls_token1" not in t
assert t["transformer.embeddings.position_embeddings"].shape == (1, 65, 32)
p = json.loads(m["ramstrans.preprocess"])
assert p["resize"] == {"mode": "fixed", "width": 64, "height": 64} and p["mean"] == [0.5] * 3 and p["std"] == [0.5] * 3, p
EOF
"$CLI" info --model "$TMP/npz.safetensors" > "$TMP/info.txt" 2>&1 || fail "ramscli info: $(cat "$TMP/info.txt")"
grep -q "^CLS tokens *1 " "$TMP/info.txt" || fail "ramscli info does not show the CLS count: $(cat "$TMP/info.txt")"

# 2. ramscli against the ViT that loads the .npz: the tiny model (and its timm and HF copies), a second
# architecture at its own size and at another one, Hugging Face's eps.
check() {
  if $PY "$ROOT/tools/reference/check_vit.py" --ramscli "$CLI" "$@" > "$TMP/check.log" 2>&1; then
    echo "ok $(grep "worst" "$TMP/check.log") ($*)"
  else
    fail "check_vit $*: $(grep -v "^ok" "$TMP/check.log" | tail -5)"
  fi
}
check --npz "$TMP/w/vit.npz" --random-inputs 3
check --npz "$TMP/w/vit.npz" --input "$TMP/w/timm.pth" --num-heads 4 --random-inputs 2
check --npz "$TMP/w/vit.npz" --image-size 96 --random-inputs 2
$PY "$ROOT/tools/reference/make_random_vit.py" --preset small --layout google --out "$TMP/small.npz" --seed 6 \
  > /dev/null 2>&1 || fail "make_random_vit small"
$PY "$ROOT/tools/reference/make_random_vit.py" --preset small --layout hf --out "$TMP/small_hf" --seed 6 \
  > /dev/null 2>&1 || fail "make_random_vit small hf"
check --npz "$TMP/small.npz" --random-inputs 2
check --npz "$TMP/small.npz" --image-size 288 --random-inputs 2
check --npz "$TMP/small.npz" --input "$TMP/small_hf" --ln-eps 1e-12 --random-inputs 2

# 3. --as-rams: the released trainer's RAMS-Trans init (CLS copied into both tokens, its position row
# twice, the grid through ndimage.zoom), a version-1 file that ramscli runs as the RAMS reference does.
convert --input "$TMP/w/vit.npz" --output "$TMP/rams.safetensors" --as-rams --image-size 96
$PY - "$ROOT/tools" "$TMP" "$CLI" <<'EOF' || fail "--as-rams"
import json, subprocess, sys
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/reference"]
import numpy as np, torch, model_file, ramstrans_torch as R
from scipy import ndimage
tmp, cli = sys.argv[2], sys.argv[3]
t, m = model_file.read(f"{tmp}/rams.safetensors")
assert m["ramstrans.format_version"] == "1" and "num_cls_tokens" not in json.loads(m["ramstrans.config"])
w = np.load(f"{tmp}/w/vit.npz")
emb = "transformer.embeddings."
assert np.array_equal(t[emb + "cls_token1"], w["cls"]) and np.array_equal(t[emb + "cls_token2"], w["cls"])
pos, old = t[emb + "position_embeddings"], w["Transformer/posembed_input/pos_embedding"]
grid = ndimage.zoom(old[0, 1:].reshape(8, 8, -1), (12 / 8, 12 / 8, 1), order=1).reshape(1, 144, -1)
assert np.array_equal(pos, np.concatenate([old[:, :1], old[:, :1], grid], axis=1))
cfg = model_file.load_config(m)
model = R.RamsTrans(cfg).eval()
model.load_state_dict({k: torch.from_numpy(v) for k, v in t.items()}, strict=True)
x = torch.randn(3, 96, 96, generator=torch.Generator().manual_seed(3))
np.save(f"{tmp}/rams_in.npy", x.numpy())
with torch.no_grad():
    l1, l2, boxes = model(x[None])
out = json.loads(subprocess.run([cli, "classify", "--json", "--mode", "fused", "--model", f"{tmp}/rams.safetensors",
                                 f"{tmp}/rams_in.npy"], capture_output=True, text=True, check=True).stdout)
for got, want in ((out["logits"]["scale1"], l1[0]), (out["logits"]["scale2"], l2[0])):
    assert np.allclose(got, want.numpy(), rtol=1e-3, atol=1e-3), (got, want)
b = out["box"]
assert [b["top"], b["left"], b["bottom"], b["right"]] == list(boxes[0]), (b, boxes)
print(f"--as-rams: box {list(boxes[0])}, logits match")
EOF

# 4. Refusals: exit status 1, one line on stderr naming the file and what is wrong, no output file.
$PY - "$ROOT/tools/reference" "$TMP" <<'EOF' || fail "could not write the bad checkpoints"
import io, json, os, shutil, struct, sys, zipfile
sys.path.insert(0, sys.argv[1]); tmp = sys.argv[2]
import numpy as np, torch
from make_random_vit import random_vit, google_layout, timm_layout, write
import model_file
cfg, sd = random_vit("tiny", seed=5)
g = google_layout(sd, cfg)
def npz(name, d): np.savez(f"{tmp}/bad_{name}.npz", **d)
npz("hybrid", dict(g, **{"conv_root/kernel": np.zeros((7, 7, 3, 8), np.float32)}))
npz("gap", {k: v for k, v in g.items() if k != "cls"})
npz("missing", {k: v for k, v in g.items() if k != "Transformer/encoderblock_1/MlpBlock_3/Dense_1/bias"})
npz("not_vit", {"weights": np.zeros(3, np.float32)})
npz("extra", dict(g, **{"Transformer/encoderblock_0/LayerScale/scale": np.ones(32, np.float32)}))
bad = dict(g); bad["Transformer/encoderblock_2/MultiHeadDotProductAttention_1/key/kernel"] = np.full((32, 4, 8), np.nan, np.float32)
npz("nan", bad)
np.savez(f"{tmp}/bad_object.npz", **dict(g, cls=np.array([{"a": 1}], dtype=object)))
with zipfile.ZipFile(f"{tmp}/bad_bomb.npz", "w", zipfile.ZIP_DEFLATED) as z:  # 512 MB of zeros, ~0.5 MB packed
    with z.open("cls.npy", "w", force_zip64=True) as f:
        hdr = io.BytesIO()
        np.lib.format.write_array_header_1_0(hdr, {"descr": "<f4", "fortran_order": False, "shape": (1 << 27,)})
        f.write(hdr.getvalue())
        chunk = bytes(1 << 24)
        for _ in range(32):
            f.write(chunk)
t = timm_layout(sd, cfg)
torch.save(dict(t, **{"fc_norm.weight": torch.ones(32), "fc_norm.bias": torch.zeros(32)}), f"{tmp}/bad_timm_gap.pth")
torch.save(dict(t, dist_token=torch.zeros(1, 1, 32)), f"{tmp}/bad_timm_deit.pth")
torch.save({k: v for k, v in t.items() if not k.startswith("head.")}, f"{tmp}/bad_timm_nohead.pth")
write("hf", sd, cfg, f"{tmp}/bad_hf_act")
c = json.load(open(f"{tmp}/bad_hf_act/config.json")); c["hidden_act"] = "gelu_new"
json.dump(c, open(f"{tmp}/bad_hf_act/config.json", "w"))
os.makedirs(f"{tmp}/bad_hf_noconfig"); shutil.copy(f"{tmp}/bad_hf_act/model.safetensors", f"{tmp}/bad_hf_noconfig/")
os.makedirs(f"{tmp}/bad_hf_empty")
from make_random_vit import hf_layout
h = hf_layout(sd, cfg)
model_file.write(f"{tmp}/bad_hf_nohead.safetensors", {k: v for k, v in h.items() if not k.startswith("classifier.")},
                 {"format": "pt"})
# safetensors whose header lies: two tensors on the same bytes, and a length past the end
raw = open(f"{tmp}/bad_hf_nohead.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]; hdr = json.loads(raw[8:8 + n])
same = {}
for k, v in hdr.items():  # two tensors of the same size: the second pointed at the first's bytes
    if k != "__metadata__":
        same.setdefault(v["data_offsets"][1] - v["data_offsets"][0], []).append(k)
a, b = next(v for v in same.values() if len(v) > 1)[:2]
hdr[b]["data_offsets"] = list(hdr[a]["data_offsets"])
text = json.dumps(hdr).encode(); text += b" " * (-len(text) % 8)
open(f"{tmp}/bad_overlap.safetensors", "wb").write(struct.pack("<Q", len(text)) + text + raw[8 + n:])
open(f"{tmp}/bad_truncated.safetensors", "wb").write(raw[:len(raw) // 2])
EOF
refuse() { # name expected-words [extra args]
  name=$1; words=$2; shift 2
  rm -f "$TMP/out.safetensors"
  $PY "$ROOT/tools/convert.py" --input "$TMP/$name" --output "$TMP/out.safetensors" "$@" > /dev/null 2> "$TMP/refuse.err"
  rc=$?
  [ $rc -eq 1 ] || fail "$name: exit status $rc, want 1 ($(cat "$TMP/refuse.err"))"
  [ "$(wc -l < "$TMP/refuse.err")" -eq 1 ] || fail "$name: stderr is not one line: $(cat "$TMP/refuse.err")"
  grep -q "$name" "$TMP/refuse.err" || fail "$name: message does not name the file: $(cat "$TMP/refuse.err")"
  grep -qi -- "$words" "$TMP/refuse.err" || fail "$name: message lacks '$words': $(cat "$TMP/refuse.err")"
  [ ! -e "$TMP/out.safetensors" ] && [ ! -e "$TMP/out.safetensors.tmp" ] || fail "$name: left an output file"
}
refuse bad_hybrid.npz "hybrid ResNet+ViT"
refuse bad_gap.npz "without 'cls'"
refuse bad_missing.npz "Transformer/encoderblock_1/MlpBlock_3/Dense_1/bias"
refuse bad_not_vit.npz "not a Google ViT"
refuse bad_extra.npz "LayerScale"
refuse bad_nan.npz "NaN"
refuse bad_object.npz "not a plain number type"
refuse bad_bomb.npz "zip bomb"
refuse bad_timm_gap.pth "fc_norm"
refuse bad_timm_deit.pth "distill"
refuse bad_timm_nohead.pth "head.weight"
refuse bad_hf_act "gelu_new"
refuse bad_hf_noconfig "config.json"
refuse bad_hf_empty "model.safetensors"
refuse bad_hf_nohead.safetensors "classifier.weight"
refuse bad_overlap.safetensors "share bytes"
refuse bad_truncated.safetensors "outside the"
refuse npz.safetensors "already a libramstrans model file"
cp "$TMP/w/vit.npz" "$TMP/vit_copy.npz"
refuse vit_copy.npz "not a multiple of the patch size" --image-size 100
refuse vit_copy.npz "imagenet1k names 1000 classes" --labels imagenet1k
cp "$TMP/w/timm.pth" "$TMP/timm_copy.pth"
refuse timm_copy.pth "pass --num-heads"
refuse timm_copy.pth "--as-rams" --as-rams --num-heads 4

if [ $FAILED -eq 0 ]; then echo "test_vit: all passed"; else echo "test_vit: FAILED"; fi
exit $FAILED
