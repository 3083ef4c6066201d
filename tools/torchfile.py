"""Reading torch.save checkpoints without torch and without running anything they name.

A torch.save file is a pickle (plus raw tensor bytes), and unpickling an untrusted pickle with the
standard unpickler runs whatever callables the file names.  This module never does: it unpickles
with its own restricted machine in which

  * every global resolves only through an exact allow-list of (module, name) pairs, each mapped to
    an object of ours (an inert stand-in or a small function that validates its arguments); nothing
    is imported, nothing of the file's naming is called, and any other global is refused by name;
  * only the opcodes torch.save emits are accepted (protocols 2-5, no INST/OBJ/EXT/PERSID text);
  * dict and set keys must be plain values (str, bytes, int, float, bool, None or a flat tuple of
    them), so no hash or comparison can recurse or run code;
  * the work is bounded: pickle bytes, opcodes, container items, LONG sizes.

Tensors are not rebuilt while unpickling: `_rebuild_tensor_v2` returns a TensorRef (storage, offset,
shape, strides) whose view is checked against its storage at once (inside it, strides positive,
not overlapping itself), and each storage's declared size is checked against the bytes its record
really holds before anything is read.  `TensorRef.to_float32()` materialises one tensor from the
memory-mapped file, and a Reader refuses to produce more elements in total than the file's storages
hold, so a small file cannot expand into a large output.

Formats: the zip archive torch.save writes since 1.6 (records stored, not compressed, as torch
writes them), and the legacy stream (`_use_new_zipfile_serialization=False`: magic, protocol and
sys-info pickles, the main pickle, the storage keys, then each storage as an int64 count + bytes).
TorchScript archives (they carry code) and the pre-0.4 tar format are refused with their name.

Modules pickled whole (torch.save(model)) come back as ModuleStub objects that hold the pickled
state (`_parameters`, `_buffers`, `_modules`, plain attributes) and do nothing else; `module_tensors`
walks such a tree with a visited set and depth/node budgets.  Non-tensor values that torch.save
writes for a training checkpoint (numpy scalars, argparse namespaces, devices) become Skipped
placeholders: known by name, never rebuilt.
"""
import collections
import io
import pickle
import struct
import zipfile

import numpy as np

from untrusted import MappedFile, numel, shown  # noqa: F401  (shown: re-exported for convert.py)

# Budgets.  A real checkpoint's pickle is small (about 150 bytes and 30 opcodes per tensor; ViT-B's
# state dict pickles to ~30 KB); these leave two orders of magnitude for optimizer state and notes.
MAX_PICKLE_BYTES = 32 << 20
MAX_OPS = 4_000_000          # opcodes executed
MAX_ITEMS = 4_000_000        # container items added (APPENDS/SETITEMS/TUPLE/... elements)
MAX_LONG_BYTES = 64          # LONG1/LONG4 payloads (torch writes none longer than 8 bytes)
MAX_KEY_TUPLE = 16           # a dict key may be a flat tuple of at most this many plain values
MAX_DIMS = 16
MAX_MODULE_DEPTH = 64
MAX_MODULE_NODES = 100_000

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


class CheckpointError(Exception):
    """A file we refuse; the message says why (without the file name: the caller adds it)."""


# ---------------------------------------------------------------------------------------------
# What a pickle may produce

_DTYPES = {  # storage class name -> (numpy dtype of the raw bytes, item size, floating point?)
    "FloatStorage": ("<f4", 4, True), "DoubleStorage": ("<f8", 8, True), "HalfStorage": ("<f2", 2, True),
    "BFloat16Storage": ("<u2", 2, True),  # bf16: the top half of a float32
    "LongStorage": ("<i8", 8, False), "IntStorage": ("<i4", 4, False), "ShortStorage": ("<i2", 2, False),
    "CharStorage": ("i1", 1, False), "ByteStorage": ("u1", 1, False), "BoolStorage": ("u1", 1, False),
}


class StorageType:
    """Stands for torch.FloatStorage and its kin (only ever used as a tag in a persistent id)."""

    def __init__(self, name):
        self.name = name
        self.np_dtype, self.itemsize, self.is_float = _DTYPES[name]


