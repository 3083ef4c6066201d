#!/usr/bin/python3
"""Random-weight RAMS-Trans checkpoints in every form the converter must read.

    /usr/bin/python3 tools/reference/make_random_checkpoint.py --preset tiny|small|vitb448|vitb32_448 --out CKPT
        [--style state_dict|module|wrapped|wrapped_model|pickled|pickled_dp] [--init released|sharp]
        [--seed N] [--extra]

Styles:
  state_dict     torch.save(model.state_dict())
  module         the same names prefixed 'module.' (a DataParallel model's state dict)
  wrapped        {'state_dict': state dict, 'epoch': ..., 'best_acc': ...} (a training checkpoint)
  wrapped_model  {'model': state dict}
  pickled        torch.save(model): the whole object, with classes that pickle as the released code's
                 (module 'model_rams', classes VisionTransformer, Transformer, Embeddings, Encoder,
                 Block, Attention, Mlp, same attributes and submodules), so that loading it needs
                 what loading the released trainer's file needs: the released source, or a stub.
  pickled_dp     the same object inside torch.nn.DataParallel (as the trainer holds it on several GPUs)
Init:
  released       PyTorch's default init, xavier MLP weights, zero position embeddings and CLS tokens:
                 what a freshly built released model holds.  Its attention is nearly uniform, so the
                 DPPM mask is usually empty (the released code then raises; libramstrans uses the
                 whole image).
  sharp          (default) non-zero position/CLS embeddings, LayerNorm affine terms and query/key
                 weights scaled up, so attention and hence the DPPM box depend on the input.
--extra adds tensors inference does not use (a spare block), to exercise the converter's "ignored" path.
Presets (vitb448 is about 350 MB: write it under /tmp, never into the repository).
"""
import argparse
import math
import os
import sys
import types

import torch
import torch.nn as nn
import torch.nn.functional as F

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tools/: convert.py, model_file.py
sys.path[:0] = [TOOLS, os.path.join(TOOLS, "reference")]
from ramstrans_torch import Config, RamsTrans  # noqa: E402

PRESETS = {
    # the golden-data model's shape
    "tiny": dict(image_size=64, patch_size=8, hidden_size=32, num_heads=4, num_layers=3, mlp_size=64, num_classes=10),
    # the released grid (448 px, 32 px patches: 14 x 14) on a narrow, shallow network
    "small": dict(image_size=448, patch_size=32, hidden_size=192, num_heads=3, num_layers=4, mlp_size=768,
                  num_classes=200),
    # ViT-B/16 at 448 (N = 786)
    "vitb448": dict(image_size=448, patch_size=16, hidden_size=768, num_heads=12, num_layers=12, mlp_size=3072,
                    num_classes=200),
    # what the released "ViT-B_16" config really builds: 32 px patches at 448
    "vitb32_448": dict(image_size=448, patch_size=32, hidden_size=768, num_heads=12, num_layers=12, mlp_size=3072,
                       num_classes=200),
}


# ---------------------------------------------------------------------------------------------
# Classes that pickle under the released code's module and class names.  They only hold the same
# submodules and plain attributes as the released objects (what a pickle records); they never run.

released = types.ModuleType("model_rams")


def _released_class(cls):
    cls.__module__ = "model_rams"
    setattr(released, cls.__name__, cls)
    return cls


@_released_class
class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D = cfg.hidden_size
        self.num_attention_heads = cfg.num_heads
        self.attention_head_size = D // cfg.num_heads
        self.all_head_size = D
        self.query, self.key, self.value, self.out = nn.Linear(D, D), nn.Linear(D, D), nn.Linear(D, D), nn.Linear(D, D)
        self.attn_dropout = nn.Dropout(0.0)
        self.proj_dropout = nn.Dropout(0.0)
        self.softmax = nn.Softmax(dim=-1)


