#!/usr/bin/python3
"""Convert a RAMS-Trans or plain ViT checkpoint into a libramstrans model file (safetensors + metadata).

    /usr/bin/python3 tools/convert.py --input CKPT|DIR --output OUT.safetensors [--num-heads H] [--alpha A]
        [--labels FILE|imagenet1k] [--dtype f32|f16|bf16|q8] [--default-mode scale1|scale2|fused]
        [--image-size S] [--as-rams] [--mean R,G,B] [--std R,G,B]

What the input is comes from its content (never from its name): a directory is a Hugging Face model
folder; a zip of .npy members is a NumPy .npz (read with numpy.load(allow_pickle=False) after every
member's header is checked: tools/npzfile.py); a file that starts with a safetensors header is read by
tools/safetensors_file.py; anything else goes to tools/torchfile.py, which neither imports torch nor
runs anything the file names (see there for the rules).  The tensor names then say which model it is:

RAMS-Trans (two CLS tokens; the model file keeps its names, SPEC section 1):
  * a state dict saved with torch.save(model.state_dict(), ...), or the same in a safetensors file;
  * a dict holding one under 'state_dict' or 'model' (training checkpoints);
  * names prefixed 'module.' (models trained under torch.nn.DataParallel);
  * the whole pickled model object, as the released trainer saves it (torch.save(model)), possibly
    wrapped in DataParallel: its torch.nn and model_rams classes are read as inert stand-ins that hold
    the pickled parameters and attributes; any other class or function a file names is refused by
    name;
  * both the zip format (torch >= 1.6) and the legacy stream (_use_new_zipfile_serialization=False).
  TorchScript archives (torch.jit.save) carry code and are refused.
  The architecture is read from the tensor shapes: patch size and hidden size from the patch
  embedding, image size from the position embeddings (N = G*G + 2 tokens, S = G*P), layers from the
  encoder's layer indices, MLP size from fc1, classes from part_head.  The head count is not visible
  in the shapes: --num-heads, else the pickled object's attention attribute when there is one, else
  hidden/64 (ViT convention).  Everything else in the checkpoint is ignored (and listed).

Plain ViTs (one CLS token: sequence [cls, patches], N = G*G + 1; tools/vit_layouts.py maps them):
  * Google's .npz (ViT-B_16.npz, the ImageNet-21k+1k fine-tuned ones): mapped as the released code's
    load_from maps them; the head count from the query kernel's shape; LayerNorm eps 1e-6;
    preprocessing: resize to S x S (bilinear), mean = std = 0.5.  --image-size S resizes the position
    embeddings' grid as load_from does (scipy.ndimage.zoom, order 1, CLS row kept).  Hybrid R50+ViT
    files are refused.
  * timm vit_* state dicts (.pth or .safetensors): eps 1e-6, heads from --num-heads or hidden/64,
    Google's preprocessing unless --mean/--std say otherwise.
  * Hugging Face ViTForImageClassification folders (model.safetensors or pytorch_model.bin,
    config.json, preprocessor_config.json) or their weights file with config.json beside it: heads,
    eps (1e-12) and labels from config.json, preprocessing from preprocessor_config.json.
  * jeonsworld/ViT-pytorch state dicts (the released code's ancestor).
  --as-rams (Google .npz only) builds instead the RAMS-Trans model the released trainer starts from:
  the CLS token copied into both CLS tokens, its position row twice, the grid through ndimage.zoom,
  the file's final norm and head as part_norm and part_head (the trainer leaves part_norm at its
  initial value and trains its own head).  It is for parity checks against that trainer, not a
  useful classifier: the second CLS token was never trained.
  A plain ViT's default mode is scale1 (the ViT as trained); --mode fused adds the zoom.

--labels imagenet1k uses torchvision's ImageNet-1k class names (Debian's python3-torchvision, read as
text, never imported).  A checkpoint that cannot be converted is refused with one message naming the
file and what is missing, and exit status 1.
"""
import argparse
import json
import os
import re
import stat
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_file  # noqa: E402
import npzfile  # noqa: E402
import safetensors_file  # noqa: E402
import torchfile  # noqa: E402
import vit_layouts  # noqa: E402
from model_file import Config  # noqa: E402
from npzfile import NpzError  # noqa: E402
from safetensors_file import SafetensorsError  # noqa: E402
from torchfile import CheckpointError, ModuleStub, TensorRef, shown  # noqa: E402
from vit_layouts import LayoutError  # noqa: E402

