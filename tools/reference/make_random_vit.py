#!/usr/bin/python3
"""Random-weight plain ViTs (one CLS token) in the layouts tools/convert.py reads.

    /usr/bin/python3 tools/reference/make_random_vit.py --preset tiny|small|b16 --layout LAYOUT --out PATH
        [--seed N] [--init sharp|released] [--pre-logits] [--hf-eps EPS] [--hf-bin]

Layouts (one set of weights, written from the formats' own descriptions, not from the converter):
  google      a Google ViT .npz (np.savez): embedding/kernel [P,P,3,D] (HWIO), cls, Transformer/posembed_input/
              pos_embedding, Transformer/encoderblock_{i}/{LayerNorm_0, MultiHeadDotProductAttention_1/{query,key,
              value}/kernel [D,H,D/H] + bias [H,D/H], out/kernel [H,D/H,D], LayerNorm_2, MlpBlock_3/Dense_{0,1}},
              Transformer/encoder_norm, head/kernel [D,C]; --pre-logits adds the 21k checkpoints' unused
              pre_logits layer
  timm        a timm VisionTransformer state dict, torch.save (.pth): patch_embed.proj, cls_token, pos_embed,
              blocks.{i}.{norm1, attn.qkv [3D,D] (q, k, v rows), attn.proj, norm2, mlp.fc1, mlp.fc2}, norm, head
  timm_st     the same state dict as a .safetensors file
  hf          a Hugging Face ViTForImageClassification folder: model.safetensors (--hf-bin: pytorch_model.bin),
              config.json (heads, layer_norm_eps --hf-eps, id2label class_<i>), preprocessor_config.json
              (size S, bilinear, mean = std = 0.5)
  vitpytorch  a jeonsworld/ViT-pytorch VisionTransformer state dict (.pth)
  all         every layout under the folder --out (vit.npz, timm.pth, timm.safetensors, hf/, vitpytorch.pth)
The weights come from make_random_checkpoint.random_model with one CLS token (seeded).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [TOOLS, os.path.join(TOOLS, "reference")]
import model_file  # noqa: E402
from make_random_checkpoint import random_model  # noqa: E402
from ramstrans_torch import Config  # noqa: E402

PRESETS = {
    # the golden-data shape (as the RAMS tiny model)
    "tiny": dict(image_size=64, patch_size=8, hidden_size=32, num_heads=4, num_layers=3, mlp_size=64, num_classes=10),
    # ViT-S-like proportions at 224 (grid 14), narrow and shallow
    "small": dict(image_size=224, patch_size=16, hidden_size=96, num_heads=3, num_layers=2, mlp_size=192,
                  num_classes=21),
    # ViT-B/16 at 224 (about 350 MB in f32: write it under /tmp)
    "b16": dict(image_size=224, patch_size=16, hidden_size=768, num_heads=12, num_layers=12, mlp_size=3072,
                num_classes=1000),
}
EMB, ENC = "transformer.embeddings.", "transformer.encoder."


def random_vit(preset, seed=0, init="sharp"):
    """(cfg, state dict in the model file's names: transformer.embeddings.cls_token, part_norm, part_head)."""
    cfg = Config(**PRESETS[preset], num_cls_tokens=1) if isinstance(preset, str) else preset
    model = random_model(cfg, seed=seed, init=init)
    return cfg, {k: v.detach().clone().float() for k, v in model.state_dict().items()}


def google_layout(sd, cfg, pre_logits=False, seed=0):
    D, H = cfg.hidden_size, cfg.num_heads
    Dh = D // H
    n = lambda t: t.numpy().astype(np.float32)  # noqa: E731
    w = {"embedding/kernel": n(sd[EMB + "patch_embeddings.weight"].permute(2, 3, 1, 0)),  # OIHW -> HWIO
         "embedding/bias": n(sd[EMB + "patch_embeddings.bias"]),
         "cls": n(sd[EMB + "cls_token"]),
         "Transformer/posembed_input/pos_embedding": n(sd[EMB + "position_embeddings"]),
         "Transformer/encoder_norm/scale": n(sd[ENC + "part_norm.weight"]),
         "Transformer/encoder_norm/bias": n(sd[ENC + "part_norm.bias"]),
         "head/kernel": n(sd["part_head.weight"].t()), "head/bias": n(sd["part_head.bias"])}
    for i in range(cfg.num_layers):
        o, b = f"{ENC}layer.{i}.", f"Transformer/encoderblock_{i}/"
        for ours, theirs in (("attention_norm", "LayerNorm_0"), ("ffn_norm", "LayerNorm_2")):
            w[b + theirs + "/scale"] = n(sd[o + ours + ".weight"])
            w[b + theirs + "/bias"] = n(sd[o + ours + ".bias"])
        for lin in ("query", "key", "value"):  # flax DenseGeneral: kernel [in, heads, head size]
            w[f"{b}MultiHeadDotProductAttention_1/{lin}/kernel"] = n(sd[o + f"attn.{lin}.weight"].t().reshape(D, H, Dh))
            w[f"{b}MultiHeadDotProductAttention_1/{lin}/bias"] = n(sd[o + f"attn.{lin}.bias"].reshape(H, Dh))
        w[f"{b}MultiHeadDotProductAttention_1/out/kernel"] = n(sd[o + "attn.out.weight"].t().reshape(H, Dh, D))
        w[f"{b}MultiHeadDotProductAttention_1/out/bias"] = n(sd[o + "attn.out.bias"])
        for j, lin in enumerate(("fc1", "fc2")):
            w[f"{b}MlpBlock_3/Dense_{j}/kernel"] = n(sd[o + f"ffn.{lin}.weight"].t())
            w[f"{b}MlpBlock_3/Dense_{j}/bias"] = n(sd[o + f"ffn.{lin}.bias"])
    if pre_logits:
        g = np.random.default_rng(seed + 99)
        w["pre_logits/kernel"] = g.standard_normal((D, D)).astype(np.float32)
        w["pre_logits/bias"] = g.standard_normal(D).astype(np.float32)
    return w


def timm_layout(sd, cfg):
    D = cfg.hidden_size
    t = {"patch_embed.proj.weight": sd[EMB + "patch_embeddings.weight"],
         "patch_embed.proj.bias": sd[EMB + "patch_embeddings.bias"],
         "cls_token": sd[EMB + "cls_token"], "pos_embed": sd[EMB + "position_embeddings"],
         "norm.weight": sd[ENC + "part_norm.weight"], "norm.bias": sd[ENC + "part_norm.bias"],
         "head.weight": sd["part_head.weight"], "head.bias": sd["part_head.bias"]}
    for i in range(cfg.num_layers):
        o, b = f"{ENC}layer.{i}.", f"blocks.{i}."
        for ours, theirs in (("attention_norm", "norm1"), ("ffn_norm", "norm2")):
            t[b + theirs + ".weight"], t[b + theirs + ".bias"] = sd[o + ours + ".weight"], sd[o + ours + ".bias"]
        t[b + "attn.qkv.weight"] = torch.cat([sd[o + f"attn.{x}.weight"] for x in ("query", "key", "value")])
        t[b + "attn.qkv.bias"] = torch.cat([sd[o + f"attn.{x}.bias"] for x in ("query", "key", "value")])
        assert t[b + "attn.qkv.weight"].shape == (3 * D, D)
        t[b + "attn.proj.weight"], t[b + "attn.proj.bias"] = sd[o + "attn.out.weight"], sd[o + "attn.out.bias"]
        for lin in ("fc1", "fc2"):
            t[b + f"mlp.{lin}.weight"], t[b + f"mlp.{lin}.bias"] = sd[o + f"ffn.{lin}.weight"], sd[o + f"ffn.{lin}.bias"]
    return t


def hf_layout(sd, cfg):
    e, t = "vit.embeddings.", {}
    t[e + "cls_token"], t[e + "position_embeddings"] = sd[EMB + "cls_token"], sd[EMB + "position_embeddings"]
    t[e + "patch_embeddings.projection.weight"] = sd[EMB + "patch_embeddings.weight"]
    t[e + "patch_embeddings.projection.bias"] = sd[EMB + "patch_embeddings.bias"]
    for i in range(cfg.num_layers):
        o, b = f"{ENC}layer.{i}.", f"vit.encoder.layer.{i}."
        parts = {"attention_norm": "layernorm_before", "ffn_norm": "layernorm_after",
                 "attn.query": "attention.attention.query", "attn.key": "attention.attention.key",
                 "attn.value": "attention.attention.value", "attn.out": "attention.output.dense",
                 "ffn.fc1": "intermediate.dense", "ffn.fc2": "output.dense"}
        for ours, theirs in parts.items():
            t[b + theirs + ".weight"], t[b + theirs + ".bias"] = sd[o + ours + ".weight"], sd[o + ours + ".bias"]
    t["vit.layernorm.weight"], t["vit.layernorm.bias"] = sd[ENC + "part_norm.weight"], sd[ENC + "part_norm.bias"]
    t["classifier.weight"], t["classifier.bias"] = sd["part_head.weight"], sd["part_head.bias"]
    return t


def hf_config(cfg, eps):
    return {"architectures": ["ViTForImageClassification"], "model_type": "vit", "hidden_size": cfg.hidden_size,
            "num_hidden_layers": cfg.num_layers, "num_attention_heads": cfg.num_heads,
            "intermediate_size": cfg.mlp_size, "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
            "attention_probs_dropout_prob": 0.0, "initializer_range": 0.02, "layer_norm_eps": eps,
            "image_size": cfg.image_size, "patch_size": cfg.patch_size, "num_channels": 3, "qkv_bias": True,
            "encoder_stride": cfg.patch_size, "torch_dtype": "float32",
            "id2label": {str(i): f"class_{i}" for i in range(cfg.num_classes)},
            "label2id": {f"class_{i}": i for i in range(cfg.num_classes)}}


def hf_preprocessor(cfg):
    return {"do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5],
            "image_processor_type": "ViTImageProcessor", "image_std": [0.5, 0.5, 0.5], "resample": 2,
            "rescale_factor": 0.00392156862745098, "size": {"height": cfg.image_size, "width": cfg.image_size}}


def vitpytorch_layout(sd):
    out = {}
    for k, v in sd.items():
        k = k.replace(ENC + "part_norm.", ENC + "encoder_norm.").replace("part_head.", "head.")
        out[k] = v
    return out


def write(layout, sd, cfg, out, pre_logits=False, hf_eps=1e-12, hf_bin=False, seed=0):
    if layout == "google":
        np.savez(out, **google_layout(sd, cfg, pre_logits, seed))
        if not out.endswith(".npz") and os.path.exists(out + ".npz"):
            os.replace(out + ".npz", out)
    elif layout == "timm":
        torch.save(timm_layout(sd, cfg), out)
    elif layout == "timm_st":
        model_file.write(out, timm_layout(sd, cfg), {"format": "pt"})
    elif layout == "vitpytorch":
        torch.save(vitpytorch_layout(sd), out)
    elif layout == "hf":
        os.makedirs(out, exist_ok=True)
        t = hf_layout(sd, cfg)
        if hf_bin:
            torch.save(t, os.path.join(out, "pytorch_model.bin"))
        else:
            model_file.write(os.path.join(out, "model.safetensors"), t, {"format": "pt"})
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(hf_config(cfg, hf_eps), f, indent=2)
        with open(os.path.join(out, "preprocessor_config.json"), "w") as f:
            json.dump(hf_preprocessor(cfg), f, indent=2)
    else:
        raise ValueError(layout)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), required=True)
    ap.add_argument("--layout", choices=["google", "timm", "timm_st", "hf", "vitpytorch", "all"], required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", choices=["sharp", "released"], default="sharp")
    ap.add_argument("--pre-logits", action="store_true", help="google: add an (unused) pre_logits layer")
    ap.add_argument("--hf-eps", type=float, default=1e-12, help="hf: config.json's layer_norm_eps")
    ap.add_argument("--hf-bin", action="store_true", help="hf: pytorch_model.bin instead of model.safetensors")
    args = ap.parse_args(argv)
    cfg, sd = random_vit(args.preset, seed=args.seed, init=args.init)
    kw = dict(pre_logits=args.pre_logits, hf_eps=args.hf_eps, hf_bin=args.hf_bin, seed=args.seed)
    if args.layout == "all":
        os.makedirs(args.out, exist_ok=True)
        for layout, name in (("google", "vit.npz"), ("timm", "timm.pth"), ("timm_st", "timm.safetensors"),
                             ("hf", "hf"), ("vitpytorch", "vitpytorch.pth")):
            write(layout, sd, cfg, os.path.join(args.out, name), **kw)
    else:
        write(args.layout, sd, cfg, args.out, **kw)
    print(f"wrote {args.out}: preset {args.preset} ({cfg.as_dict()}), layout {args.layout}, seed {args.seed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