class StorageRef:
    """A storage named by a persistent id: its dtype, element count and (once checked) file offset."""

    def __init__(self, key, stype, numel):
        self.key, self.stype, self.numel = key, stype, numel
        self.offset = None  # where its bytes start in the file, set when checked against the record

    @property
    def nbytes(self):
        return self.numel * self.stype.itemsize


class TensorRef:
    """A tensor as a view (offset, shape, strides in elements) of a StorageRef; checked when made."""

    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride

    @property
    def numel(self):
        return numel(self.shape)

    @property
    def dtype(self):
        return self.storage.stype.name[:-len("Storage")].lower()

    def is_floating_point(self):
        return self.storage.stype.is_float


def _check_view(storage, offset, shape, stride):
    """The view must lie inside its storage, with positive strides, and must not overlap itself (so
    that it never holds more elements than the storage): checked with Python's exact integers."""
    if not (isinstance(offset, int) and isinstance(shape, tuple) and isinstance(stride, tuple)):
        raise CheckpointError("a tensor's offset, size or stride is not an integer or a tuple")
    if len(shape) != len(stride) or len(shape) > MAX_DIMS:
        raise CheckpointError(f"a tensor has {len(shape)} sizes and {len(stride)} strides")
    if not all(type(v) is int for v in shape + stride):
        raise CheckpointError("a tensor's sizes or strides are not integers")
    if offset < 0 or any(s < 0 for s in shape):
        raise CheckpointError(f"a tensor has a negative offset or size in storage '{shown(storage.key)}'")
    if 0 in shape:
        return
    dims = sorted((st, sz) for sz, st in zip(shape, stride) if sz > 1)
    extent = 1  # elements spanned by the dimensions with smaller strides
    for st, sz in dims:
        if st <= 0:
            raise CheckpointError(f"a tensor has a zero or negative stride ({st}) in storage "
                                  f"'{shown(storage.key)}' (expanded or reversed views are not stored by torch.save)")
        if st < extent:
            raise CheckpointError(f"a tensor view overlaps itself in storage '{shown(storage.key)}'")
        extent = st * (sz - 1) + extent
    if offset + extent > storage.numel:
        raise CheckpointError(f"a tensor view (offset {offset}, {extent} elements spanned) reaches past the "
                              f"end of storage '{shown(storage.key)}' ({storage.numel} elements)")


def _rebuild_tensor(storage, storage_offset, size, stride, *rest):
    if not isinstance(storage, StorageRef):
        raise CheckpointError("a tensor is rebuilt from something that is not a storage")
    size, stride = tuple(size) if isinstance(size, (tuple, list)) else size, \
        tuple(stride) if isinstance(stride, (tuple, list)) else stride
    _check_view(storage, storage_offset, size, stride)
    return TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    if not isinstance(data, TensorRef):
        raise CheckpointError("a parameter wraps something that is not a tensor")
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    if func not in (_rebuild_tensor, _rebuild_parameter) or not isinstance(args, tuple):
        raise CheckpointError("_rebuild_from_type_v2 with a function or arguments torch.save does not write")
    return func(*args)


def _plain_key(k):
    """True for the values we accept as dict keys and set items: hashing them runs no code and
    cannot recurse."""
    if k is None or type(k) in (str, bytes, int, float, bool):
        return True
    return type(k) is tuple and len(k) <= MAX_KEY_TUPLE and all(
        k2 is None or type(k2) in (str, bytes, int, float, bool) for k2 in k)


def _check_keys(keys):
    for k in keys:
        if not _plain_key(k):
            raise CheckpointError(f"a dict key or set item is a {type(k).__name__}, not a plain value")


def _ordered_dict(*args):
    if not args:
        return collections.OrderedDict()
    if len(args) != 1 or not isinstance(args[0], list) or not all(
            type(p) in (tuple, list) and len(p) == 2 for p in args[0]):
        raise CheckpointError("OrderedDict with arguments torch.save does not write")
    _check_keys(p[0] for p in args[0])
    return collections.OrderedDict(args[0])


def _make_set(*args):
    if not args:
        return set()
    if len(args) != 1 or not isinstance(args[0], (list, tuple)):
        raise CheckpointError("set() with arguments torch.save does not write")
    _check_keys(args[0])
    return set(args[0])