READ_ERRORS = (CheckpointError, SafetensorsError, NpzError)


class ConvertError(Exception):
    """A checkpoint we refuse; the message says why."""


# ---------------------------------------------------------------------------------------------
# Reading checkpoints: tools/torchfile.py unpickles with an exact allow-list and never runs code.

def _state_int(mod, attr):
    v = mod.state.get(attr)
    return v if type(v) is int and v > 0 else None


def _find_attention_heads(root):
    """The head count of a pickled model object, if its attention modules recorded it."""
    for _, mod in torchfile.iter_modules(root):
        heads = _state_int(mod, "num_attention_heads") or _state_int(mod, "num_heads")
        modules = mod.state.get("_modules")
        if heads and isinstance(modules, dict) and "query" in modules:
            return heads
    return None


def _patch_stride_problem(root):
    """The released code can also build an overlapping patch split (stride != kernel), which the
    shapes do not reveal; a pickled object does, so refuse it there."""
    for name, mod in torchfile.iter_modules(root):
        if name.endswith("patch_embeddings") and mod.pickled_name.endswith(".Conv2d"):
            stride, kernel = mod.state.get("stride"), mod.state.get("kernel_size")
            if isinstance(stride, tuple) and isinstance(kernel, tuple) and stride != kernel and \
                    all(type(v) is int for v in stride + kernel):
                return f"{name} has stride {stride} != kernel {kernel} (overlapping patches)"
    return None


def _keys_shown(d):
    """A dict's keys for a message: only string keys are shown (escaped, bounded), never str() of
    another object."""
    names = sorted(shown(k, 40) for k in d if type(k) is str)[:8]
    others = sum(1 for k in d if type(k) is not str)
    return ", ".join(names) + (f" and {others} non-string key(s)" if others else "")


def load_checkpoint(ckpt, path):
    """Returns (state dict: name -> TensorRef, notes: dict with 'kind', 'heads', 'prefix').

    Raises ConvertError for what cannot be a RAMS-Trans checkpoint."""
    obj = ckpt.obj
    notes = {"kind": None, "heads": None, "prefix": "", "format": ckpt.kind}
    path_taken = []
    for _ in range(4):  # a few levels of wrapping at most: {'model': DataParallel(model)} and alike
        if isinstance(obj, ModuleStub):
            problem = _patch_stride_problem(obj)
            if problem:
                raise ConvertError(f"{path}: {problem}; libramstrans supports non-overlapping patches only")
            notes["heads"] = _find_attention_heads(obj)
            notes["kind"] = f"pickled model object ({obj.pickled_name}, read as inert data)"
            try:
                obj = torchfile.module_tensors(obj)
            except CheckpointError as e:
                raise ConvertError(f"{path}: {e}")
            break
        if isinstance(obj, dict):
            tensors = {k: v for k, v in obj.items() if type(k) is str and isinstance(v, TensorRef)}
            if tensors and len(tensors) >= len(obj) // 2:
                notes["kind"] = "state dict"
                break
            for key in ("state_dict", "model", "model_state_dict", "net"):
                if key in obj:
                    path_taken.append(key)
                    obj = obj[key]
                    break
            else:
                raise ConvertError(f"{path}: a dict with neither tensors nor 'state_dict'/'model' "
                                   f"(keys: {_keys_shown(obj)})")
            continue
        raise ConvertError(f"{path}: holds a {type(obj).__name__}, not a model, a state dict or a dict holding one")
    else:
        raise ConvertError(f"{path}: wrapped too deeply ({' -> '.join(path_taken)})")
    if path_taken:
        notes["kind"] += " under " + "".join(f"['{k}']" for k in path_taken)

    sd = {k: v for k, v in obj.items() if type(k) is str and isinstance(v, TensorRef)}
    # DataParallel (possibly nested) prefixes every name with 'module.'.
    while sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
        notes["prefix"] += "module."
    return sd, notes


