"""The libramstrans model file: safetensors with RAMS-Trans metadata.

Debian 12 packages no safetensors module, and the format is tiny (an 8-byte little-endian header
length, a JSON header, then the raw tensor bytes), so it is written and read here directly.

`__metadata__` (a string -> string map, as safetensors requires) holds:
  ramstrans.format_version  "1" (RAMS-Trans, two CLS tokens) or "2" (a file with num_cls_tokens 1, which
                            libraries before it must refuse rather than misread)
  ramstrans.config          JSON object: image_size, patch_size, hidden_size, num_heads, num_layers,
                            mlp_size, num_classes, ln_eps, alpha, default_mode ("scale1"|"scale2"|"fused"),
                            num_cls_tokens (1 | 2; absent means 2, so RAMS-Trans files are as before)
  ramstrans.preprocess      JSON object: resize {"mode":"fixed","width":W,"height":H} |
                            {"mode":"shorter","size":S} | {"mode":"none"}; "interpolation":"bilinear";
                            crop {"width":W,"height":H}; mean [3]; std [3]
  ramstrans.labels          JSON array of num_classes strings
Tensor names are the released code's state-dict names (SPEC section 1).  A one-CLS model (a plain ViT:
sequence [cls, patches]) stores its CLS token as transformer.embeddings.cls_token [1, 1, D] instead of
cls_token1/cls_token2, and position_embeddings [1, G*G + 1, D]; every other name is the same.
"""
import json
import struct

import numpy as np

FORMAT_VERSION = "1"      # RAMS-Trans files (two CLS tokens)
FORMAT_VERSION_ONE_CLS = "2"  # files with num_cls_tokens 1

class Config:
    """Architecture and DPPM settings of one model (what the model file's metadata stores)."""

    def __init__(self, image_size=448, patch_size=16, hidden_size=768, num_heads=12, num_layers=12,
                 mlp_size=3072, num_classes=200, ln_eps=1e-6, alpha=1.2, num_cls_tokens=2):
        assert image_size % patch_size == 0, "image_size must be a multiple of patch_size"
        assert num_cls_tokens in (1, 2), "num_cls_tokens must be 1 (plain ViT) or 2 (RAMS-Trans)"
        assert hidden_size % num_heads == 0, "hidden_size must be a multiple of num_heads"
        self.image_size = image_size
        self.patch_size = patch_size
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.num_layers = num_layers
        self.mlp_size = mlp_size
        self.num_classes = num_classes
        self.ln_eps = ln_eps
        self.alpha = alpha
        self.num_cls_tokens = num_cls_tokens

    @property
    def grid(self):
        return self.image_size // self.patch_size

    @property
    def num_tokens(self):
        return self.grid * self.grid + self.num_cls_tokens

    def as_dict(self):
        d = dict(image_size=self.image_size, patch_size=self.patch_size,
                 hidden_size=self.hidden_size, num_heads=self.num_heads,
                 num_layers=self.num_layers, mlp_size=self.mlp_size,
                 num_classes=self.num_classes, ln_eps=self.ln_eps, alpha=self.alpha)
        if self.num_cls_tokens != 2:  # RAMS-Trans files keep the keys (and bytes) they always had
            d["num_cls_tokens"] = self.num_cls_tokens
        return d


DTYPES = {"f32": ("F32", np.float32), "f16": ("F16", np.float16)}
# bf16 has no numpy dtype: it is written from float32 by keeping the top 16 bits (round to nearest even).


def cub_preprocess(image_size=448):
    """The released CUB evaluation (SPEC 4): Resize((600,600)) + CenterCrop(448), scaled for other sizes."""
    resize = int(round(image_size * 600 / 448))
    return {
        "resize": {"mode": "fixed", "width": resize, "height": resize},
        "interpolation": "bilinear",
        "crop": {"width": image_size, "height": image_size},
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
    }


def vit_preprocess(image_size, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)):
    """Google's ViT evaluation (and timm's augreg ViTs): resize to S x S (bilinear), no crop, mean = std = 0.5."""
    return {
        "resize": {"mode": "fixed", "width": image_size, "height": image_size},
        "interpolation": "bilinear",
        "crop": {"width": image_size, "height": image_size},
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
    }


def make_metadata(cfg, labels=None, preprocess=None, default_mode="fused"):
    config = cfg.as_dict()
    config["default_mode"] = default_mode
    if labels is None:
        labels = [f"class_{i}" for i in range(cfg.num_classes)]
    if len(labels) != cfg.num_classes:
        raise ValueError(f"{len(labels)} labels for {cfg.num_classes} classes")
    return {
        "ramstrans.format_version": FORMAT_VERSION if cfg.num_cls_tokens == 2 else FORMAT_VERSION_ONE_CLS,
        "ramstrans.config": json.dumps(config),
        "ramstrans.preprocess": json.dumps(preprocess or cub_preprocess(cfg.image_size)),
        "ramstrans.labels": json.dumps(list(labels)),
    }


def _to_bf16_bytes(a):
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return rounded.astype(np.uint16).tobytes()


def write(path, tensors, metadata, dtype="f32"):
    """tensors: dict name -> numpy float array (or torch tensor).  dtype: f32 | f16 | bf16."""
    header = {"__metadata__": dict(metadata)}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if hasattr(t, "detach"):
            t = t.detach().cpu().float().numpy()
        a = np.ascontiguousarray(t, dtype=np.float32)
        if dtype == "bf16":
            raw, tag = _to_bf16_bytes(a), "BF16"
        else:
            tag, npt = DTYPES[dtype]
            raw = a.astype(npt).tobytes()
        header[name] = {"dtype": tag, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)  # keep the data 8-byte aligned, as safetensors does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def read(path):
    """Returns (tensors as float32 numpy arrays, metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        raw = data[base + a: base + b]
        if info["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype="<f4")
        elif info["dtype"] == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif info["dtype"] == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {info['dtype']}")
        out[name] = arr.reshape(info["shape"]).copy()
    return out, meta


def load_config(meta):
    """Config from a model file's metadata."""
    c = json.loads(meta["ramstrans.config"])
    return Config(image_size=c["image_size"], patch_size=c["patch_size"], hidden_size=c["hidden_size"],
                  num_heads=c["num_heads"], num_layers=c["num_layers"], mlp_size=c["mlp_size"],
                  num_classes=c["num_classes"], ln_eps=c["ln_eps"], alpha=c["alpha"],
                  num_cls_tokens=c.get("num_cls_tokens", 2))