def _codecs_encode(text, encoding="latin1"):
    """How protocol 2 pickles bytes: _codecs.encode(str, 'latin1').  Nothing else is allowed."""
    if type(text) is not str or encoding not in ("latin1", "latin-1"):
        raise CheckpointError("_codecs.encode with arguments pickle does not write")
    return text.encode("latin1")


class ModuleStub:
    """Stand-in for an nn.Module class (torch's or the released RAMS-Trans code's): holds the
    pickled state dictionary and nothing else.  It has no behaviour to run."""
    pickled_name = "?"

    def __init__(self):
        self.state = {}

    def _set_state(self, state):
        if not isinstance(state, dict):
            raise CheckpointError(f"pickled {self.pickled_name} has a state that is not a dict")
        _check_keys(state)
        self.state = state


class Skipped:
    """A value torch.save may write in a training checkpoint that conversion never needs (a numpy
    scalar, argparse.Namespace, torch.device, a function reference): never rebuilt."""
    pickled_name = "?"

    def __init__(self, *args, **kwargs):
        pass

    def _set_state(self, state):
        pass


_module_stub_classes = {}
_skipped_classes = {}


def _stub_class(base, table, module, name):
    key = (module, name)
    if key not in table:
        table[key] = type(name, (base,), {"pickled_name": f"{module}.{name}"})
    return table[key]


# The exact (module, name) pairs a checkpoint may name, and what each becomes.
_TORCH_MODULE_CLASSES = {
    "torch.nn.modules.conv": {"Conv2d"},
    "torch.nn.modules.linear": {"Linear", "Identity"},
    "torch.nn.modules.normalization": {"LayerNorm"},
    "torch.nn.modules.dropout": {"Dropout"},
    "torch.nn.modules.activation": {"Softmax", "GELU", "ReLU"},
    "torch.nn.modules.container": {"ModuleList", "Sequential", "ModuleDict"},
    "torch.nn.modules.loss": {"CrossEntropyLoss"},
    "torch.nn.parallel.data_parallel": {"DataParallel"},
    "torch.nn.parallel.distributed": {"DistributedDataParallel"},
}
# The released code's classes (src/model_rams.py), under whatever package the trainer imported it from.
_RELEASED_MODULE = "model_rams"
_RELEASED_CLASSES = {"VisionTransformer", "Transformer", "Embeddings", "Encoder", "Block", "Attention", "Mlp",
                     "Part_Attention", "LabelSmoothing"}
_RELEASED_FUNCTIONS = {"swish"}
_SKIPPED = {
    ("torch._C._nn", "gelu"), ("torch.nn.functional", "gelu"), ("torch.nn.functional", "relu"),
    ("torch", "device"), ("argparse", "Namespace"),
    ("numpy.core.multiarray", "scalar"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
}
_FUNCTIONS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("collections", "OrderedDict"): _ordered_dict,
    ("builtins", "set"): _make_set,
    ("_codecs", "encode"): _codecs_encode,
}
_CALLABLE = set(_FUNCTIONS.values())


def resolve_global(module, name):
    """What a GLOBAL may name; anything else is refused, by name."""
    module = {"__builtin__": "builtins", "copy_reg": "copyreg"}.get(module, module)
    if (module, name) in _FUNCTIONS:
        return _FUNCTIONS[(module, name)]
    if module == "torch" and name in _DTYPES:
        return StorageType(name)
    if name in _TORCH_MODULE_CLASSES.get(module, ()) or (
            module.split(".")[-1] == _RELEASED_MODULE and name in _RELEASED_CLASSES):
        return _stub_class(ModuleStub, _module_stub_classes, module, name)
    if (module, name) in _SKIPPED or (module.split(".")[-1] == _RELEASED_MODULE and name in _RELEASED_FUNCTIONS):
        return _stub_class(Skipped, _skipped_classes, module, name)
    raise CheckpointError(f"refused: it names '{shown(module)}.{shown(name)}', which is not on the list of "
                          "what a torch.save checkpoint of tensors and modules may name (nothing was run)")


# ---------------------------------------------------------------------------------------------
# The restricted unpickler

class _Dispatch(dict):
    def __missing__(self, op):
        raise CheckpointError(f"pickle opcode {bytes([op])!r} is not one torch.save writes")