# ---------------------------------------------------------------------------------------------
# Architecture from shapes

EMB = "transformer.embeddings."
ENC = "transformer.encoder."


def expected_shapes(cfg):
    """name -> shape of every tensor inference uses (SPEC section 1)."""
    D, P, N, M, C = cfg.hidden_size, cfg.patch_size, cfg.num_tokens, cfg.mlp_size, cfg.num_classes
    shapes = {
        EMB + "patch_embeddings.weight": (D, 3, P, P), EMB + "patch_embeddings.bias": (D,),
        EMB + "position_embeddings": (1, N, D),
        ENC + "part_norm.weight": (D,), ENC + "part_norm.bias": (D,),
        "part_head.weight": (C, D), "part_head.bias": (C,),
    }
    if cfg.num_cls_tokens == 1:
        shapes[EMB + "cls_token"] = (1, 1, D)
    else:
        shapes[EMB + "cls_token1"] = shapes[EMB + "cls_token2"] = (1, 1, D)
    for i in range(cfg.num_layers):
        b = f"{ENC}layer.{i}."
        for norm in ("attention_norm", "ffn_norm"):
            shapes[b + norm + ".weight"] = (D,)
            shapes[b + norm + ".bias"] = (D,)
        for lin in ("query", "key", "value", "out"):
            shapes[b + "attn." + lin + ".weight"] = (D, D)
            shapes[b + "attn." + lin + ".bias"] = (D,)
        shapes[b + "ffn.fc1.weight"] = (M, D)
        shapes[b + "ffn.fc1.bias"] = (M,)
        shapes[b + "ffn.fc2.weight"] = (D, M)
        shapes[b + "ffn.fc2.bias"] = (D,)
    return shapes


def _shape(sd, name):
    if name not in sd:
        sample = ", ".join(shown(k, 60) for k in sorted(sd)[:5])
        hint = ""
        if name.endswith("cls_token2") or (name.endswith("cls_token1") and any(k.endswith("cls_token") for k in sd)):
            hint = " (it has one CLS token: a plain ViT or the released baseline, not RAMS-Trans's two-CLS model)"
        has = f"it has {len(sd)} tensors such as {sample}" if sd else "it holds no tensors"
        raise ConvertError(f"not a RAMS-Trans checkpoint: no tensor '{name}'{hint}; {has}")
    return tuple(sd[name].shape)


def infer_config(sd, num_heads=None, alpha=1.2, heads_hint=None):
    """Config from the shapes of a (prefix-stripped) state dict.  Returns (cfg, heads_source)."""
    pw = _shape(sd, EMB + "patch_embeddings.weight")
    if len(pw) != 4 or pw[1] != 3 or pw[2] != pw[3]:
        raise ConvertError(f"{EMB}patch_embeddings.weight has shape {list(pw)}, expected [D, 3, P, P]")
    D, P = pw[0], pw[2]
    pe = _shape(sd, EMB + "position_embeddings")
    if len(pe) != 3 or pe[0] != 1 or pe[2] != D:
        raise ConvertError(f"{EMB}position_embeddings has shape {list(pe)}, expected [1, N, {D}]")
    G = int(round(max(pe[1] - 2, 0) ** 0.5))
    if G < 1 or G * G + 2 != pe[1]:
        raise ConvertError(f"{EMB}position_embeddings has {pe[1]} tokens; RAMS-Trans needs G*G + 2 "
                           "(two CLS tokens and a square patch grid; G*G + 1 would be a one-CLS ViT)")
    layer_ids = sorted({int(m.group(1)) for k in sd for m in [re.match(re.escape(ENC) + r"layer\.(\d+)\.", k)] if m})
    if not layer_ids:
        raise ConvertError(f"not a RAMS-Trans checkpoint: no tensors named {ENC}layer.<i>.*")
    if layer_ids != list(range(len(layer_ids))):
        raise ConvertError(f"encoder layer indices are not 0..L-1: {layer_ids}")
    fc1 = _shape(sd, ENC + "layer.0.ffn.fc1.weight")
    if len(fc1) != 2 or fc1[1] != D:
        raise ConvertError(f"{ENC}layer.0.ffn.fc1.weight has shape {list(fc1)}, expected [M, {D}]")
    head = _shape(sd, "part_head.weight")
    if len(head) != 2 or head[1] != D:
        raise ConvertError(f"part_head.weight has shape {list(head)}, expected [C, {D}]")

    if num_heads is not None:
        H, source = num_heads, "--num-heads"
    elif heads_hint is not None:
        H, source = heads_hint, "the pickled model's attention modules"
    else:
        H, source = D // 64, "hidden/64"
        if H < 1 or D % 64:
            raise ConvertError(f"hidden size {D} is not a multiple of 64, so the head count cannot be "
                               "guessed; pass --num-heads")
    if H < 1 or D % H:
        raise ConvertError(f"--num-heads {H} does not divide the hidden size {D}")
    if not alpha > 0 or not np.isfinite(alpha):
        raise ConvertError(f"alpha must be a positive number, got {alpha}")
    cfg = Config(image_size=G * P, patch_size=P, hidden_size=D, num_heads=H, num_layers=len(layer_ids),
                 mlp_size=fc1[0], num_classes=head[0], ln_eps=1e-6, alpha=float(alpha))
    return cfg, source


