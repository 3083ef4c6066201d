#!/usr/bin/python3
"""ONNX Runtime's own int8 against its f32, on a model file and an image folder: how far the graph
quantize_dynamic makes (tools/bench/export_onnx.py --int8: uint8 activations with one scale and
zero point per tensor, per-channel int8 weights) moves the scale-1 logits, in the terms the README
gives for `--precision int8` (relative L2 error, cosine, top-1 agreement).  Each graph runs twice:
in ONNX Runtime, and as its definition with exact integer sums in PyTorch, so that what ONNX
Runtime's kernel adds to the quantization's own error shows.  Weights as the q8 rule makes them
(8 bits) and as quantize_dynamic's reduce_range does (7 bits).

    /usr/bin/python3 tools/bench/ort_accuracy.py --model models/default.safetensors DIR [--limit N]

Needs node and onnxruntime-node in ORT_DIR (bench/run.sh installs it); work files go to a
temporary folder.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(ROOT, "tools", "demo"), HERE]
from eval_torch import load_folder, load_model, uint8_to_input  # noqa: E402
from export_onnx import quantize_linears  # noqa: E402


def ort_logits(model_file, inputs, n, work, extra):
    onnx, out = os.path.join(work, "model.onnx"), os.path.join(work, "logits.f32")
    subprocess.run([sys.executable, "-W", "ignore", os.path.join(HERE, "export_onnx.py"), "--model", model_file,
                    "--out", onnx] + extra, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["node", os.path.join(ROOT, "bench", "ort_logits.js"), onnx, inputs, out], check=True)
    return np.fromfile(out, dtype="<f4").reshape(n, -1).astype(np.float64)


@torch.no_grad()
def exact_logits(model_file, x, weight_bits):
    model = load_model(model_file)[0]
    quantize_linears(model, weight_bits)
    return torch.cat([model.scale1(torch.from_numpy(x[i:i + 100]))[0] for i in range(0, len(x), 100)]).double().numpy()


def compare(a, b, y):
    rel = np.linalg.norm(b - a, axis=1) / np.linalg.norm(a, axis=1)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return dict(top1_f32=float((a.argmax(1) == y).mean()), top1_int8=float((b.argmax(1) == y).mean()),
                agree=float((a.argmax(1) == b.argmax(1)).mean()), rel_l2_mean=float(rel.mean()),
                rel_l2_p99=float(np.percentile(rel, 99)), cos_min=float(cos.min()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("dir")
    ap.add_argument("--limit", type=int)
    args = ap.parse_args()
    if not os.environ.get("ORT_DIR"):
        raise SystemExit("ort_accuracy.py: set ORT_DIR to the folder holding node_modules/onnxruntime-node")
    _, labels, pre = load_model(args.model)
    X, y = load_folder(args.dir, labels, pre, args.limit)
    x = np.ascontiguousarray(uint8_to_input(X, pre["mean"], pre["std"]).numpy(), dtype=np.float32)
    results = {}
    with tempfile.TemporaryDirectory() as work:
        inputs = os.path.join(work, "inputs.npy")
        np.save(inputs, x)
        f32 = ort_logits(args.model, inputs, len(y), work, [])
        for bits in (8, 7):
            ort = ort_logits(args.model, inputs, len(y), work, ["--int8", "--weight-bits", str(bits)])
            exact = exact_logits(args.model, x, bits)
            d = np.abs(ort - exact).max(1) / np.abs(exact).max(1)
            results[f"w{bits}"] = dict(ort=compare(f32, ort, y), exact=compare(f32, exact, y),
                                       ort_vs_exact_median=float(np.median(d)), ort_vs_exact_max=float(d.max()))
    print(f"scale-1 logits against ONNX Runtime's f32, {len(y)} images (top-1 of f32: "
          f"{100 * results['w8']['ort']['top1_f32']:.1f} %)")
    print("| int8 graph (quantize_dynamic's) | run by | top-1 | class = f32's | rel. L2 mean / p99 | cosine min |")
    print("|---|---|---|---|---|---|")
    for bits in (8, 7):
        for who, key in (("ONNX Runtime 1.20.1", "ort"), ("its definition, exact sums", "exact")):
            r = results[f"w{bits}"][key]
            print(f"| {bits}-bit weights | {who} | {100 * r['top1_int8']:.1f} % | {100 * r['agree']:.1f} % | "
                  f"{r['rel_l2_mean']:.4f} / {r['rel_l2_p99']:.4f} | {r['cos_min']:.5f} |")
    for bits in (8, 7):
        r = results[f"w{bits}"]
        print(f"- {bits}-bit weights: ONNX Runtime against the definition, max |difference| / max |logit| per image: "
              f"median {r['ort_vs_exact_median']:.2e}, max {r['ort_vs_exact_max']:.2e}")
    print(json.dumps(dict(images=len(y), **results)))


if __name__ == "__main__":
    main()