class _Unpickler(pickle._Unpickler):  # the pure-Python machine, so every opcode is ours to check
    dispatch = _Dispatch()

    def __init__(self, data, persistent_load):
        self._stream = io.BytesIO(data)
        super().__init__(self._stream, encoding="latin1")
        self._persistent_load = persistent_load
        self.ops = 0
        self.items = 0

    def _count(self, n):
        self.items += n
        if self.items > MAX_ITEMS:
            raise CheckpointError(f"the pickle builds more than {MAX_ITEMS} container items")

    def find_class(self, module, name):
        return resolve_global(module, name)

    def persistent_load(self, pid):
        return self._persistent_load(pid)

    def pop_mark(self):
        items = super().pop_mark()
        self._count(len(items))
        return items

    # Containers: plain lists, dicts and sets only, with plain keys.
    def load_append(self):
        value = self.stack.pop()
        if type(self.stack[-1]) is not list:
            raise CheckpointError("APPEND to something that is not a list")
        self._count(1)
        self.stack[-1].append(value)

    def load_appends(self):
        items = self.pop_mark()
        if type(self.stack[-1]) is not list:
            raise CheckpointError("APPENDS to something that is not a list")
        self.stack[-1].extend(items)

    def load_dict(self):
        items = self.pop_mark()
        if len(items) % 2:
            raise CheckpointError("DICT with an odd number of items")
        _check_keys(items[0::2])
        self.append(dict(zip(items[0::2], items[1::2])))

    def load_setitem(self):
        value, key = self.stack.pop(), self.stack.pop()
        if not isinstance(self.stack[-1], dict):
            raise CheckpointError("SETITEM on something that is not a dict")
        _check_keys((key,))
        self._count(1)
        self.stack[-1][key] = value

    def load_setitems(self):
        items = self.pop_mark()
        if not isinstance(self.stack[-1], dict) or len(items) % 2:
            raise CheckpointError("SETITEMS on something that is not a dict, or with an odd number of items")
        _check_keys(items[0::2])
        self.stack[-1].update(zip(items[0::2], items[1::2]))

    def load_additems(self):
        items = self.pop_mark()
        if type(self.stack[-1]) is not set:
            raise CheckpointError("ADDITEMS to something that is not a set")
        _check_keys(items)
        self.stack[-1].update(items)

    def load_frozenset(self):
        items = self.pop_mark()
        _check_keys(items)
        self.append(frozenset(items))

    def load_long1(self):
        n = self.read(1)[0]
        self.append(pickle.decode_long(self.read(n)))

    def load_long4(self):
        n, = struct.unpack("<i", self.read(4))
        if n < 0 or n > MAX_LONG_BYTES:
            raise CheckpointError(f"a pickled integer of {n} bytes")
        self.append(pickle.decode_long(self.read(n)))

    # Calls: only our own functions and stand-in classes.
    def load_reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if not isinstance(args, tuple):
            raise CheckpointError("REDUCE with arguments that are not a tuple")
        if func in _CALLABLE or (isinstance(func, type) and issubclass(func, Skipped)):
            self.stack[-1] = func(*args)
        else:
            raise CheckpointError(f"the pickle calls a {type(func).__name__} that may not be called")

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        if not isinstance(args, tuple) or not (isinstance(cls, type) and issubclass(cls, (ModuleStub, Skipped))):
            raise CheckpointError("NEWOBJ of something that is not a known module class")
        self.append(cls())

    def load_newobj_ex(self):
        kwargs = self.stack.pop()
        self.stack.pop()  # args
        cls = self.stack.pop()
        if not isinstance(kwargs, dict) or not (isinstance(cls, type) and issubclass(cls, (ModuleStub, Skipped))):
            raise CheckpointError("NEWOBJ_EX of something that is not a known module class")
        self.append(cls())

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) is collections.OrderedDict:
            return  # a state dict's attributes (its `_metadata` of versions): not needed, dropped
        if not isinstance(inst, (ModuleStub, Skipped)):
            raise CheckpointError(f"BUILD on a {type(inst).__name__}")
        inst._set_state(state)