def select_tensors(sd, cfg, ckpt):
    """Checks every needed tensor's presence, shape and values, and reads it from the checkpoint.
    Returns (tensors as float32 arrays, ignored names)."""
    shapes = expected_shapes(cfg)
    out = {}
    for name, shape in shapes.items():
        got = _shape(sd, name)
        if got != shape:
            raise ConvertError(f"tensor '{name}' has shape {list(got)}, expected {list(shape)} "
                               f"(from the architecture read off the other tensors)")
        t = sd[name]
        if not t.is_floating_point():
            raise ConvertError(f"tensor '{name}' has dtype {t.dtype}, expected a floating-point type")
        try:
            a = ckpt.to_float32(t)
        except READ_ERRORS as e:
            raise ConvertError(f"tensor '{name}': {e}")
        if not np.isfinite(a).all():
            raise ConvertError(f"tensor '{name}' holds NaN or infinite values")
        out[name] = a
    ignored = sorted(shown(k, 100) for k in set(sd) - set(shapes))
    return out, ignored


def read_labels(path, num_classes):
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()  # a trailing blank line is not a class
    for i, line in enumerate(lines):
        if not line.strip():
            raise ConvertError(f"{path}: line {i + 1} is empty")
    if len(lines) != num_classes:
        raise ConvertError(f"{path}: {len(lines)} labels, but the checkpoint has {num_classes} classes")
    return [line.strip() for line in lines]


MAX_JSON_BYTES = 16 << 20  # config.json / preprocessor_config.json (ImageNet-21k's id2label is ~1 MB)


def _read_json(path):
    if not os.path.isfile(path):
        raise ConvertError(f"{path}: not a regular file")
    if os.path.getsize(path) > MAX_JSON_BYTES:
        raise ConvertError(f"{path}: larger than {MAX_JSON_BYTES} bytes, too large for a config file")
    with open(path, encoding="utf-8") as f:
        try:
            obj = json.load(f)
        except (ValueError, RecursionError) as e:
            raise ConvertError(f"{path}: not valid JSON ({type(e).__name__})")
    if not isinstance(obj, dict):
        raise ConvertError(f"{path}: not a JSON object")
    return obj


HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


def _hf_folder(folder):
    """The weights file of a Hugging Face model folder."""
    for name in HF_WEIGHTS:
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    sharded = [n for n in ("model.safetensors.index.json", "pytorch_model.bin.index.json")
               if os.path.exists(os.path.join(folder, n))]
    if sharded:
        raise ConvertError(f"{folder}: a sharded checkpoint ({sharded[0]}); a ViT classifier fits in one file")
    raise ConvertError(f"{folder}: a folder without {' or '.join(HF_WEIGHTS)} (not a Hugging Face model folder)")


