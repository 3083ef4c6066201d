#!/usr/bin/python3
"""Convert a RAMS-Trans PyTorch checkpoint into a libramstrans model file (safetensors + metadata).

    /usr/bin/python3 tools/convert.py --input CKPT --output OUT.safetensors [--num-heads H] [--alpha A]
        [--labels FILE] [--dtype f32|f16|bf16] [--default-mode scale1|scale2|fused]

Accepted inputs (all read with torch.load on the CPU):
  * a state dict saved with torch.save(model.state_dict(), ...);
  * a dict holding one under 'state_dict' or 'model' (training checkpoints);
  * names prefixed 'module.' (models trained under torch.nn.DataParallel);
  * the whole pickled model object, as the released trainer saves it (torch.save(model)), possibly
    wrapped in DataParallel, WITHOUT the released source installed: classes from modules outside a
    short allow-list (torch, collections, numpy, ...) are replaced by stand-in nn.Module classes, so
    the object graph, its parameters and its plain attributes are restored but no code of the
    checkpoint's own modules is imported or run.

The architecture is read from the tensor shapes (SPEC section 1): patch size and hidden size from the
patch embedding, image size from the position embeddings (N = G*G + 2 tokens, S = G*P), layers from
the encoder's layer indices, MLP size from fc1, classes from part_head.  The head count is not visible
in the shapes: --num-heads, else the pickled object's attention attribute when there is one, else
hidden/64 (ViT convention).  Everything else in the checkpoint is ignored (and listed).
A checkpoint that is not a RAMS-Trans model is refused with one message and exit status 1.
"""
import argparse
import io
import os
import pickle
import re
import sys
import types
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_file  # noqa: E402
from ramstrans_torch import Config  # noqa: E402


class ConvertError(Exception):
    """A checkpoint we refuse; the message says why."""


# ---------------------------------------------------------------------------------------------
# Reading checkpoints without the code that wrote them

# Modules whose classes may be resolved for real: what torch.save itself needs, plus the containers
# and numpy types that training scripts commonly put in a checkpoint.  Everything else becomes a stub.
_ALLOWED_MODULE_PREFIXES = ("torch", "collections", "numpy", "_codecs", "copyreg")
_SAFE_BUILTINS = {"set", "frozenset", "dict", "list", "tuple", "int", "float", "complex", "bool",
                  "str", "bytes", "bytearray", "slice", "range", "object", "NoneType"}