_ALLOWED_OPCODES = [
    "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "DUP", "NONE", "NEWTRUE", "NEWFALSE",
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
    "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "UNICODE",
    "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
    "EMPTY_LIST", "APPEND", "APPENDS", "LIST", "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
    "EMPTY_DICT", "DICT", "SETITEM", "SETITEMS", "EMPTY_SET", "ADDITEMS", "FROZENSET",
    "GET", "BINGET", "LONG_BINGET", "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE",
    "GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD", "NEWOBJ", "NEWOBJ_EX", "BINPERSID",
]


def _counted(fn):
    def op(self):
        self.ops += 1
        if self.ops > MAX_OPS:
            raise CheckpointError(f"the pickle runs more than {MAX_OPS} opcodes")
        fn(self)
    return op


for _name in _ALLOWED_OPCODES:
    _code = getattr(pickle, _name)[0]
    _fn = pickle._Unpickler.dispatch[_code]
    _own = getattr(_Unpickler, _fn.__name__, None)
    _Unpickler.dispatch[_code] = _counted(_own if _own is not None else _fn)


def unpickle(data, persistent_load=None):
    """Unpickle bytes with the restricted machine; returns (object, bytes consumed)."""
    def no_persistent(pid):
        raise CheckpointError("a persistent id where none may be")
    u = _Unpickler(data, persistent_load or no_persistent)
    try:
        obj = u.load()
    except CheckpointError:
        raise
    except RecursionError:
        raise CheckpointError("the pickle nests too deeply")
    except MemoryError:
        raise CheckpointError("the pickle needs too much memory")
    except (pickle.UnpicklingError, EOFError, IndexError, KeyError, ValueError, TypeError, struct.error,
            UnicodeDecodeError, AttributeError, OverflowError) as e:
        raise CheckpointError(f"a damaged pickle ({type(e).__name__})")
    return obj, u._stream.tell()


# ---------------------------------------------------------------------------------------------
# Containers