class Source:
    """The opened input: tensors (name -> ref), read(ref) -> float32, a description, and for torch
    files the notes load_checkpoint gathers."""

    def __init__(self, path):
        self.path, self.handle, self.notes = path, None, {}
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise ConvertError(f"{path}: no such file")
        if not stat.S_ISREG(st.st_mode):  # before open(): a FIFO would block there
            raise ConvertError(f"{path}: not a regular file")
        with open(path, "rb") as f:
            head = f.read(16)
        try:
            if head[:4] == b"PK\x03\x04" and npzfile.looks_like_npz(path):
                self.handle = npzfile.NpzFile(path)
                self.tensors, self.container = dict(self.handle.tensors), "NumPy .npz"
            elif safetensors_file.looks_like_safetensors(head, st.st_size):
                self.handle = safetensors_file.SafetensorsFile(path)
                if "ramstrans.format_version" in self.handle.metadata:
                    raise ConvertError(f"{path}: already a libramstrans model file (ramscli reads it as it is)")
                self.tensors, self.container = dict(self.handle.tensors), "safetensors"
                names = list(self.tensors)
                while names and all(k.startswith("module.") for k in names):
                    self.tensors = {k[len("module."):]: v for k, v in self.tensors.items()}
                    names = list(self.tensors)
                    self.notes["prefix"] = self.notes.get("prefix", "") + "module."
            else:
                self.handle = torchfile.Checkpoint(path)
                self.tensors, self.notes = load_checkpoint(self.handle, path)
                self.container = f"{self.notes['kind']} ({self.notes['format']} format)"
        except READ_ERRORS as e:
            self.close()
            raise ConvertError(f"{path}: {e}")
        except BaseException:
            self.close()
            raise

    def to_float32(self, ref):
        return self.handle.to_float32(ref)

    read = to_float32

    def close(self):
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _parse_triple(text, what):
    try:
        v = [float(x) for x in text.split(",")]
    except ValueError:
        v = []
    if len(v) != 3 or not all(np.isfinite(v)) or (what == "--std" and min(v) <= 0):
        raise ConvertError(f"{what} must be three comma-separated {'positive ' if what == '--std' else ''}numbers, "
                           f"got {text!r}")
    return v