class StubModule(torch.nn.Module):
    """Stand-in for a class whose source is not installed (e.g. the released model_rams classes).

    Pickled nn.Module objects are rebuilt with __new__ + __setstate__(state dict), which nn.Module
    handles; so a stub restores _parameters/_buffers/_modules and state_dict() works on it.  Anything
    else (objects with non-dict state, functions, calls with arguments) is kept as inert data."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        self._stub_args = (args, kwargs)

    def __setstate__(self, state):
        if isinstance(state, dict):
            super().__setstate__(state)
        else:
            super().__init__()
            self._stub_state = state

    def forward(self, *args, **kwargs):
        raise RuntimeError(f"{type(self).__module__}.{type(self).__qualname__} is a stub; it cannot run")


_stub_classes = {}
stubbed_names = []  # "module.Class" names replaced while loading (for the report)


def _stub_class(module, name):
    key = (module, name)
    if key not in _stub_classes:
        cls = type(name, (StubModule,), {"__module__": module, "__qualname__": name})
        _stub_classes[key] = cls
        stubbed_names.append(f"{module}.{name}")
    return _stub_classes[key]


class StubbingUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        module = {"__builtin__": "builtins", "copy_reg": "copyreg"}.get(module, module)  # protocol-2 names
        if module == "builtins":
            if name in _SAFE_BUILTINS:
                return super().find_class(module, name)
            raise pickle.UnpicklingError(f"refusing to load builtins.{name} from a checkpoint")
        top = module.split(".")[0]
        if top in _ALLOWED_MODULE_PREFIXES:
            try:
                return super().find_class(module, name)
            except (ImportError, AttributeError):
                pass  # e.g. a class from a newer torch: keep its data, not its behaviour
        return _stub_class(module, name)


# torch.load wants a "pickle module": it subclasses .Unpickler and (legacy format) calls .load.
_stubbing_pickle = types.ModuleType("stubbing_pickle")
_stubbing_pickle.__dict__.update({k: v for k, v in vars(pickle).items() if not k.startswith("__")})
_stubbing_pickle.Unpickler = StubbingUnpickler
_stubbing_pickle.load = lambda f, **kw: StubbingUnpickler(f, **kw).load()
_stubbing_pickle.loads = lambda b, **kw: StubbingUnpickler(io.BytesIO(b), **kw).load()


def _torch_load_stubbing(path):
    """torch.load with the stubbing unpickler.  torch 1.13 (Debian 12) ignores its pickle_module
    argument unless weights_only is set (it assigns the global `pickle` module instead), so the
    module torch.serialization calls `pickle` is swapped for ours during the call."""
    saved = torch.serialization.pickle
    torch.serialization.pickle = _stubbing_pickle
    try:
        with warnings.catch_warnings():
            # the legacy format stores each module's source and warns when it cannot compare a stub's
            warnings.filterwarnings("ignore", message="Couldn't retrieve source code")
            warnings.filterwarnings("ignore", category=torch.serialization.SourceChangeWarning)
            return torch.load(path, map_location="cpu", pickle_module=_stubbing_pickle)
    finally:
        torch.serialization.pickle = saved


def _find_attention_heads(module):
    """The head count of a pickled model object, if its attention modules recorded it."""
    for sub in module.modules():
        for attr in ("num_attention_heads", "num_heads"):
            h = getattr(sub, attr, None)
            if isinstance(h, int) and h > 0 and hasattr(sub, "query"):
                return h
    return None


def _patch_stride_problem(module):
    """The released code can also build an overlapping patch split (stride != kernel), which the
    shapes do not reveal; a pickled object does, so refuse it there."""
    for name, sub in module.named_modules():
        if name.endswith("patch_embeddings") and isinstance(sub, torch.nn.Conv2d):
            if tuple(sub.stride) != tuple(sub.kernel_size):
                return f"{name} has stride {tuple(sub.stride)} != kernel {tuple(sub.kernel_size)} (overlapping patches)"
    return None


def load_checkpoint(path):
    """Returns (state dict: name -> tensor, notes: dict with 'kind', 'heads', 'stubbed', 'prefix').

    Raises ConvertError for what cannot be a RAMS-Trans checkpoint."""
    del stubbed_names[:]
    try:
        obj = _torch_load_stubbing(path)
    except FileNotFoundError:
        raise ConvertError(f"{path}: no such file")
    except Exception as e:  # torch.load raises many kinds; any of them means "not readable"
        raise ConvertError(f"{path}: not a readable torch.save checkpoint ({type(e).__name__}: {e})")

    notes = {"kind": None, "heads": None, "stubbed": list(stubbed_names), "prefix": ""}
    path_taken = []
    for _ in range(4):  # a few levels of wrapping at most: {'model': DataParallel(model)} and alike
        if isinstance(obj, torch.nn.Module):
            problem = _patch_stride_problem(obj)
            if problem:
                raise ConvertError(f"{path}: {problem}; libramstrans supports non-overlapping patches only")
            notes["heads"] = _find_attention_heads(obj)
            notes["kind"] = "pickled model object (" + type(obj).__qualname__ + ")"
            try:
                obj = obj.state_dict()
            except Exception as e:  # a stub restored from a state we cannot make sense of
                raise ConvertError(f"{path}: cannot list the parameters of the pickled "
                                   f"{type(obj).__module__}.{type(obj).__qualname__} ({type(e).__name__}: {e})")
            break
        if isinstance(obj, dict):
            tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
            if tensors and len(tensors) >= len(obj) // 2:
                notes["kind"] = "state dict"
                break
            for key in ("state_dict", "model", "model_state_dict", "net"):
                if key in obj:
                    path_taken.append(key)
                    obj = obj[key]
                    break
            else:
                keys = ", ".join(sorted(map(str, obj.keys()))[:8])
                raise ConvertError(f"{path}: a dict with neither tensors nor 'state_dict'/'model' (keys: {keys})")
            continue
        raise ConvertError(f"{path}: holds a {type(obj).__name__}, not a model, a state dict or a dict holding one")
    else:
        raise ConvertError(f"{path}: wrapped too deeply ({' -> '.join(path_taken)})")
    if path_taken:
        notes["kind"] += " under " + "".join(f"['{k}']" for k in path_taken)

    sd = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
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
        EMB + "cls_token1": (1, 1, D), EMB + "cls_token2": (1, 1, D),
        ENC + "part_norm.weight": (D,), ENC + "part_norm.bias": (D,),
        "part_head.weight": (C, D), "part_head.bias": (C,),
    }
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
        sample = ", ".join(sorted(sd)[:5])
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


def select_tensors(sd, cfg):
    """Checks every needed tensor's presence, shape and values.  Returns (tensors, ignored names)."""
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
        a = t.detach().to(torch.float32).contiguous().numpy()
        if not np.isfinite(a).all():
            raise ConvertError(f"tensor '{name}' holds NaN or infinite values")
        out[name] = a
    ignored = sorted(set(sd) - set(shapes))
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


