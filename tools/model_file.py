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
  ramstrans.quantization    "q8" in a q8 file (below); absent otherwise
Tensor names are the released code's state-dict names (SPEC section 1).  A one-CLS model (a plain ViT:
sequence [cls, patches]) stores its CLS token as transformer.embeddings.cls_token [1, 1, D] instead of
cls_token1/cls_token2, and position_embeddings [1, G*G + 1, D]; every other name is the same.

A q8 file (dtype "q8", issue 13) stores every Linear weight matrix but the patch embedding (the
attention's query/key/value/out, ffn.fc1, ffn.fc2 and part_head) as I8 [out, in] plus an F32 tensor
"<name>_scale" [out]: one scale per output row, w ~ q * scale.  The rule, which libramstrans's C
quantizer (ramscli quantize, --precision int8 on a float file) follows bit for bit:
scale = max|w_row| / 127 in float32; q = rint(w / scale) (float32 division, ties to even), clipped
to [-127, 127]; a row whose scale is 0 (all zeros, or an underflow) is all zeros.  Every other
tensor is F32.  Readers without q8 support refuse the file by its I8 dtype.
"""
import re
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
QUANTIZATION_Q8 = "q8"
_Q8_MATRIX = re.compile(r"^(module\.)?(transformer\.encoder\.layer\.\d+\.(attn\.(query|key|value|out)|ffn\.fc[12])\.weight"
                        r"|part_head\.weight)$")


def is_q8_matrix(name):
    """Whether a q8 file stores tensor `name` as int8 with per-row scales."""
    return _Q8_MATRIX.match(name) is not None


def q8_quantize(w):
    """The q8 rule: (q int8 shaped as w, scale float32 [rows]) for a finite float tensor w whose
    first dimension is the output rows."""
    shape = np.shape(w)
    w = np.ascontiguousarray(w, dtype=np.float32).reshape(shape[0], -1)
    if not np.isfinite(w).all():
        raise ValueError("holds a non-finite value, which int8 cannot represent")
    scale = (np.abs(w).max(axis=1) / np.float32(127)).astype(np.float32)
    q = np.zeros(w.shape, dtype=np.int8)
    rows = scale != 0
    q[rows] = np.clip(np.rint(w[rows] / scale[rows, None]), -127, 127).astype(np.int8)
    return q.reshape(shape), scale
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
    """tensors: dict name -> numpy float array (or torch tensor).  dtype: f32 | f16 | bf16 | q8."""
    header = {"__metadata__": dict(metadata)}
    arrays = {}
    for name, t in tensors.items():
        if hasattr(t, "detach"):
            t = t.detach().cpu().float().numpy()
        a = np.ascontiguousarray(t, dtype=np.float32)
        if dtype == "q8" and is_q8_matrix(name):
            try:
                q, scale = q8_quantize(a)
            except ValueError as e:
                raise ValueError(f"tensor '{name}' {e}") from None
            arrays[name], arrays[name + "_scale"] = ("I8", q), ("F32", scale)
        else:
            arrays[name] = ("F32", a) if dtype == "q8" else (None, a)
    if dtype == "q8":
        header["__metadata__"].pop("ramstrans.quantization", None)
        header["__metadata__"]["ramstrans.quantization"] = QUANTIZATION_Q8
    blobs, offset = [], 0
    for name in sorted(arrays):
        tag, a = arrays[name]
        if tag is not None:
            raw = a.tobytes()
        elif dtype == "bf16":
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
    """Returns (tensors as float32 numpy arrays, metadata dict).  A q8 file's int8 matrices come back
    dequantized (q * scale in float32), without their _scale tensors."""
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
        elif info["dtype"] == "I8" and meta.get("ramstrans.quantization") == QUANTIZATION_Q8:
            arr = np.frombuffer(raw, dtype=np.int8)
        else:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {info['dtype']}")
        out[name] = arr.reshape(info["shape"]).copy()
    if meta.get("ramstrans.quantization") == QUANTIZATION_Q8:
        for name in [n for n in out if out[n].dtype == np.int8]:
            scale = out.pop(name + "_scale", None)
            if scale is None or scale.shape != (out[name].shape[0],):
                raise ValueError(f"{path}: tensor {name}: no F32 {name}_scale of one scale per row")
            q = out[name]
            out[name] = (q.reshape(q.shape[0], -1).astype(np.float32) * scale[:, None]).reshape(q.shape)
    return out, meta


def load_config(meta):
    """Config from a model file's metadata."""
    c = json.loads(meta["ramstrans.config"])
    return Config(image_size=c["image_size"], patch_size=c["patch_size"], hidden_size=c["hidden_size"],
                  num_heads=c["num_heads"], num_layers=c["num_layers"], mlp_size=c["mlp_size"],
                  num_classes=c["num_classes"], ln_eps=c["ln_eps"], alpha=c["alpha"],
                  num_cls_tokens=c.get("num_cls_tokens", 2))
