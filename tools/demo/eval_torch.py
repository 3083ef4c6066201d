"""PyTorch accuracy of a RAMS-Trans model (model file or training checkpoint) on an ImageFolder tree.

    /usr/bin/python3 tools/demo/eval_torch.py --model models/default.safetensors DIR [--limit N] [--json]

--limit N scores the same N images as `ramscli eval --limit N`: round-robin over the sorted class
folders, the files of each sorted by name.

Images are preprocessed as the model file's metadata says (resize "fixed" to W x H, centre crop,
mean/std).  Prints top-1 and top-5 per mode (scale1, scale2, fused); --json prints one object on the
last line, the same shape as `ramscli eval --json`.  Class folders are matched to the model's labels
ignoring case and punctuation.
"""
import argparse
import json
import os
import re
import sys
import time

import numpy as np
import torch
from PIL import Image

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tools/: convert.py, model_file.py
sys.path[:0] = [TOOLS, os.path.join(TOOLS, "reference")]
import model_file  # noqa: E402
from ramstrans_torch import RamsTrans, fuse  # noqa: E402

MODES = ("scale1", "scale2", "fused")


def normalise_name(s):
    return re.sub(r"[^a-z0-9]", "", s.lower())


@torch.no_grad()
def predict(model, x, batch=100):
    """x: N x 3 x S x S float (already normalised).  Returns dict mode -> N x C probabilities."""
    model.eval()
    out = {m: [] for m in MODES}
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        l1, l2, _ = model(xb)  # scale 1, DPPM, scale 2
        out["scale1"].append(l1.softmax(-1))
        out["scale2"].append(l2.softmax(-1))
        out["fused"].append(fuse(l1, l2))
    return {m: torch.cat(v) for m, v in out.items()}


def accuracy(probs, y):
    """probs: dict mode -> N x C; y: N int64 tensor.  Returns (top1, top5) dicts of fractions."""
    top1, top5 = {}, {}
    for m, p in probs.items():
        k = min(5, p.shape[1])
        best = p.topk(k, dim=1).indices
        top1[m] = (best[:, 0] == y).float().mean().item()
        top5[m] = (best == y[:, None]).any(dim=1).float().mean().item()
    return top1, top5


def uint8_to_input(X, mean, std):
    """X: N x H x W x 3 uint8 numpy -> N x 3 x H x W normalised float tensor."""
    x = torch.from_numpy(X).permute(0, 3, 1, 2).float().div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - m) / s


def load_model(path):
    """A model file (.safetensors) or a training checkpoint (.pt).  Returns (model, labels, preprocess)."""
    if path.endswith(".pt"):
        from train import build_model_from_checkpoint
        return build_model_from_checkpoint(path)
    tensors, meta = model_file.read(path)
    cfg = model_file.load_config(meta)
    model = RamsTrans(cfg)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
    model.eval()
    return model, json.loads(meta["ramstrans.labels"]), json.loads(meta["ramstrans.preprocess"])


def round_robin(per_class, limit=None):
    """per_class: one list per class (in class order).  Takes one from each class in turn, as
    `ramscli eval` does, so that --limit N scores the same balanced subset there and here."""
    out = []
    for i in range(max((len(c) for c in per_class), default=0)):
        out += [c[i] for c in per_class if i < len(c)]
    return out[:limit] if limit else out


def load_folder(root, labels, preprocess, limit=None):
    """Reads DIR/<class>/* images, preprocessed as the metadata says.  Returns (uint8 array, y).
    Class folders and the files in each are sorted by name; with limit, the first `limit` images
    of the round-robin order over the classes (the subset `ramscli eval --limit` takes)."""
    index = {normalise_name(l): i for i, l in enumerate(labels)}
    per_class = []
    for d in sorted(os.listdir(root), key=os.fsencode):  # byte order, as ramscli's strcmp
        if not os.path.isdir(os.path.join(root, d)):
            continue
        if normalise_name(d) not in index:
            raise SystemExit(f"{root}/{d}: folder matches no label of the model")
        per_class.append([(os.path.join(root, d, f), index[normalise_name(d)])
                          for f in sorted(os.listdir(os.path.join(root, d)), key=os.fsencode)])
    files = round_robin(per_class, limit)
    rs, crop = preprocess["resize"], preprocess["crop"]
    X, y = [], []
    for f, label in files:
        im = Image.open(f).convert("RGB")
        if rs["mode"] == "fixed":
            im = im.resize((rs["width"], rs["height"]), Image.BILINEAR)
        elif rs["mode"] == "shorter":
            s = rs["size"]
            w, h = im.size
            im = im.resize((s, int(h * s / w)) if w <= h else (int(w * s / h), s), Image.BILINEAR)
        w, h = im.size
        left, top = (w - crop["width"]) // 2, (h - crop["height"]) // 2
        im = im.crop((left, top, left + crop["width"], top + crop["height"]))
        X.append(np.asarray(im, dtype=np.uint8))
        y.append(label)
    return np.stack(X), np.array(y, dtype=np.int64)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--model", default="models/default.safetensors")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, labels, preprocess = load_model(args.model)
    X, y = load_folder(args.dir, labels, preprocess, args.limit or None)
    x = uint8_to_input(X, preprocess["mean"], preprocess["std"])
    t0 = time.time()
    probs = predict(model, x)
    dt = time.time() - t0
    top1, top5 = accuracy(probs, torch.from_numpy(y))
    print(f"{len(y)} images, {len(y) / dt:.1f} images/s (PyTorch, both scales)")
    for m in MODES:
        print(f"  {m:7s} top-1 {100 * top1[m]:6.2f} %   top-5 {100 * top5[m]:6.2f} %")
    if args.json:
        print(json.dumps({"images": len(y), "top1": top1, "top5": top5, "images_per_s": len(y) / dt}))


if __name__ == "__main__":
    main()