def convert(input_path, output_path, num_heads=None, alpha=1.2, labels_path=None, dtype="f32",
            default_mode=None, image_size=None, as_rams=False, mean=None, std=None, log=print):
    hf_config, hf_pre, hf_dir = None, None, None
    weights_path = input_path
    if os.path.isdir(input_path):
        hf_dir = input_path
        weights_path = _hf_folder(input_path)
        if not os.path.exists(os.path.join(hf_dir, "config.json")):
            raise ConvertError(f"{input_path}: a model folder without config.json (a Hugging Face folder has one)")
    if not alpha > 0 or not np.isfinite(alpha):
        raise ConvertError(f"alpha must be a positive number, got {alpha}")
    if image_size is not None and image_size < 1:
        raise ConvertError(f"--image-size must be positive, got {image_size}")
    notes = []
    with Source(weights_path) as src:
        layout = vit_layouts.detect(src.tensors)
        if layout is None and ENC + "part_norm.weight" in src.tensors:
            layout = "rams"
        if src.container == "NumPy .npz" and layout != "google":
            raise ConvertError(f"{weights_path}: an .npz whose arrays are not a Google ViT's (no embedding/kernel "
                               "or Transformer/posembed_input/pos_embedding)")
        if layout is None:
            sample = ", ".join(shown(k, 60) for k in sorted(src.tensors)[:5])
            has = f"it has {len(src.tensors)} tensors such as {sample}" if src.tensors else "it holds no tensors"
            raise ConvertError(f"{weights_path}: not a RAMS-Trans or ViT checkpoint (neither RAMS-Trans, Google .npz, "
                               f"timm, Hugging Face nor ViT-pytorch tensor names); {has}")
        if layout == "rams":
            if image_size is not None or as_rams:
                raise ConvertError(f"{weights_path}: a RAMS-Trans checkpoint: --image-size and --as-rams apply to "
                                   "plain ViT checkpoints only")
            cfg, heads_source = infer_config(src.tensors, num_heads=num_heads, alpha=alpha,
                                             heads_hint=src.notes.get("heads"))
            tensors, ignored = select_tensors(src.tensors, cfg, src)
            kind = "RAMS-Trans"
        else:
            if layout == "hf" and hf_dir is None:
                beside = os.path.dirname(os.path.abspath(weights_path))
                if os.path.exists(os.path.join(beside, "config.json")):
                    hf_dir = beside
                else:
                    notes.append("no config.json beside the weights: heads hidden/64 (or --num-heads), "
                                 "LayerNorm eps 1e-12 (Hugging Face's default), generic labels")
            if hf_dir is not None and layout == "hf":
                hf_config = _read_json(os.path.join(hf_dir, "config.json"))
                pre_path = os.path.join(hf_dir, "preprocessor_config.json")
                hf_pre = _read_json(pre_path) if os.path.exists(pre_path) else None
            opts = dict(num_heads=num_heads, image_size=image_size, as_rams=as_rams, alpha=alpha, hf_config=hf_config)
            try:
                cfg, tensors, more, arch = vit_layouts.import_vit(layout, src.tensors, src.read, weights_path, opts)
            except LayoutError as e:
                raise ConvertError(str(e))
            notes += more
            heads_source = arch["heads_source"]
            ignored = []
            kind = vit_layouts.LAYOUT_NAMES[layout] + (", as the released RAMS-Trans trainer initialises from it "
                                                       "(--as-rams)" if as_rams else "")
            # the mapping's result, checked against the architecture as any model file is
            for name, shape in expected_shapes(cfg).items():
                if name not in tensors or tensors[name].shape != shape:
                    got = list(tensors[name].shape) if name in tensors else "nothing"
                    raise ConvertError(f"{weights_path}: internal: '{name}' mapped to {got}, expected {list(shape)}")
            if set(tensors) != set(expected_shapes(cfg)):
                raise ConvertError(f"{weights_path}: internal: mapped tensors {sorted(set(tensors) - set(expected_shapes(cfg)))}")

    labels, labels_source = None, "generic class_<i>"
    if labels_path == "imagenet1k":
        try:
            labels = vit_layouts.imagenet1k_labels()
        except LayoutError as e:
            raise ConvertError(str(e))
        if cfg.num_classes != len(labels):
            raise ConvertError(f"{weights_path}: --labels imagenet1k names 1000 classes, but the checkpoint has "
                               f"{cfg.num_classes}" + (" (an ImageNet-21k head)" if cfg.num_classes == 21843 else ""))
        labels_source = "torchvision's ImageNet-1k names"
    elif labels_path:
        labels = read_labels(labels_path, cfg.num_classes)
        labels_source = labels_path
    elif hf_config is not None:
        labels = vit_layouts.hf_labels(hf_config, cfg.num_classes)
        labels_source = "config.json's id2label" if labels else "generic class_<i> (config.json's id2label does not name every class)"

    if cfg.num_cls_tokens == 2:  # RAMS-Trans (and --as-rams): the released CUB evaluation's
        preprocess = model_file.cub_preprocess(cfg.image_size)
    elif hf_pre is not None and image_size is None:
        try:
            preprocess = vit_layouts.hf_preprocess(hf_pre, cfg.image_size, os.path.join(hf_dir, "preprocessor_config.json"),
                                                   notes)
        except LayoutError as e:
            raise ConvertError(str(e))
    else:
        preprocess = model_file.vit_preprocess(cfg.image_size, *(
            (hf_pre.get("image_mean", [0.5] * 3), hf_pre.get("image_std", [0.5] * 3)) if hf_pre else ()))
    if mean is not None:
        preprocess["mean"] = _parse_triple(mean, "--mean")
    if std is not None:
        preprocess["std"] = _parse_triple(std, "--std")
    if default_mode is None:
        default_mode = "scale1" if cfg.num_cls_tokens == 1 else "fused"

    if dtype == "f16":
        big = [n for n, a in tensors.items() if np.abs(a).max() > 65504]
        if big:
            raise ConvertError(f"tensor '{big[0]}' has values beyond the f16 range; use --dtype f32 or bf16")
    meta = model_file.make_metadata(cfg, labels=labels, preprocess=preprocess, default_mode=default_mode)
    tmp = output_path + ".tmp"
    try:
        model_file.write(tmp, tensors, meta, dtype=dtype)
        os.replace(tmp, output_path)  # never leave a half-written model under the final name
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise

    if layout == "rams":
        n = src.notes
        what = f"{n['kind']} ({n['format']} format)" if "kind" in n else src.container
        log(f"{input_path}: {what}" + (f", names prefixed '{n['prefix']}'" if n.get("prefix") else ""))
    else:
        log(f"{input_path}: {kind} ({src.container}{', ' + os.path.basename(weights_path) if hf_dir else ''})")
    log(f"  image {cfg.image_size}, patch {cfg.patch_size} (grid {cfg.grid}), hidden {cfg.hidden_size}, "
        f"heads {cfg.num_heads} ({heads_source}), layers {cfg.num_layers}, mlp {cfg.mlp_size}, "
        f"classes {cfg.num_classes}, alpha {cfg.alpha}, default mode {default_mode}")
    if layout != "rams":
        p = preprocess
        size = (f"{p['resize']['width']}x{p['resize']['height']}" if p["resize"]["mode"] == "fixed" else
                f"shorter side {p['resize']['size']}" if p["resize"]["mode"] == "shorter" else "none")
        log(f"  CLS tokens {cfg.num_cls_tokens}, LayerNorm eps {cfg.ln_eps:g}, labels: {labels_source}; "
            f"preprocessing: resize {size}, crop {p['crop']['width']}, mean {p['mean']}, std {p['std']}")
    for note in notes:
        log(f"  note: {note}")
    if ignored:
        listed = ", ".join(ignored[:10]) + (f", ... ({len(ignored)} in all)" if len(ignored) > 10 else "")
        log(f"  ignored {len(ignored)} tensor(s) inference does not use: {listed}")
    log(f"  wrote {output_path}: {len(tensors)} tensors, {dtype}, {os.path.getsize(output_path)} bytes")
    return cfg


