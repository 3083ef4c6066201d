"""Writes the generated part of the fuzz seed corpus (fuzz/corpus/*/gen_*): micro model files in
every dtype, small .npy tensors and DPPM inputs.  Run from the repository root with
/usr/bin/python3 fuzz/make_seeds.py; the copied seeds (tests/data models and images) are listed in
fuzz/README.md."""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
import model_file  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "corpus")


def micro_model(path, dtype, S=8, P=4, D=4, H=2, L=1, M=8, C=3, mode="fused", resize=None):
    rng = np.random.default_rng(len(path))
    N = (S // P) ** 2 + 2
    t = {
        "transformer.embeddings.patch_embeddings.weight": rng.normal(size=(D, 3, P, P)),
        "transformer.embeddings.patch_embeddings.bias": rng.normal(size=(D,)),
        "transformer.embeddings.position_embeddings": rng.normal(size=(1, N, D)),
        "transformer.embeddings.cls_token1": rng.normal(size=(1, 1, D)),
        "transformer.embeddings.cls_token2": rng.normal(size=(1, 1, D)),
        "transformer.encoder.part_norm.weight": np.ones(D),
        "transformer.encoder.part_norm.bias": np.zeros(D),
        "part_head.weight": rng.normal(size=(C, D)),
        "part_head.bias": rng.normal(size=(C,)),
    }
    for i in range(L):
        p = f"transformer.encoder.layer.{i}."
        for n in ("attention_norm", "ffn_norm"):
            t[p + n + ".weight"] = np.ones(D)
            t[p + n + ".bias"] = np.zeros(D)
        for n in ("query", "key", "value", "out"):
            t[p + "attn." + n + ".weight"] = rng.normal(size=(D, D))
            t[p + "attn." + n + ".bias"] = rng.normal(size=(D,))
        t[p + "ffn.fc1.weight"] = rng.normal(size=(M, D))
        t[p + "ffn.fc1.bias"] = rng.normal(size=(M,))
        t[p + "ffn.fc2.weight"] = rng.normal(size=(D, M))
        t[p + "ffn.fc2.bias"] = rng.normal(size=(D,))
    config = dict(image_size=S, patch_size=P, hidden_size=D, num_heads=H, num_layers=L, mlp_size=M,
                  num_classes=C, ln_eps=1e-6, alpha=1.3, default_mode=mode)
    pre = {"resize": resize or {"mode": "fixed", "width": S + 2, "height": S + 2}, "interpolation": "bilinear",
           "crop": {"width": S, "height": S}, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    meta = {"ramstrans.format_version": "1", "ramstrans.config": json.dumps(config),
            "ramstrans.preprocess": json.dumps(pre), "ramstrans.labels": json.dumps([f"c{i}" for i in range(C)])}
    model_file.write(path, t, meta, dtype=dtype)


def npy(path, a, version=1):
    with open(path, "wb") as f:
        np.lib.format.write_array(f, a, version=(version, 0))


def main():
    d = os.path.join(OUT, "model")
    os.makedirs(d, exist_ok=True)
    micro_model(os.path.join(d, "gen_micro_f32.safetensors"), "f32")
    micro_model(os.path.join(d, "gen_micro_f16.safetensors"), "f16", mode="scale2")
    micro_model(os.path.join(d, "gen_micro_bf16.safetensors"), "bf16", mode="scale1",
                resize={"mode": "shorter", "size": 9})
    micro_model(os.path.join(d, "gen_micro_2layers.safetensors"), "f32", S=12, P=3, D=6, H=3, L=2, M=4, C=2,
                resize={"mode": "none"})
    # Unusual but valid: one patch (grid 1), one-float heads, one class; patches of one pixel.
    micro_model(os.path.join(d, "gen_grid1_heads_of_1.safetensors"), "f32", S=4, P=4, D=4, H=4, M=2, C=1)
    micro_model(os.path.join(d, "gen_patch1.safetensors"), "f16", S=12, P=1, D=2, H=1, M=1, C=2,
                resize={"mode": "shorter", "size": 12})

    d = os.path.join(OUT, "npy")
    os.makedirs(d, exist_ok=True)
    npy(os.path.join(d, "gen_f4_3x4x4.npy"), np.arange(48, dtype="<f4").reshape(3, 4, 4))
    npy(os.path.join(d, "gen_f8_1x3x2x2.npy"), np.linspace(-1, 1, 12).reshape(1, 3, 2, 2))
    npy(os.path.join(d, "gen_f4_v2.npy"), np.array([np.nan, np.inf, -0.0], dtype="<f4"), version=2)
    npy(os.path.join(d, "gen_f4_v3_scalar.npy"), np.float32(3.5).reshape(()), version=3)
    npy(os.path.join(d, "gen_f4_empty.npy"), np.zeros((0, 3), dtype="<f4"))

    d = os.path.join(OUT, "dppm")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(1)
    # header: grid-1, patch-1, alpha byte (<128: 1.3), how (0,1: bytes per cell; 2: doubles; 3: maps)
    cases = {
        "gen_bytes_blob": bytes([7, 3, 0, 0]) + bytes(rng.integers(0, 40, 64, dtype=np.uint8)) ,
        "gen_bytes_ring": bytes([4, 1, 0, 1]) + bytes([9, 9, 9, 9, 9, 9, 0, 0, 0, 9, 9, 0, 5, 0, 9,
                                                          9, 0, 0, 0, 9, 9, 9, 9, 9, 9]),
        "gen_doubles": bytes([3, 2, 200, 2]) + np.array([1, np.nan, 3, np.inf, -1, 0, 2, 5, 1, 1, 0, 7, 2, 2,
                                                          1, 0], dtype="<f8").tobytes(),
        "gen_maps": bytes([2, 3, 0, 3]) + rng.random((11, 11), dtype=np.float32).astype("<f4").tobytes(),
    }
    for name, blob in cases.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(blob)


if __name__ == "__main__":
    main()
