"""What the checks of ramscli against a PyTorch reference share (check_reference.py, check_vit.py):
their common options and scratch folder, seeded random inputs, `ramscli classify --json` read back
by file, and the comparison of its logits and box with the reference's."""
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np
import torch


def add_common_args(ap, root):
    """--inputs, --random-inputs, --ramscli (default: ROOT/build/ramscli) and --keep."""
    ap.add_argument("--inputs", nargs="+", default=[])
    ap.add_argument("--random-inputs", type=int, default=0, help="also make N seeded random inputs")
    ap.add_argument("--ramscli", default=os.path.join(root, "build", "ramscli"))
    ap.add_argument("--keep", default=None, help="keep the converted model and random inputs in this folder")


def run_in_workdir(ap, args, prefix, check):
    """check(args, work) in a scratch folder (--keep's, kept; else a temporary one, removed), after
    refusing a command line without inputs.  Returns check's exit status."""
    if not args.inputs and not args.random_inputs:
        ap.error("give --inputs or --random-inputs")
    work = args.keep or tempfile.mkdtemp(prefix=prefix)
    os.makedirs(work, exist_ok=True)
    try:
        return check(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def random_inputs(work, count, size, seed):
    """count float32 3 x size x size .npy files of torch.randn in work (seeds seed, seed + 1, ...)."""
    paths = []
    for i in range(count):
        g = torch.Generator().manual_seed(seed + i)
        path = os.path.join(work, f"random_{i}.npy")
        np.save(path, torch.randn(3, size, size, generator=g).numpy())
        paths.append(path)
    return paths


def run_ramscli(ramscli, mode, model, inputs, prog):
    """`ramscli classify --json --mode MODE --model MODEL INPUTS...`: (exit status, {file: the JSON
    object}, stderr).  A line that is not JSON is reported (as PROG) and left out."""
    proc = subprocess.run([ramscli, "classify", "--json", "--mode", mode, "--model", model] + inputs,
                          capture_output=True, text=True)
    results = {}
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                print(f"{prog}: ramscli printed a line that is not JSON ({e}): {line[:200]}")
                continue
            results[obj.get("file")] = obj
    return proc.returncode, results, proc.stderr


def tolerance_ratio(got, want, rtol, atol):
    """max |got - want| / (atol + rtol |want|): <= 1 passes (inf when the shapes differ)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return float("inf")
    return float(np.max(np.abs(got - want) / (atol + rtol * np.abs(want))))


def compare_logits(label, got, want, rtol, atol):
    """(tolerance ratio, problem): ramscli's logits `got` (None: missing) against the reference's;
    problem is None when they match."""
    if got is None:
        return 0.0, f"{label} logits missing"
    ratio = tolerance_ratio(got, want, rtol, atol)
    if ratio <= 1.0:
        return ratio, None
    diff = (np.max(np.abs(np.asarray(got, dtype=np.float64) - np.asarray(want, dtype=np.float64)))
            if len(got) == len(want) else float("nan"))
    return ratio, f"{label} logits off (ratio {ratio:.3g}, max |diff| {diff:.3g})"


def json_box(obj):
    """The box of a ramscli JSON result as [top, left, bottom, right], or None."""
    box = obj.get("box")
    return [box.get(k) for k in ("top", "left", "bottom", "right")] if isinstance(box, dict) else None