def convert(input_path, output_path, num_heads=None, alpha=1.2, labels_path=None, dtype="f32",
            default_mode="fused", log=print):
    sd, notes = load_checkpoint(input_path)
    cfg, heads_source = infer_config(sd, num_heads=num_heads, alpha=alpha, heads_hint=notes["heads"])
    tensors, ignored = select_tensors(sd, cfg)
    labels = read_labels(labels_path, cfg.num_classes) if labels_path else None
    if dtype == "f16":
        big = [n for n, a in tensors.items() if np.abs(a).max() > 65504]
        if big:
            raise ConvertError(f"tensor '{big[0]}' has values beyond the f16 range; use --dtype f32 or bf16")
    meta = model_file.make_metadata(cfg, labels=labels, default_mode=default_mode)
    tmp = output_path + ".tmp"
    model_file.write(tmp, tensors, meta, dtype=dtype)
    os.replace(tmp, output_path)  # never leave a half-written model under the final name

    log(f"{input_path}: {notes['kind']}" + (f", names prefixed '{notes['prefix']}'" if notes["prefix"] else ""))
    if notes["stubbed"]:
        log(f"  classes not installed, loaded as stubs: {', '.join(notes['stubbed'])}")
    log(f"  image {cfg.image_size}, patch {cfg.patch_size} (grid {cfg.grid}), hidden {cfg.hidden_size}, "
        f"heads {cfg.num_heads} ({heads_source}), layers {cfg.num_layers}, mlp {cfg.mlp_size}, "
        f"classes {cfg.num_classes}, alpha {cfg.alpha}, default mode {default_mode}")
    if ignored:
        shown = ", ".join(ignored[:10]) + (f", ... ({len(ignored)} in all)" if len(ignored) > 10 else "")
        log(f"  ignored {len(ignored)} tensor(s) inference does not use: {shown}")
    log(f"  wrote {output_path}: {len(tensors)} tensors, {dtype}, {os.path.getsize(output_path)} bytes")
    return cfg


def main(argv=None):
    ap = argparse.ArgumentParser(description="Convert a RAMS-Trans PyTorch checkpoint to a libramstrans model file.")
    ap.add_argument("--input", required=True, help="checkpoint written by torch.save")
    ap.add_argument("--output", required=True, help="model file to write (.safetensors)")
    ap.add_argument("--num-heads", type=int, default=None, help="attention heads (default: hidden/64)")
    ap.add_argument("--alpha", type=float, default=1.2, help="DPPM threshold factor (default 1.2, the released code)")
    ap.add_argument("--labels", default=None, help="text file, one class label per line")
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    ap.add_argument("--default-mode", choices=["scale1", "scale2", "fused"], default="fused")
    args = ap.parse_args(argv)
    try:
        convert(args.input, args.output, num_heads=args.num_heads, alpha=args.alpha, labels_path=args.labels,
                dtype=args.dtype, default_mode=args.default_mode)
    except (ConvertError, OSError, UnicodeDecodeError) as e:
        print(f"convert.py: error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # anything else a strange checkpoint provokes: still one line, still exit 1
        print(f"convert.py: error: {args.input}: cannot convert ({type(e).__name__}: {e})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
