#!/usr/bin/python3
"""Check ramscli against the PyTorch reference on a checkpoint, the way issue 2 is judged.

    /usr/bin/python3 tools/reference/check_reference.py --checkpoint CKPT [--num-heads H] [--dtype f32|f16|bf16|q8]
        (--inputs a.npy b.npy ... | --random-inputs N) [--ramscli PATH] [--keep DIR]

1. Runs the reference (tools/reference/ramstrans_torch.py, float32 like the released code: scale 1, DPPM with
   the O(L N^2) rollout, scale 2) on each input (.npy, float32, 3 x S x S, already normalised).
   The weights are those of the converted file (identical to the checkpoint's for f32).
2. Converts the checkpoint with tools/convert.py.
3. Runs `ramscli classify --json --mode fused --model OUT file...` (default build/ramscli).
4. Compares: scale-1 and scale-2 logits within 1e-3 relative + 2e-3 absolute, the box exactly.
Prints one line per input and a summary.  Exit status 0 when everything matches, 1 on a mismatch or
a ramscli failure, 2 when ramscli cannot be run (the reference results are still printed).
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tools/: convert.py, model_file.py
ROOT = os.path.dirname(TOOLS)
sys.path[:0] = [TOOLS, os.path.join(TOOLS, "reference")]
import convert  # noqa: E402
import model_file  # noqa: E402
import ramstrans_torch as R  # noqa: E402
from ramscli_check import (add_common_args, compare_logits, json_box, random_inputs,  # noqa: E402
                           run_in_workdir, run_ramscli)

RTOL, ATOL = 1e-3, 2e-3


def reference(model_path):
    tensors, meta = model_file.read(model_path)
    cfg = model_file.load_config(meta)
    model = R.RamsTrans(cfg).eval()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    return model, cfg


def run_reference(model, cfg, x):
    details = []
    with torch.no_grad():
        l1, l2, boxes = model(torch.from_numpy(x)[None], full_product=False, details=details)
    d = details[0]
    return {"scale1": l1[0].numpy().astype(np.float64), "scale2": l2[0].numpy().astype(np.float64),
            "box": [int(b) for b in boxes[0]], "margin": float(np.min(np.abs(d["p"] - d["t"]))),
            "empty": not d["mask"].any()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--num-heads", type=int, default=None)
    ap.add_argument("--alpha", type=float, default=1.2)
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16", "q8"], default="f32")
    add_common_args(ap, ROOT)
    return run_in_workdir(ap, ap.parse_args(argv), "check_reference_", check)


def check(args, work):
    model_path = os.path.join(work, "model.safetensors")
    try:
        convert.convert(args.checkpoint, model_path, num_heads=args.num_heads, alpha=args.alpha, dtype=args.dtype)
    except convert.ConvertError as e:
        print(f"check_reference: conversion failed: {e}", file=sys.stderr)
        return 1
    model, cfg = reference(model_path)
    S = cfg.image_size

    inputs = list(args.inputs) + random_inputs(work, args.random_inputs, S, seed=1000)

    refs = {}
    t0 = time.time()
    for path in inputs:
        x = np.load(path)
        if x.dtype != np.float32 or x.shape != (3, S, S):
            print(f"check_reference: {path}: need float32 3 x {S} x {S}, got {x.dtype} {x.shape}", file=sys.stderr)
            return 1
        refs[path] = run_reference(model, cfg, x)
    ref_s = time.time() - t0
    print(f"reference: {len(inputs)} input(s) in {ref_s:.2f} s (torch float32, {torch.get_num_threads()} threads)")

    if not os.access(args.ramscli, os.X_OK):
        for path, r in refs.items():
            print(f"  {path}: box {r['box']} (margin {r['margin']:.3g}{', empty mask' if r['empty'] else ''}), "
                  f"argmax scale1 {int(np.argmax(r['scale1']))} scale2 {int(np.argmax(r['scale2']))}")
        print(f"check_reference: {args.ramscli} is not an executable; nothing compared", file=sys.stderr)
        return 2

    t0 = time.time()
    returncode, results, stderr = run_ramscli(args.ramscli, "fused", model_path, inputs, "check_reference")
    cli_s = time.time() - t0
    print(f"ramscli: exit status {returncode} in {cli_s:.2f} s")
    if stderr.strip():
        print("ramscli stderr:\n  " + "\n  ".join(stderr.strip().splitlines()[-10:]))

    failures = 0
    worst = {"scale1": 0.0, "scale2": 0.0}
    for path, r in refs.items():
        got = results.get(path)
        if got is None:
            print(f"FAIL {path}: no JSON result from ramscli")
            failures += 1
            continue
        problems = []
        logits = got.get("logits") or {}
        for scale in ("scale1", "scale2"):
            ratio, problem = compare_logits(scale, logits.get(scale), r[scale], RTOL, ATOL)
            worst[scale] = max(worst[scale], ratio)
            if problem:
                problems.append(problem)
        got_box = json_box(got)
        if got_box != r["box"]:
            near = " (near-tie: margin below 1e-4)" if r["margin"] < 1e-4 else ""
            problems.append(f"box {got_box} != reference {r['box']}{near}")
        if got.get("mode") != "fused":
            problems.append(f"mode {got.get('mode')!r}")
        status = "FAIL" if problems else "ok  "
        failures += bool(problems)
        print(f"{status} {path}: box {r['box']} margin {r['margin']:.3g}"
              f"{' (empty mask: whole image)' if r['empty'] else ''}" + ("; " + "; ".join(problems) if problems else ""))
    print(f"worst tolerance ratio (<= 1 passes): scale1 {worst['scale1']:.3g}, scale2 {worst['scale2']:.3g}")
    print(f"{len(refs) - failures}/{len(refs)} inputs match")
    return 1 if failures or returncode != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
