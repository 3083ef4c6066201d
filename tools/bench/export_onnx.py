#!/usr/bin/python3
"""Exports the scale-1 network of a libramstrans model file to ONNX (for the benchmark against
ONNX Runtime; see bench/).  The graph takes a 1 x 3 x S x S float tensor and returns the scale-1
logits, i.e. exactly what `ramscli classify --mode scale1` computes.

    /usr/bin/python3 tools/bench/export_onnx.py --model MODEL.safetensors --out MODEL.onnx [--int8 [--weight-bits 7]]

--int8 writes the graph ONNX Runtime's own dynamic quantization (quantize_dynamic, per-channel
weights) makes, for comparing its int8 with ours: every Linear of the blocks and the head becomes
DynamicQuantizeLinear (uint8 activations, one scale and zero point per tensor) -> MatMulInteger
with int8 weights by the q8 rule (per output channel, no zero point) -> Cast -> Mul by the two
scales -> Add bias, which ONNX Runtime fuses into its DynamicQuantizeMatMul.  --weight-bits 7
quantizes the weights to [-64, 63] (scale max|w| / 63) as quantize_dynamic's reduce_range does.
The onnx package is not needed: torch emits the nodes from a symbolic function.
"""
import argparse
import os
import sys

import numpy as np
import torch

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tools/: convert.py, model_file.py
sys.path[:0] = [TOOLS, os.path.join(TOOLS, "reference")]
import model_file  # noqa: E402
from ramstrans_torch import RamsTrans  # noqa: E402


class DynamicInt8Linear(torch.autograd.Function):
    """y = x W^T + b with x quantized per tensor to uint8 and W per output row to int8; its ONNX
    form is the node chain of quantize_dynamic.  forward() computes what that chain defines, with
    exact integer sums (float64), for tools/bench/ort_accuracy.py."""

    @staticmethod
    def forward(ctx, x, wq_t, w_scale, bias):
        # DynamicQuantizeLinear: the range always holds 0; rounding half to even (torch.round).
        lo, hi = torch.clamp(x.min(), max=0), torch.clamp(x.max(), min=0)
        xs = (hi - lo) / 255
        if xs == 0:
            xs = torch.ones_like(xs)
        xz = torch.clamp(torch.round(-lo / xs), 0, 255)
        xq = torch.clamp(torch.round(x / xs) + xz, 0, 255)
        acc = (xq.double() - xz.double()) @ wq_t.double()  # MatMulInteger: exact int32 sums
        return (acc.float() * (xs * w_scale) + bias).to(x.dtype)

    @staticmethod
    def symbolic(g, x, wq_t, w_scale, bias):
        xq, xs, xz = g.op("DynamicQuantizeLinear", x, outputs=3)
        y = g.op("Cast", g.op("MatMulInteger", xq, wq_t, xz), to_i=1)  # 1: FLOAT
        return g.op("Add", g.op("Mul", y, g.op("Mul", xs, w_scale)), bias)


class Int8Linear(torch.nn.Module):
    def __init__(self, linear, weight_bits=8):
        super().__init__()
        w = linear.weight.detach().numpy()
        if weight_bits == 8:
            q, scale = model_file.q8_quantize(w)  # the q8 rule: [-127, 127], scale max|w| / 127
        else:
            scale = (np.abs(w).max(axis=1) / np.float32(63)).astype(np.float32)
            scale[scale == 0] = 1
            q = np.clip(np.rint(w / scale[:, None]), -64, 63).astype(np.int8)
        self.register_buffer("wq_t", torch.from_numpy(q.T.copy()))  # [in, out] int8
        self.register_buffer("w_scale", torch.from_numpy(scale))
        self.register_buffer("bias", linear.bias.detach().clone())

    def forward(self, x):
        return DynamicInt8Linear.apply(x, self.wq_t, self.w_scale, self.bias)


def quantize_linears(module, weight_bits=8):
    """Replaces every nn.Linear below `module` by Int8Linear (the patch embedding is a Conv2d)."""
    for name, child in module.named_children():
        if isinstance(child, torch.nn.Linear):
            setattr(module, name, Int8Linear(child, weight_bits))
        else:
            quantize_linears(child, weight_bits)


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
    ap.add_argument("--int8", action="store_true", help="ONNX Runtime's dynamic int8 graph (see above)")
    ap.add_argument("--weight-bits", type=int, choices=(7, 8), default=8, help="with --int8 (see above)")
    args = ap.parse_args()
    tensors, meta = model_file.read(args.model)
    cfg = model_file.load_config(meta)
    model = RamsTrans(cfg).eval()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
    if args.int8:
        quantize_linears(model, args.weight_bits)
    x = torch.zeros(1, 3, cfg.image_size, cfg.image_size)
    with torch.no_grad():
        torch.onnx.export(Scale1(model), x, args.out, input_names=["input"], output_names=["logits"],
                          opset_version=17)
    kind = f"int8 (dynamic, {args.weight_bits}-bit weights) " if args.int8 else ""
    print(f"{args.out}: {kind}scale-1 network, input 1x3x{cfg.image_size}x{cfg.image_size}")


if __name__ == "__main__":
    main()
