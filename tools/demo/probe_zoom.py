"""How much of the zoomed scale's error is the proposal and how much the reading.

    /usr/bin/python3 tools/demo/probe_zoom.py runs/final/final.pt

On the validation draw train.py uses (held-out Fashion-MNIST train items 55000..59999, 1000
scenes, seed 2000), prints top-1 of scale 1, of scale 2 on DPPM's crop (what the model does), of
scale 2 on a crop around the rendered item box (what a perfect proposal would give: the box grown
to whole patches, as train.py's ground-truth crops, without their random margin) and of fused mode
with either crop.
"""
import argparse
import os
import sys

import numpy as np
import torch

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tools/: convert.py, model_file.py
sys.path[:0] = [TOOLS, os.path.join(TOOLS, "reference")]
from eval_torch import uint8_to_input  # noqa: E402
from ramstrans_torch import fuse  # noqa: E402
from train import MEAN, STD, TRAIN_SOURCES, build_model_from_checkpoint, cached_draw, gt_crops  # noqa: E402


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="a finished run's final.pt")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(2)
    model, _, meta = build_model_from_checkpoint(args.checkpoint)
    size = meta["crop"]["width"]
    X, y, boxes = cached_draw("train", args.count, args.seed, size, (TRAIN_SOURCES, 60000))
    x = uint8_to_input(np.array(X), MEAN, STD)
    y = torch.from_numpy(np.asarray(y))
    parts = []
    for i in range(0, len(y), args.batch):
        xb = x[i:i + args.batch]
        logits1, logits_dppm, _ = model(xb)
        true_crops = gt_crops(xb, boxes[i:i + args.batch], np.zeros(len(xb), bool), model.cfg)
        parts.append((logits1, logits_dppm, model.scale2(true_crops)))
    logits1, logits_dppm, logits_true = (torch.cat(t) for t in zip(*parts))

    def top1(scores):
        return 100 * (scores.argmax(1) == y).float().mean().item()

    print(f"{args.count} validation scenes, alpha {model.cfg.alpha}")
    print(f"scale1                      {top1(logits1):6.2f} %")
    print(f"scale2, DPPM crop           {top1(logits_dppm):6.2f} %")
    print(f"scale2, item-box crop       {top1(logits_true):6.2f} %")
    print(f"fused, DPPM crop            {top1(fuse(logits1, logits_dppm)):6.2f} %")
    print(f"fused, item-box crop        {top1(fuse(logits1, logits_true)):6.2f} %")


if __name__ == "__main__":
    main()
