#!/usr/bin/python3
"""Times the PyTorch reference (tools/reference/ramstrans_torch.py, Debian's torch) on a model file: the
scale-1 pass and the full two-scale forward, steady state.  Prints one JSON line.

    /usr/bin/python3 tools/bench/bench_torch.py --model M.safetensors --input X.npy [--threads 2] [--runs 3]
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import torch

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tools/: convert.py, model_file.py
sys.path[:0] = [TOOLS, os.path.join(TOOLS, "reference")]
import model_file  # noqa: E402
from ramstrans_torch import RamsTrans  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tensors, meta = model_file.read(args.model)
    model = RamsTrans(model_file.load_config(meta)).eval()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
    x = torch.from_numpy(np.load(args.input))[None]
    out = {}
    with torch.no_grad():
        for name, fn in (("scale1", lambda: model.scale1(x)), ("fused", lambda: model(x))):
            fn()
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            out[name + "_s"] = sorted(times)[len(times) // 2]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["torch"] = torch.__version__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