class Checkpoint(MappedFile):
    """An opened checkpoint: `obj` is the unpickled top-level object (dicts, lists, TensorRefs,
    ModuleStubs, Skipped), and `to_float32(t)` reads one tensor.  Close it (or use `with`)."""

    def __init__(self, path):
        self.path = path
        self.kind = None
        self.open_mapped(path, CheckpointError)
        try:
            self.storages = {}      # key -> StorageRef
            self.storage_elements = 0  # the file's real tensor elements, the bound on what we produce
            self.produced = 0
            head = self._map[:512]
            if head[:4] == b"PK\x03\x04" or head[:4] == b"PK\x05\x06":
                self._open_zip()
            elif len(head) >= 262 and head[257:262] == b"ustar":
                raise CheckpointError("an old tar-format torch file (PyTorch before 0.4), which is not read; "
                                      "re-save it with torch.save from a current PyTorch")
            elif head[:1] == b"\x80":
                self._open_legacy()
            else:
                raise CheckpointError("not a torch.save checkpoint (neither a zip archive nor a pickle stream)")
        except BaseException:
            self.close()
            raise

    # -- the zip archive (torch >= 1.6) --------------------------------------------------------
    def _open_zip(self):
        try:
            zf = zipfile.ZipFile(self._file)
            infos = zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, struct.error, EOFError) as e:
            raise CheckpointError(f"a damaged zip archive ({type(e).__name__})")
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise CheckpointError("a zip archive with two records of the same name")
        pkls = [n for n in names if n.count("/") == 1 and n.endswith("/data.pkl")]
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            raise CheckpointError("a TorchScript archive (torch.jit.save): it carries code and is never loaded; "
                                  "save the model's state_dict() with torch.save and convert that")
        if len(pkls) != 1:
            raise CheckpointError("a zip archive that is not a torch.save checkpoint (no <name>/data.pkl record)")
        prefix = pkls[0][:-len("data.pkl")]
        self._zip_infos = {i.filename: i for i in infos}
        self._zip_prefix = prefix
        order = self._zip_infos.get(prefix + "byteorder")
        if order is not None and self._record_bytes(order, 16).strip() not in (b"little",):
            raise CheckpointError("a big-endian checkpoint, which is not read")
        data = self._record_bytes(self._zip_infos[pkls[0]], MAX_PICKLE_BYTES)
        self.kind = "zip"
        self.obj, _ = unpickle(data, self._zip_storage)
        self.storage_elements = sum(s.numel for s in self.storages.values())

    def _record_span(self, info):
        """(start, length) of a stored record's bytes in the file, from its local header, checked."""
        if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            raise CheckpointError(f"record '{shown(info.filename)}' is compressed; torch.save stores every "
                                  "record uncompressed (refused rather than inflated)")
        h = info.header_offset
        local = self._map[h:h + 30]
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            raise CheckpointError(f"record '{shown(info.filename)}' has no local header where the index says")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        start = h + 30 + name_len + extra_len
        if start + info.file_size > self.size:
            raise CheckpointError(f"record '{shown(info.filename)}' claims {info.file_size} bytes but the file "
                                  "ends before them")
        return start, info.file_size

    def _record_bytes(self, info, limit):
        start, length = self._record_span(info)
        if length > limit:
            raise CheckpointError(f"record '{shown(info.filename)}' is {length} bytes, more than the {limit} allowed")
        return self._map[start:start + length]

    def _zip_storage(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise CheckpointError("a persistent id that is not a storage")
        _, stype, key, _location, numel = pid
        if not isinstance(stype, StorageType) or type(key) is not str or type(numel) is not int or numel < 0:
            raise CheckpointError("a storage persistent id with the wrong kinds of values")
        if key in self.storages:
            s = self.storages[key]
            if s.stype.name != stype.name or s.numel != numel:
                raise CheckpointError(f"storage '{shown(key)}' is declared twice, differently")
            return s
        info = self._zip_infos.get(self._zip_prefix + "data/" + key)
        if info is None:
            raise CheckpointError(f"storage '{shown(key)}' has no record in the archive")
        s = StorageRef(key, stype, numel)
        start, length = self._record_span(info)
        if s.nbytes > length:
            raise CheckpointError(f"storage '{shown(key)}' declares {s.nbytes} bytes but its record holds {length}")
        s.offset = start
        self.storages[key] = s
        return s

    # -- the legacy stream ---------------------------------------------------------------------
    def _open_legacy(self):
        buf = self._map[:min(self.size, MAX_PICKLE_BYTES)]
        pos = 0

        def next_pickle(persistent=None):
            nonlocal pos
            obj, used = unpickle(buf[pos:], persistent)
            pos += used
            return obj

        if next_pickle() != LEGACY_MAGIC:
            raise CheckpointError("a pickle, but not a torch.save checkpoint (no torch magic number)")
        if next_pickle() != LEGACY_PROTOCOL:
            raise CheckpointError("a legacy torch file of an unknown protocol version")
        info = next_pickle()
        if not isinstance(info, dict) or info.get("little_endian") is not True:
            raise CheckpointError("a big-endian or damaged legacy torch file")
        self.kind = "legacy"
        self.obj = next_pickle(self._legacy_persistent)
        keys = next_pickle()
        if not isinstance(keys, list) or not all(type(k) is str for k in keys):
            raise CheckpointError("a legacy torch file with a damaged storage list")
        offset = pos
        seen = set()
        for key in keys:  # each storage: int64 element count, then its bytes
            if key in seen:
                raise CheckpointError(f"storage '{shown(key)}' is listed twice")
            seen.add(key)
            head = self._map[offset:offset + 8]
            if len(head) != 8:
                raise CheckpointError(f"the file ends before storage '{shown(key)}'")
            count, = struct.unpack("<q", head)
            s = self.storages.get(key)
            if s is None:
                raise CheckpointError(f"storage '{shown(key)}' is stored but no tensor names it")
            if count != s.numel:
                raise CheckpointError(f"storage '{shown(key)}' declares {s.numel} elements but holds a count of {count}")
            if offset + 8 + s.nbytes > self.size:
                raise CheckpointError(f"storage '{shown(key)}' declares {s.nbytes} bytes but the file ends first")
            s.offset = offset + 8
            offset += 8 + s.nbytes
        missing = [k for k in self.storages if k not in seen]
        if missing:
            raise CheckpointError(f"storage '{shown(missing[0])}' is named by a tensor but not stored")
        self.storage_elements = sum(s.numel for s in self.storages.values())

    def _legacy_persistent(self, pid):
        if isinstance(pid, tuple) and len(pid) == 4 and pid[0] == "module":
            cls = pid[1]  # a module class (its source text rides along and is ignored)
            if not (isinstance(cls, type) and issubclass(cls, ModuleStub)):
                raise CheckpointError("a module persistent id that names no known module class")
            return cls
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise CheckpointError("a persistent id that is neither a storage nor a module")
        _, stype, key, _location, numel, view = pid
        if view is not None:
            raise CheckpointError("a legacy storage view, which is not read")
        if not isinstance(stype, StorageType) or type(key) is not str or type(numel) is not int or numel < 0:
            raise CheckpointError("a storage persistent id with the wrong kinds of values")
        s = self.storages.get(key)
        if s is None:
            s = self.storages[key] = StorageRef(key, stype, numel)
        elif s.stype.name != stype.name or s.numel != numel:
            raise CheckpointError(f"storage '{shown(key)}' is declared twice, differently")
        return s

    # -- tensors ---------------------------------------------------------------------------------
    def to_float32(self, t):
        """One tensor as a new C-contiguous float32 array.  Refused when the total produced would
        exceed the elements the file's storages really hold."""
        if not t.is_floating_point():
            raise CheckpointError(f"a {t.dtype} tensor where a floating-point one is needed")
        n = t.numel
        if self.produced + n > self.storage_elements:
            raise CheckpointError("its tensors together would hold more elements than its storages do "
                                  "(views of the same bytes used over and over)")
        self.produced += n
        s = t.storage
        base = np.frombuffer(self._map, dtype=s.stype.np_dtype, count=s.numel, offset=s.offset)
        if n == 0:
            view = np.zeros(t.shape, dtype=base.dtype)
        else:
            view = np.lib.stride_tricks.as_strided(base[t.offset:], shape=t.shape,
                                                   strides=[st * s.stype.itemsize for st in t.stride],
                                                   writeable=False)
        if s.stype.name == "BFloat16Storage":
            return (view.astype(np.uint32) << 16).view(np.float32)
        return np.array(view, dtype=np.float32, order="C", copy=True)  # a copy: nothing keeps the map


# ---------------------------------------------------------------------------------------------
# Module trees

def module_tensors(root):
    """name -> TensorRef for a pickled module tree, as nn.Module.state_dict() names them
    (parameters, then persistent buffers, then children).  A module reached twice (shared or
    cyclic) is listed once; depth and node count are bounded."""
    out = {}
    stack = [("", root, 0)]
    visited = set()
    while stack:
        prefix, mod, depth = stack.pop()
        if id(mod) in visited:
            continue
        visited.add(id(mod))
        if len(visited) > MAX_MODULE_NODES:
            raise CheckpointError(f"the pickled model has more than {MAX_MODULE_NODES} modules")
        if depth > MAX_MODULE_DEPTH:
            raise CheckpointError(f"the pickled model nests modules more than {MAX_MODULE_DEPTH} deep")
        st = mod.state
        skip = st.get("_non_persistent_buffers_set")
        skip = skip if isinstance(skip, set) else set()
        for group in ("_parameters", "_buffers"):
            entries = st.get(group)
            if not isinstance(entries, dict):
                continue
            for name, t in entries.items():
                if type(name) is str and isinstance(t, TensorRef) and not (group == "_buffers" and name in skip):
                    out[prefix + name] = t
        children = st.get("_modules")
        if isinstance(children, dict):
            for name, child in reversed(list(children.items())):
                if type(name) is str and isinstance(child, ModuleStub):
                    stack.append((prefix + name + ".", child, depth + 1))
    return out


def iter_modules(root):
    """(dotted name, ModuleStub) for every module of a tree, each once, within the same budgets."""
    stack = [("", root, 0)]
    visited = set()
    while stack:
        name, mod, depth = stack.pop()
        if id(mod) in visited or depth > MAX_MODULE_DEPTH or len(visited) >= MAX_MODULE_NODES:
            continue
        visited.add(id(mod))
        yield name, mod
        children = mod.state.get("_modules")
        if isinstance(children, dict):
            for k, child in children.items():
                if type(k) is str and isinstance(child, ModuleStub):
                    stack.append((f"{name}.{k}" if name else k, child, depth + 1))
