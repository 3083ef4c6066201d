#!/usr/bin/python3
"""Check ramscli on a plain ViT against the PyTorch ViT that loads Google's .npz files (issue 14's check).

    /usr/bin/python3 tools/reference/check_vit.py --npz VIT.npz [--input CKPT|DIR] [--image-size S]
        [--num-heads H] [--ln-eps E] (--inputs a.npy ... | --random-inputs N) [--ramscli PATH] [--keep DIR]

1. The reference: tools/reference/vit_torch.py's VisionTransformer built for S (default: the file's own
   size) and filled by its load_from from --npz (position embeddings resized by ndimage.zoom when S
   differs), float32; scale-1 logits, and RAMS's zoom (DPPM over the scale-1 attention, the crop,
   scale-2 logits from the same CLS token).
2. tools/convert.py converts --input (default: the .npz itself; a timm or Hugging Face copy of the same
   weights works too) with --image-size S.
3. `ramscli classify --json --mode scale1` must give the scale-1 logits within 1e-3 relative + 1e-3
   absolute; `--mode fused` must give a box (equal to the reference's unless a DPPM score lies within
   1e-4 of its threshold) and both scales' logits within the same tolerance.
Exit status 0 when everything matches, 1 otherwise, 2 when ramscli cannot be run.
"""
import argparse
import os
import sys

import numpy as np
import torch

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(TOOLS)
sys.path[:0] = [TOOLS, os.path.join(TOOLS, "reference")]
import convert  # noqa: E402
import vit_torch  # noqa: E402
from ramscli_check import (add_common_args, compare_logits, json_box, random_inputs,  # noqa: E402
                           run_in_workdir, run_ramscli)

RTOL, ATOL = 1e-3, 1e-3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--npz", required=True, help="Google-layout .npz: the reference's weights")
    ap.add_argument("--input", default=None, help="what to convert (default: --npz)")
    ap.add_argument("--image-size", type=int, default=None)
    ap.add_argument("--num-heads", type=int, default=None)
    ap.add_argument("--alpha", type=float, default=1.2)
    ap.add_argument("--ln-eps", type=float, default=1e-6,
                    help="the reference's LayerNorm eps (1e-12 when --input is a Hugging Face copy)")
    add_common_args(ap, ROOT)
    return run_in_workdir(ap, ap.parse_args(argv), "check_vit_", check)


def check(args, work):
    torch.set_num_threads(1)
    model = vit_torch.from_npz(args.npz, img_size=args.image_size, eps=args.ln_eps)
    S = model.img_size
    model_path = os.path.join(work, "model.safetensors")
    convert.convert(args.input or args.npz, model_path, num_heads=args.num_heads, alpha=args.alpha,
                    image_size=args.image_size, log=lambda *a: None)
    inputs = list(args.inputs) + random_inputs(work, args.random_inputs, S, seed=2000)
    refs = {}
    for path in inputs:
        x = torch.from_numpy(np.load(path))[None]
        l1, l2, boxes, details = vit_torch.zoom_pass(model, x, alpha=args.alpha)
        d = details[0]
        refs[path] = dict(scale1=l1[0].numpy(), scale2=l2[0].numpy(), box=[int(b) for b in boxes[0]],
                          margin=float(np.min(np.abs(d["p"] - d["t"]))))
    if not os.access(args.ramscli, os.X_OK):
        print(f"check_vit: {args.ramscli} is not an executable; nothing compared", file=sys.stderr)
        return 2
    rc1, res1, err1 = run_ramscli(args.ramscli, "scale1", model_path, inputs, "check_vit")
    rc2, res2, err2 = run_ramscli(args.ramscli, "fused", model_path, inputs, "check_vit")
    for rc, err, mode in ((rc1, err1, "scale1"), (rc2, err2, "fused")):
        if rc != 0:
            print(f"ramscli --mode {mode}: exit status {rc}: {err.strip()[-500:]}")
    bad_rc = rc1 != 0 or rc2 != 0
    failures, worst = 0, {"scale1": 0.0, "fused scale1": 0.0, "fused scale2": 0.0}
    for path, r in refs.items():
        problems = []
        a, b = res1.get(path), res2.get(path)
        if a is None or b is None:
            print(f"FAIL {path}: no JSON result")
            failures += 1
            continue
        for label, got, want in (("scale1", (a.get("logits") or {}).get("scale1"), r["scale1"]),
                                 ("fused scale1", (b.get("logits") or {}).get("scale1"), r["scale1"]),
                                 ("fused scale2", (b.get("logits") or {}).get("scale2"), r["scale2"])):
            q, problem = compare_logits(label, got, want, RTOL, ATOL)
            worst[label] = max(worst[label], q)
            if problem:
                problems.append(problem)
        if a.get("box") is not None:
            problems.append("--mode scale1 gave a box")
        got_box = json_box(b)
        if got_box is None:
            problems.append("--mode fused gave no box")
        elif got_box != r["box"] and r["margin"] >= 1e-4:
            problems.append(f"box {got_box} != reference {r['box']}")
        failures += bool(problems)
        print(f"{'FAIL' if problems else 'ok  '} {os.path.basename(path)}: box {got_box} (reference {r['box']}, "
              f"margin {r['margin']:.3g})" + ("; " + "; ".join(problems) if problems else ""))
    print(f"image {S}: worst tolerance ratio (<= 1 passes): " + ", ".join(f"{k} {v:.3g}" for k, v in worst.items()))
    print(f"{len(refs) - failures}/{len(refs)} inputs match")
    return 1 if failures or bad_rc else 0


if __name__ == "__main__":
    sys.exit(main())
