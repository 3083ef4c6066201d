#!/usr/bin/python3
"""Check `ramscli classify` on photos against PIL + torchvision + the PyTorch reference, the way
issue 3 is judged: the same box, logits within 1e-2 (relative + absolute).

    /usr/bin/python3 tools/reference/check_photos.py --model M.safetensors [--ramscli PATH] PHOTO...

The reference side is what a user of the released code runs: Image.open(f).convert('RGB'), then
torchvision's Resize / CenterCrop / ToTensor / Normalize as the model file's preprocessing
metadata says (SPEC 4), then tools/reference/ramstrans_torch.py in float32 (scale 1, DPPM, scale 2).
Exit status 0 when every photo matches, 1 otherwise.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tools/: convert.py, model_file.py
sys.path[:0] = [TOOLS, os.path.join(TOOLS, "reference")]
import model_file  # noqa: E402
import ramstrans_torch as R  # noqa: E402

TOL = 1e-2


def torchvision_pipeline(pre):
    resize = pre["resize"]
    steps = []
    if resize["mode"] == "fixed":
        steps.append(transforms.Resize((resize["height"], resize["width"]), interpolation=transforms.InterpolationMode.BILINEAR))
    elif resize["mode"] == "shorter":
        steps.append(transforms.Resize(resize["size"], interpolation=transforms.InterpolationMode.BILINEAR))
    steps += [transforms.CenterCrop((pre["crop"]["height"], pre["crop"]["width"])), transforms.ToTensor(),
              transforms.Normalize(pre["mean"], pre["std"])]
    return transforms.Compose(steps)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--ramscli", default=os.path.join(os.path.dirname(TOOLS), "build", "ramscli"))
    ap.add_argument("photos", nargs="+")
    args = ap.parse_args()
    tensors, meta = model_file.read(args.model)
    cfg = model_file.load_config(meta)
    model = R.RamsTrans(cfg).eval()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
    pipeline = torchvision_pipeline(json.loads(meta["ramstrans.preprocess"]))

    run = subprocess.run([args.ramscli, "classify", "--json", "--mode", "fused", "--model", args.model] + args.photos,
                         capture_output=True, text=True)
    got = {}
    for line in run.stdout.splitlines():
        d = json.loads(line)
        got[d["file"]] = d
    failures = 0
    for photo in args.photos:
        x = pipeline(Image.open(photo).convert("RGB"))
        with torch.no_grad():
            l1, l2, boxes = model(x[None])
        want = {"scale1": l1[0].numpy(), "scale2": l2[0].numpy(), "box": list(boxes[0])}
        d = got.get(photo)
        if d is None:
            print(f"FAIL {photo}: ramscli gave no result ({run.stderr.strip()})")
            failures += 1
            continue
        ratio = max(float(np.max(np.abs(np.asarray(d["logits"][k]) - want[k]) / (TOL + TOL * np.abs(want[k]))))
                    for k in ("scale1", "scale2"))
        box = [d["box"][k] for k in ("top", "left", "bottom", "right")]
        ok = ratio <= 1 and box == [int(b) for b in want["box"]]
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {os.path.basename(photo)}: box {box} (reference {want['box']}), "
              f"logits at {ratio:.4f} of the tolerance")
    print(f"{len(args.photos) - failures} of {len(args.photos)} photos match")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