def main(argv=None):
    ap = argparse.ArgumentParser(description="Convert a RAMS-Trans or ViT checkpoint to a libramstrans model file.")
    ap.add_argument("--input", required=True,
                    help="checkpoint: torch.save file, .npz, .safetensors, or a Hugging Face model folder")
    ap.add_argument("--output", required=True, help="model file to write (.safetensors)")
    ap.add_argument("--num-heads", type=int, default=None,
                    help="attention heads when the file does not say (default: hidden/64)")
    ap.add_argument("--alpha", type=float, default=1.2, help="DPPM threshold factor (default 1.2, the released code)")
    ap.add_argument("--labels", default=None,
                    help="text file, one class label per line; or 'imagenet1k' for torchvision's ImageNet-1k names")
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16", "q8"], default="f32",
                    help="weights: f32, f16, bf16, or q8 (int8 Linear weights with per-row f32 scales)")
    ap.add_argument("--default-mode", choices=["scale1", "scale2", "fused"], default=None,
                    help="default: fused for RAMS-Trans, scale1 for a plain ViT")
    ap.add_argument("--image-size", type=int, default=None,
                    help="plain ViTs: run at S x S, resizing the position embeddings as the released load_from does")
    ap.add_argument("--as-rams", action="store_true",
                    help="Google .npz: the RAMS-Trans model the released trainer starts from (parity checks only)")
    ap.add_argument("--mean", default=None, help="normalisation mean R,G,B (default: the checkpoint kind's)")
    ap.add_argument("--std", default=None, help="normalisation std R,G,B (default: the checkpoint kind's)")
    args = ap.parse_args(argv)
    try:
        convert(args.input, args.output, num_heads=args.num_heads, alpha=args.alpha, labels_path=args.labels,
                dtype=args.dtype, default_mode=args.default_mode, image_size=args.image_size, as_rams=args.as_rams,
                mean=args.mean, std=args.std)
    except (ConvertError, OSError, UnicodeDecodeError) as e:
        msg = " ".join(str(e).split())  # one line, whatever the message held
        if not msg.startswith(args.input) and not (args.labels and msg.startswith(args.labels)):
            msg = f"{args.input}: {msg}"
        print(f"convert.py: error: {msg}", file=sys.stderr)
        return 1
    except Exception as e:  # anything else a strange checkpoint provokes: still one line, still exit 1.
        # Only the exception's type is shown: its text could hold the repr of an object from the file.
        print(f"convert.py: error: {args.input}: cannot convert ({type(e).__name__})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
