#!/usr/bin/python3
"""Exports the scale-1 network of a libramstrans model file to ONNX (for the benchmark against
ONNX Runtime; see bench/).  The graph takes a 1 x 3 x S x S float tensor and returns the scale-1
logits, i.e. exactly what `ramscli classify --mode scale1` computes.

    /usr/bin/python3 tools/bench/export_onnx.py --model MODEL.safetensors --out MODEL.onnx
"""
import argparse
import os
import sys

import torch

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tools/: convert.py, model_file.py
sys.path[:0] = [TOOLS, os.path.join(TOOLS, "reference")]
import model_file  # noqa: E402
from ramstrans_torch import RamsTrans  # noqa: E402


class Scale1(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.scale1(x)[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    tensors, meta = model_file.read(args.model)
    cfg = model_file.load_config(meta)
    model = RamsTrans(cfg).eval()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
    x = torch.zeros(1, 3, cfg.image_size, cfg.image_size)
    with torch.no_grad():
        torch.onnx.export(Scale1(model), x, args.out, input_names=["input"], output_names=["logits"],
                          opset_version=17)
    print(f"{args.out}: scale-1 network, input 1x3x{cfg.image_size}x{cfg.image_size}")


if __name__ == "__main__":
    main()
