"""PyTorch model of RAMS-Trans, written from ../shared/SPEC.md.

This module is the project's reference: the golden data of the C tests, the training script and the
converter all use it.  Parameter names are those of the released code's state dict (SPEC section 1),
so `model.load_state_dict(released_state_dict)` works as is.

A one-CLS model (cfg.num_cls_tokens == 1: a plain ViT converted by tools/convert.py) is the same network
with the sequence [cls_token, patches]: scale 1 and scale 2 both read that token, and the rollout keeps
the patch columns after it.  tools/reference/vit_torch.py is the plain ViT as the released code's
ancestor (ViT-pytorch) writes it, loading Google's .npz files; the two agree on the same weights.

Nothing here is copied from the released repository; it follows the SPEC's description.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tools/: convert.py, model_file.py
sys.path[:0] = [TOOLS, os.path.join(TOOLS, "reference")]
from model_file import Config  # noqa: F401  (re-exported: the architecture, torch-free)


class Embeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D, P = cfg.hidden_size, cfg.patch_size
        self.patch_embeddings = nn.Conv2d(3, D, kernel_size=P, stride=P)
        self.position_embeddings = nn.Parameter(torch.zeros(1, cfg.num_tokens, D))
        if cfg.num_cls_tokens == 1:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        else:
            self.cls_token1 = nn.Parameter(torch.zeros(1, 1, D))
            self.cls_token2 = nn.Parameter(torch.zeros(1, 1, D))

    def cls_tokens(self):
        return [self.cls_token] if hasattr(self, "cls_token") else [self.cls_token1, self.cls_token2]

    def forward(self, x):
        B = x.shape[0]
        patches = self.patch_embeddings(x).flatten(2).transpose(1, 2)  # B, G*G, D (row-major)
        seq = torch.cat([t.expand(B, -1, -1) for t in self.cls_tokens()] + [patches], dim=1)
        return seq + self.position_embeddings


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D = cfg.hidden_size
        self.num_heads = cfg.num_heads
        self.head_size = D // cfg.num_heads
        self.query = nn.Linear(D, D)
        self.key = nn.Linear(D, D)
        self.value = nn.Linear(D, D)
        self.out = nn.Linear(D, D)

    def split_heads(self, t):
        B, N, _ = t.shape
        return t.view(B, N, self.num_heads, self.head_size).permute(0, 2, 1, 3)

    def forward(self, x):
        q = self.split_heads(self.query(x))
        k = self.split_heads(self.key(x))
        v = self.split_heads(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_size)
        probs = scores.softmax(dim=-1)  # B, H, N, N
        ctx = (probs @ v).permute(0, 2, 1, 3).flatten(2)
        return self.out(ctx), probs


class Mlp(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.fc1 = nn.Linear(cfg.hidden_size, cfg.mlp_size)
        self.fc2 = nn.Linear(cfg.mlp_size, cfg.hidden_size)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attention_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.ln_eps)
        self.ffn_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.ln_eps)
        self.attn = Attention(cfg)
        self.ffn = Mlp(cfg)

    def forward(self, x):
        a, probs = self.attn(self.attention_norm(x))
        h = x + a
        return h + self.ffn(self.ffn_norm(h)), probs


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = nn.ModuleList([Block(cfg) for _ in range(cfg.num_layers)])
        self.part_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.ln_eps)

    def forward(self, x, keep=None):
        maps = []
        for i, blk in enumerate(self.layer):
            x, probs = blk(x)
            maps.append(probs)
            if keep is not None:
                keep[f"block{i}"] = x
        return self.part_norm(x), maps


class Transformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = Embeddings(cfg)
        self.encoder = Encoder(cfg)

    def forward(self, x, keep=None):
        e = self.embeddings(x)
        if keep is not None:
            keep["embeddings"] = e
        return self.encoder(e, keep)


# ---------------------------------------------------------------------------------------------
# DPPM (SPEC section 2)

def rollout_vector(maps, full_product=False, n_cls=2):
    """maps: list over layers of B x H x N x N attention probabilities (scale-1 pass).

    Returns v: B x (G*G), the mean over all N rows of J = B_L ... B_1, patch columns only (those
    after the n_cls CLS columns).
    full_product=True multiplies the N x N matrices as the released code does (the golden data
    uses it, to test that the C vector chain equals it); otherwise the O(L N^2) vector chain.
    Computed in float64 so that golden data is exact to well below the tests' tolerance.
    """
    mats = []
    for probs in maps:
        a = probs.double().mean(dim=1)  # head mean, B x N x N
        eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
        b = a + eye
        mats.append(b / b.sum(dim=-1, keepdim=True))
    if full_product:
        j = mats[0]
        for m in mats[1:]:
            j = m @ j
        v = j.mean(dim=1)
    else:
        n = mats[0].shape[-1]
        r = torch.full((mats[0].shape[0], 1, n), 1.0 / n, dtype=torch.float64, device=mats[0].device)
        for m in reversed(mats):
            r = r @ m
        v = r[:, 0, :]
    return v[:, n_cls:]


def threshold_mask(v, grid, alpha):
    """v: (G*G,) numpy float64.  Returns p (normalised map), t (threshold), mask (G x G bool)."""
    p = v / v.max()
    t = alpha * p.mean()
    return p, t, (p > t).reshape(grid, grid)


def largest_component(mask):
    """8-connected components; the largest by area; ties go to the one whose first cell comes
    first in row-major order.  Returns a G x G bool array (all False for an empty mask)."""
    g_rows, g_cols = mask.shape
    label = np.zeros(mask.shape, dtype=np.int32)
    best, best_area, current = 0, 0, 0
    for r in range(g_rows):
        for c in range(g_cols):
            if not mask[r, c] or label[r, c]:
                continue
            current += 1
            label[r, c] = current
            stack, area = [(r, c)], 0
            while stack:
                y, x = stack.pop()
                area += 1
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        yy, xx = y + dy, x + dx
                        if 0 <= yy < g_rows and 0 <= xx < g_cols and mask[yy, xx] and not label[yy, xx]:
                            label[yy, xx] = current
                            stack.append((yy, xx))
            if area > best_area:
                best, best_area = current, area
    return label == best if best else np.zeros(mask.shape, dtype=bool)


def component_box(component, patch_size, image_size):
    """Inclusive pixel box (top, left, bottom, right) of a component, with the released code's
    one-pixel overlap at top/left; the whole image when the component is empty (SPEC 2.7, 2.9)."""
    rows = np.where(component.any(axis=1))[0]
    cols = np.where(component.any(axis=0))[0]
    if rows.size == 0:
        return (0, 0, image_size - 1, image_size - 1)
    P = patch_size
    r0, r1, c0, c1 = rows[0], rows[-1], cols[0], cols[-1]
    return (max(0, r0 * P - 1), max(0, c0 * P - 1), (r1 + 1) * P - 1, (c1 + 1) * P - 1)


def zoom_crop(x, box, size):
    """x: 3 x S x S (normalised).  Crop the inclusive box and resize to size x size, bilinear,
    align_corners=True."""
    top, left, bottom, right = box
    crop = x[:, top:bottom + 1, left:right + 1].unsqueeze(0)
    return F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=True)[0]


def dppm(x, maps, cfg, full_product=False, details=None):
    """x: B x 3 x S x S scale-1 input; maps: its attention maps.  Returns the B zoomed crops and
    the boxes.  The crop is detached: no gradient flows through the proposal (SPEC 4)."""
    with torch.no_grad():
        v = rollout_vector(maps, full_product=full_product, n_cls=cfg.num_cls_tokens).cpu().numpy()
        crops, boxes = [], []
        for b in range(x.shape[0]):
            p, t, mask = threshold_mask(v[b], cfg.grid, cfg.alpha)
            comp = largest_component(mask)
            box = component_box(comp, cfg.patch_size, cfg.image_size)
            boxes.append(box)
            crops.append(zoom_crop(x[b], box, cfg.image_size))
            if details is not None:
                details.append(dict(v=v[b], p=p, t=t, mask=mask, component=comp, box=box))
        return torch.stack(crops).detach(), boxes


class RamsTrans(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.transformer = Transformer(cfg)
        self.part_head = nn.Linear(cfg.hidden_size, cfg.num_classes)

    def scale1(self, x, keep=None):
        h, maps = self.transformer(x, keep)
        return self.part_head(h[:, 0]), maps

    def scale2(self, crops, keep=None):
        """The zoomed pass reads the last CLS token: the second of RAMS-Trans's two, a ViT's only one."""
        h, _ = self.transformer(crops, keep)
        return self.part_head(h[:, self.cfg.num_cls_tokens - 1])

    def forward(self, x, full_product=False, details=None):
        """Both scales.  Returns (logits1, logits2, boxes)."""
        logits1, maps = self.scale1(x)
        crops, boxes = dppm(x, maps, self.cfg, full_product=full_product, details=details)
        return logits1, self.scale2(crops), boxes


def fuse(logits1, logits2):
    """The fused mode: the mean of the two scales' softmax probabilities."""
    return 0.5 * (logits1.softmax(-1) + logits2.softmax(-1))
