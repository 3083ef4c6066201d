#!/usr/bin/python3
"""Convert a RAMS-Trans PyTorch checkpoint into a libramstrans model file (safetensors + metadata).

    /usr/bin/python3 tools/convert.py --input CKPT --output OUT.safetensors [--num-heads H] [--alpha A]
        [--labels FILE] [--dtype f32|f16|bf16] [--default-mode scale1|scale2|fused]

Accepted inputs (read by tools/torchfile.py, which neither imports torch nor runs anything the file
names; see there for the rules):
  * a state dict saved with torch.save(model.state_dict(), ...);
  * a dict holding one under 'state_dict' or 'model' (training checkpoints);
  * names prefixed 'module.' (models trained under torch.nn.DataParallel);
  * the whole pickled model object, as the released trainer saves it (torch.save(model)), possibly
    wrapped in DataParallel: its torch.nn and model_rams classes are read as inert stand-ins that hold
    the pickled parameters and attributes; any other class or function a file names is refused by
    name;
  * both the zip format (torch >= 1.6) and the legacy stream (_use_new_zipfile_serialization=False).
TorchScript archives (torch.jit.save) carry code and are refused.

The architecture is read from the tensor shapes (SPEC section 1): patch size and hidden size from the
patch embedding, image size from the position embeddings (N = G*G + 2 tokens, S = G*P), layers from
the encoder's layer indices, MLP size from fc1, classes from part_head.  The head count is not visible
in the shapes: --num-heads, else the pickled object's attention attribute when there is one, else
hidden/64 (ViT convention).  Everything else in the checkpoint is ignored (and listed).
A checkpoint that is not a RAMS-Trans model is refused with one message and exit status 1.
"""
import argparse
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_file  # noqa: E402
import torchfile  # noqa: E402
from model_file import Config  # noqa: E402
from torchfile import CheckpointError, ModuleStub, TensorRef, shown  # noqa: E402


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
        except CheckpointError as e:
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


def convert(input_path, output_path, num_heads=None, alpha=1.2, labels_path=None, dtype="f32",
            default_mode="fused", log=print):
    try:
        ckpt = torchfile.Checkpoint(input_path)
    except FileNotFoundError:
        raise ConvertError(f"{input_path}: no such file")
    except CheckpointError as e:
        raise ConvertError(f"{input_path}: {e}")
    with ckpt:
        sd, notes = load_checkpoint(ckpt, input_path)
        cfg, heads_source = infer_config(sd, num_heads=num_heads, alpha=alpha, heads_hint=notes["heads"])
        tensors, ignored = select_tensors(sd, cfg, ckpt)
    labels = read_labels(labels_path, cfg.num_classes) if labels_path else None
    if dtype == "f16":
        big = [n for n, a in tensors.items() if np.abs(a).max() > 65504]
        if big:
            raise ConvertError(f"tensor '{big[0]}' has values beyond the f16 range; use --dtype f32 or bf16")
    meta = model_file.make_metadata(cfg, labels=labels, default_mode=default_mode)
    tmp = output_path + ".tmp"
    model_file.write(tmp, tensors, meta, dtype=dtype)
    os.replace(tmp, output_path)  # never leave a half-written model under the final name

    log(f"{input_path}: {notes['kind']} ({notes['format']} format)"
        + (f", names prefixed '{notes['prefix']}'" if notes["prefix"] else ""))
    log(f"  image {cfg.image_size}, patch {cfg.patch_size} (grid {cfg.grid}), hidden {cfg.hidden_size}, "
        f"heads {cfg.num_heads} ({heads_source}), layers {cfg.num_layers}, mlp {cfg.mlp_size}, "
        f"classes {cfg.num_classes}, alpha {cfg.alpha}, default mode {default_mode}")
    if ignored:
        listed = ", ".join(ignored[:10]) + (f", ... ({len(ignored)} in all)" if len(ignored) > 10 else "")
        log(f"  ignored {len(ignored)} tensor(s) inference does not use: {listed}")
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
