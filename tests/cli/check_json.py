#!/usr/bin/python3
"""Checks `ramscli classify --json` lines against the golden data of tools/ (never against C output).

    check_json.py classify JSON_FILE GOLDEN_DIR MODE one line for tests/data/input.npy
    check_json.py lines JSON_FILE FILE...             the lines name exactly these files, in order
    check_json.py eval JSON_FILE N TOP1_FUSED         eval --json's last line

GOLDEN_DIR is tests/data/{f32,f16}/input (written by tools/reference/make_golden.py; see tests/data/README.md):
logits1.npy, logits2.npy (C floats) and box.npy (top, left, bottom, right, inclusive pixels).
"""
import json
import math
import os
import sys

import numpy as np

RTOL, ATOL = 1e-3, 2e-3  # issue 2's tolerance for logits


def fail(msg):
    print("check_json: " + msg)
    sys.exit(1)


def load_lines(path):
    with open(path) as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    try:
        return [json.loads(line) for line in lines]
    except json.JSONDecodeError as e:
        fail(f"{path}: not one JSON object per line: {e}")


def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def close(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= ATOL + RTOL * np.abs(b)))


def check_classify(json_file, golden, mode):
    objs = load_lines(json_file)
    if len(objs) != 1:
        fail(f"want 1 line, got {len(objs)}")
    o = objs[0]
    for key in ("file", "mode", "top", "logits", "box", "box_image", "fallback"):
        if key not in o:
            fail(f"missing key {key!r}")
    if o["mode"] != mode:
        fail(f"mode {o['mode']!r}, want {mode!r}")
    l1 = np.load(os.path.join(golden, "logits1.npy")).reshape(-1)
    l2 = np.load(os.path.join(golden, "logits2.npy")).reshape(-1)
    box = [int(v) for v in np.load(os.path.join(golden, "box.npy")).reshape(-1)]
    if not close(o["logits"]["scale1"], l1):
        fail(f"scale-1 logits {o['logits']['scale1']} differ from golden {l1.tolist()}")
    p1 = softmax(l1.astype(np.float64))
    if mode == "scale1":
        if o["logits"]["scale2"] is not None or o["box"] is not None:
            fail("scale1 mode must give no scale-2 logits and no box")
        probs = p1
    else:
        if not close(o["logits"]["scale2"], l2):
            fail(f"scale-2 logits {o['logits']['scale2']} differ from golden {l2.tolist()}")
        b = o["box"]
        got = [b["top"], b["left"], b["bottom"], b["right"]]
        if got != box:
            fail(f"box {got}, golden {box}")
        p2 = softmax(l2.astype(np.float64))
        probs = p2 if mode == "scale2" else (p1 + p2) / 2
    if o["box_image"] is not None:
        fail("a .npy input has no image box")
    if not isinstance(o["fallback"], bool):
        fail("fallback must be a boolean")
    top = o["top"]
    order = np.argsort(-probs, kind="stable")
    if not top or len(top) > len(probs):
        fail(f"{len(top)} top entries")
    for rank, t in enumerate(top):
        if not math.isclose(t["prob"], probs[t["index"]], rel_tol=1e-3, abs_tol=1e-5):
            fail(f"top[{rank}] prob {t['prob']} vs golden {probs[t['index']]}")
        if abs(probs[t["index"]] - probs[order[rank]]) > 1e-5:
            fail(f"top[{rank}] is class {t['index']}, golden rank order says {order[rank]}")
        if not isinstance(t["label"], str):
            fail("label must be a string")
    print(f"ok: {mode}: logits, box {box} and top-{len(top)} match the golden data")


def check_lines(json_file, files):
    objs = load_lines(json_file)
    got = [o.get("file") for o in objs]
    if got != files:
        fail(f"files {got}, want {files}")
    print(f"ok: {len(files)} lines in input order")


def check_eval(json_file, n, top1_fused):
    objs = load_lines(json_file)
    if not objs:
        fail("no output")
    o = objs[-1]
    if o.get("images") != n:
        fail(f"images {o.get('images')}, want {n}")
    for k in ("top1", "top5"):
        for m in ("scale1", "scale2", "fused"):
            v = o[k][m]
            if not 0 <= v <= 1:
                fail(f"{k}.{m} = {v} not a fraction")
    if abs(o["top1"]["fused"] - top1_fused) > 1e-9:
        fail(f"top1.fused {o['top1']['fused']}, want {top1_fused}")
    if not o["images_per_s"] > 0:
        fail("images_per_s must be positive")
    print("ok: eval json " + json.dumps(o["top1"]))


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "classify":
        check_classify(sys.argv[2], sys.argv[3], sys.argv[4])
    elif what == "lines":
        check_lines(sys.argv[2], sys.argv[3:])
    elif what == "eval":
        check_eval(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        fail("unknown check " + what)
