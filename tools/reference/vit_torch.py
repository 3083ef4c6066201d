"""The plain ViT (one CLS token) as the released RAMS-Trans code's ancestor writes it, loading Google's .npz.

jeonsworld/ViT-pytorch (models/modeling.py) is the PyTorch ViT that loads Google's .npz checkpoints, and
the released RAMS-Trans code (src/model_rams.py) is that file with a second CLS token.  This module
follows their semantics, written from the description in docs/semantics.md and tools/vit_layouts.py:

  * module names: transformer.embeddings.{patch_embeddings,position_embeddings,cls_token},
    transformer.encoder.layer.{i}.{attention_norm,attn.{query,key,value,out},ffn_norm,ffn.{fc1,fc2}},
    transformer.encoder.encoder_norm, head;
  * forward: [cls, patches] + position embeddings, pre-norm blocks (LayerNorm eps 1e-6, exact GELU),
    encoder_norm, head(CLS) -> logits, plus every block's attention probabilities;
  * load_from(weights): the .npz mapping (HWIO -> OIHW patch kernel, q/k/v/out kernels viewed [D, D]
    and transposed, Dense kernels transposed, LayerNorm scale -> weight, head kernel transposed) and,
    when the model's grid differs from the file's, the position grid resized with
    scipy.ndimage.zoom(order=1) with the CLS row kept.

It is the reference the converter's Google path is checked against (tools/reference/check_vit.py,
tests/test_vit.sh).  `zoom_pass` adds RAMS's test-time zoom (DPPM on the scale-1 attention, a second
pass on the crop reading the same CLS token) with ramstrans_torch's DPPM functions.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [TOOLS, os.path.join(TOOLS, "reference")]
import ramstrans_torch as R  # noqa: E402

ATT = "MultiHeadDotProductAttention_1"
MLP = "MlpBlock_3"


class ViTConfig:
    def __init__(self, patch_size=16, hidden_size=768, num_heads=12, num_layers=12, mlp_dim=3072):
        self.patch_size, self.hidden_size, self.num_heads = patch_size, hidden_size, num_heads
        self.num_layers, self.mlp_dim = num_layers, mlp_dim

    @classmethod
    def from_npz(cls, w):
        """The architecture a Google .npz holds (its query kernel [D, H, D/H] gives the heads)."""
        ek = w["embedding/kernel"].shape
        q = w[f"Transformer/encoderblock_0/{ATT}/query/kernel"].shape
        layers = 0
        while f"Transformer/encoderblock_{layers}/LayerNorm_0/scale" in w:
            layers += 1
        return cls(patch_size=ek[0], hidden_size=ek[3], num_heads=q[1], num_layers=layers,
                   mlp_dim=w[f"Transformer/encoderblock_0/{MLP}/Dense_0/kernel"].shape[1])


def np2th(a, conv=False):
    if conv:
        a = a.transpose([3, 2, 0, 1])
    return torch.from_numpy(np.ascontiguousarray(a))


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D = cfg.hidden_size
        self.num_heads, self.head_size = cfg.num_heads, D // cfg.num_heads
        self.query, self.key, self.value, self.out = nn.Linear(D, D), nn.Linear(D, D), nn.Linear(D, D), nn.Linear(D, D)

    def heads(self, t):
        B, N, _ = t.shape
        return t.view(B, N, self.num_heads, self.head_size).permute(0, 2, 1, 3)

    def forward(self, x):
        q, k, v = self.heads(self.query(x)), self.heads(self.key(x)), self.heads(self.value(x))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.head_size), dim=-1)
        ctx = (probs @ v).permute(0, 2, 1, 3).flatten(2)
        return self.out(ctx), probs


class Mlp(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(cfg.hidden_size, cfg.mlp_dim), nn.Linear(cfg.mlp_dim, cfg.hidden_size)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Embeddings(nn.Module):
    def __init__(self, cfg, img_size):
        super().__init__()
        P, D = cfg.patch_size, cfg.hidden_size
        n_patches = (img_size // P) ** 2
        self.patch_embeddings = nn.Conv2d(3, D, kernel_size=P, stride=P)
        self.position_embeddings = nn.Parameter(torch.zeros(1, n_patches + 1, D))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))

    def forward(self, x):
        patches = self.patch_embeddings(x).flatten(2).transpose(-1, -2)
        return torch.cat([self.cls_token.expand(x.shape[0], -1, -1), patches], dim=1) + self.position_embeddings


class Block(nn.Module):
    def __init__(self, cfg, eps=1e-6):
        super().__init__()
        self.hidden_size = cfg.hidden_size
        self.attention_norm = nn.LayerNorm(cfg.hidden_size, eps=eps)
        self.ffn_norm = nn.LayerNorm(cfg.hidden_size, eps=eps)
        self.ffn, self.attn = Mlp(cfg), Attention(cfg)

    def forward(self, x):
        a, probs = self.attn(self.attention_norm(x))
        x = x + a
        return x + self.ffn(self.ffn_norm(x)), probs

    def load_from(self, w, n_block):
        root, D = f"Transformer/encoderblock_{n_block}/", self.hidden_size
        with torch.no_grad():
            for name in ("query", "key", "value", "out"):
                lin = getattr(self.attn, name)
                lin.weight.copy_(np2th(w[f"{root}{ATT}/{name}/kernel"]).view(D, D).t())
                lin.bias.copy_(np2th(w[f"{root}{ATT}/{name}/bias"]).view(-1))
            for i, lin in enumerate((self.ffn.fc1, self.ffn.fc2)):
                lin.weight.copy_(np2th(w[f"{root}{MLP}/Dense_{i}/kernel"]).t())
                lin.bias.copy_(np2th(w[f"{root}{MLP}/Dense_{i}/bias"]).t())
            for norm, name in ((self.attention_norm, "LayerNorm_0"), (self.ffn_norm, "LayerNorm_2")):
                norm.weight.copy_(np2th(w[f"{root}{name}/scale"]))
                norm.bias.copy_(np2th(w[f"{root}{name}/bias"]))


class Encoder(nn.Module):
    def __init__(self, cfg, eps=1e-6):
        super().__init__()
        self.layer = nn.ModuleList([Block(cfg, eps) for _ in range(cfg.num_layers)])
        self.encoder_norm = nn.LayerNorm(cfg.hidden_size, eps=eps)

    def forward(self, x):
        maps = []
        for blk in self.layer:
            x, probs = blk(x)
            maps.append(probs)
        return self.encoder_norm(x), maps


class Transformer(nn.Module):
    def __init__(self, cfg, img_size, eps=1e-6):
        super().__init__()
        self.embeddings = Embeddings(cfg, img_size)
        self.encoder = Encoder(cfg, eps)

    def forward(self, x):
        return self.encoder(self.embeddings(x))


class VisionTransformer(nn.Module):
    def __init__(self, cfg, img_size=224, num_classes=1000, eps=1e-6):
        super().__init__()
        self.cfg, self.img_size = cfg, img_size
        self.transformer = Transformer(cfg, img_size, eps)
        self.head = nn.Linear(cfg.hidden_size, num_classes)

    def forward(self, x):
        """Returns (logits from the CLS token, the blocks' attention probabilities)."""
        h, maps = self.transformer(x)
        return self.head(h[:, 0]), maps

    def load_from(self, w):
        """w: name -> numpy array, as np.load of a Google .npz gives them."""
        with torch.no_grad():
            self.head.weight.copy_(np2th(w["head/kernel"]).t())
            self.head.bias.copy_(np2th(w["head/bias"]).t())
            emb = self.transformer.embeddings
            emb.patch_embeddings.weight.copy_(np2th(w["embedding/kernel"], conv=True))
            emb.patch_embeddings.bias.copy_(np2th(w["embedding/bias"]))
            emb.cls_token.copy_(np2th(w["cls"]))
            self.transformer.encoder.encoder_norm.weight.copy_(np2th(w["Transformer/encoder_norm/scale"]))
            self.transformer.encoder.encoder_norm.bias.copy_(np2th(w["Transformer/encoder_norm/bias"]))
            posemb = np2th(w["Transformer/posembed_input/pos_embedding"])
            if posemb.size() == emb.position_embeddings.size():
                emb.position_embeddings.copy_(posemb)
            else:  # another image size: the grid resized (bilinear, ndimage.zoom order 1), the CLS row kept
                from scipy import ndimage
                tok, grid = posemb[:, :1], posemb[0, 1:]
                gs_old, gs_new = int(np.sqrt(len(grid))), int(np.sqrt(emb.position_embeddings.size(1) - 1))
                grid = grid.numpy().reshape(gs_old, gs_old, -1)
                grid = ndimage.zoom(grid, (gs_new / gs_old, gs_new / gs_old, 1), order=1)
                grid = grid.reshape(1, gs_new * gs_new, -1)
                emb.position_embeddings.copy_(np2th(np.concatenate([tok.numpy(), grid], axis=1)))
            for i, blk in enumerate(self.transformer.encoder.layer):
                blk.load_from(w, n_block=i)


def from_npz(path, img_size=None, num_classes=None, eps=1e-6):
    """A VisionTransformer built for img_size (default: the file's own) with the .npz's weights
    (eps: its LayerNorms' epsilon; 1e-6 as Google's, 1e-12 for a Hugging Face copy of the weights)."""
    with np.load(path, allow_pickle=False) as f:
        w = {k: f[k] for k in f.files}
    cfg = ViTConfig.from_npz(w)
    trained = int(round(math.sqrt(w["Transformer/posembed_input/pos_embedding"].shape[1] - 1))) * cfg.patch_size
    model = VisionTransformer(cfg, img_size=img_size or trained, num_classes=num_classes or w["head/kernel"].shape[1],
                              eps=eps)
    model.load_from(w)
    return model.eval()


def zoom_pass(model, x, alpha=1.2):
    """RAMS's test-time zoom on a plain ViT: scale-1 logits and attention, DPPM (rollout over all rows,
    patch columns after the one CLS), the crop, scale-2 logits from the same CLS token.
    x: B x 3 x S x S.  Returns (logits1, logits2, boxes, details)."""
    cfg = R.Config(image_size=model.img_size, patch_size=model.cfg.patch_size, hidden_size=model.cfg.hidden_size,
                   num_heads=model.cfg.num_heads, num_layers=model.cfg.num_layers, mlp_size=model.cfg.mlp_dim,
                   num_classes=model.head.out_features, alpha=alpha, num_cls_tokens=1)
    details = []
    with torch.no_grad():
        logits1, maps = model(x)
        crops, boxes = R.dppm(x, maps, cfg, details=details)
        logits2, _ = model(crops)
    return logits1, logits2, boxes, details