@_released_class
class Mlp(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.fc1 = nn.Linear(cfg.hidden_size, cfg.mlp_size)
        self.fc2 = nn.Linear(cfg.mlp_size, cfg.hidden_size)
        self.act_fn = F.gelu
        self.dropout = nn.Dropout(0.1)


@_released_class
class Embeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.hybrid = None
        self.patch_embeddings = nn.Conv2d(3, cfg.hidden_size, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.position_embeddings = nn.Parameter(torch.zeros(1, cfg.num_tokens, cfg.hidden_size))
        self.cls_token1 = nn.Parameter(torch.zeros(1, 1, cfg.hidden_size))
        self.cls_token2 = nn.Parameter(torch.zeros(1, 1, cfg.hidden_size))
        self.dropout = nn.Dropout(0.1)


@_released_class
class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.hidden_size = cfg.hidden_size
        self.attention_norm = nn.LayerNorm(cfg.hidden_size, eps=1e-6)
        self.ffn_norm = nn.LayerNorm(cfg.hidden_size, eps=1e-6)
        self.ffn = Mlp(cfg)
        self.attn = Attention(cfg)


@_released_class
class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = nn.ModuleList([Block(cfg) for _ in range(cfg.num_layers)])
        self.part_norm = nn.LayerNorm(cfg.hidden_size, eps=1e-6)


@_released_class
class Transformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = Embeddings(cfg)
        self.encoder = Encoder(cfg)


@_released_class
class VisionTransformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.num_classes = cfg.num_classes
        self.smoothing_value = 0.0
        self.zero_head = True
        self.classifier = "token"
        self.transformer = Transformer(cfg)
        self.part_head = nn.Linear(cfg.hidden_size, cfg.num_classes)


# ---------------------------------------------------------------------------------------------

def random_model(cfg, seed=0, init="released"):
    """A RamsTrans with random weights (ramstrans_torch's module tree, the released names); with
    cfg.num_cls_tokens == 1 a plain ViT in the same names (tools/reference/make_random_vit.py writes it
    in the Google, timm and Hugging Face layouts)."""
    torch.manual_seed(seed)
    model = RamsTrans(cfg).eval()
    with torch.no_grad():
        for blk in model.transformer.encoder.layer:
            for lin in (blk.ffn.fc1, blk.ffn.fc2):  # the released Mlp's init
                nn.init.xavier_uniform_(lin.weight)
                nn.init.normal_(lin.bias, std=1e-6)
        if init == "sharp":
            emb = model.transformer.embeddings
            emb.position_embeddings.normal_(0.0, 0.5)
            for cls in emb.cls_tokens():  # cls_token1, cls_token2 (or a ViT's one cls_token)
                cls.normal_(0.0, 1.0)
            gain = 2.0 * math.sqrt(math.sqrt(cfg.hidden_size / 32))  # scores grow with the scale squared
            for blk in model.transformer.encoder.layer:
                blk.attn.query.weight.mul_(gain)
                blk.attn.key.weight.mul_(gain)
                for norm in (blk.attention_norm, blk.ffn_norm):
                    norm.weight.normal_(1.0, 0.1)
                    norm.bias.normal_(0.0, 0.1)
            model.transformer.encoder.part_norm.weight.normal_(1.0, 0.1)
            model.transformer.encoder.part_norm.bias.normal_(0.0, 0.1)
    return model


def extra_tensors(cfg):
    """Tensors a checkpoint may hold beside the model (ignored by the converter)."""
    g = torch.Generator().manual_seed(1)
    D = cfg.hidden_size
    return {"transformer.encoder.part_layer.attn.query.weight": torch.randn(D, D, generator=g),
            "transformer.encoder.part_layer.attn.query.bias": torch.randn(D, generator=g)}


STYLES = ("state_dict", "module", "wrapped", "wrapped_model", "pickled", "pickled_dp")


def save(model, cfg, out, style, extra=False, legacy=False, protocol=2):
    """legacy: torch's pre-1.6 stream format instead of the zip archive; protocol: the pickle protocol."""
    def torch_save(obj, path):
        torch.save(obj, path, _use_new_zipfile_serialization=not legacy, pickle_protocol=protocol)

    sd = model.state_dict()
    if extra:
        sd.update(extra_tensors(cfg))
    if style == "state_dict":
        torch_save(sd, out)
    elif style == "module":
        torch_save({"module." + k: v for k, v in sd.items()}, out)
    elif style == "wrapped":
        torch_save({"state_dict": sd, "epoch": 7, "best_acc": 0.5, "optimizer": {"lr": 0.03}}, out)
    elif style == "wrapped_model":
        torch_save({"model": sd}, out)
    elif style in ("pickled", "pickled_dp"):
        obj = VisionTransformer(cfg)
        if extra:
            obj.transformer.encoder.part_layer = Block(cfg)
            sd = {k: v for k, v in sd.items() if not k.startswith("transformer.encoder.part_layer.")}
        missing, unexpected = obj.load_state_dict(sd, strict=False)
        assert not unexpected and all(k.startswith("transformer.encoder.part_layer.") for k in missing), \
            (missing, unexpected)
        obj.eval()
        if style == "pickled_dp":
            obj = nn.DataParallel(obj)
        sys.modules["model_rams"] = released  # pickle records classes by module + name
        try:
            torch_save(obj, out)
        finally:
            del sys.modules["model_rams"]
    else:
        raise ValueError(style)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--style", default="state_dict",
                    choices=STYLES)
    ap.add_argument("--init", choices=["released", "sharp"], default="sharp")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--extra", action="store_true", help="add tensors inference does not use")
    args = ap.parse_args(argv)
    cfg = Config(**PRESETS[args.preset])
    model = random_model(cfg, seed=args.seed, init=args.init)
    save(model, cfg, args.out, args.style, extra=args.extra)
    print(f"wrote {args.out}: preset {args.preset} ({cfg.as_dict()}), style {args.style}, init {args.init}, "
          f"seed {args.seed}, {os.path.getsize(args.out)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
