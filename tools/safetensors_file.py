"""Reading any safetensors file (Hugging Face's model.safetensors, timm's, ours) without trusting it.

The format: an 8-byte little-endian header length n, n bytes of JSON (an object: tensor name ->
{"dtype", "shape", "data_offsets": [begin, end]} relative to the end of the header, plus an optional
"__metadata__" string -> string map), then the raw little-endian tensor bytes.  Nothing in it is
code, so reading it is only a matter of checking every number before use:

  * the header length against a bound and the file's size; the JSON must be one object without
    duplicate names;
  * each tensor's dtype, rank, sizes and offsets: inside the data, end - begin equal to the element
    count times the item size, and no two tensors sharing bytes (so what we produce is bounded by
    the file's size);
  * values are read only when asked for (`to_float32`), from a read-only memory map.

The interface matches tools/torchfile.py's Checkpoint for what convert.py needs: `tensors` (name ->
ref with .shape, .dtype and .is_floating_point()) and `to_float32(ref)`.
"""
import json
import struct

import numpy as np

from untrusted import MappedFile, numel, shown as _shown

MAX_HEADER_BYTES = 100 << 20
MAX_DIMS = 16

# tag -> (numpy dtype of the raw bytes, item size, floating point?)
DTYPES = {
    "F64": ("<f8", 8, True), "F32": ("<f4", 4, True), "F16": ("<f2", 2, True), "BF16": ("<u2", 2, True),
    "I64": ("<i8", 8, False), "I32": ("<i4", 4, False), "I16": ("<i2", 2, False), "I8": ("i1", 1, False),
    "U64": ("<u8", 8, False), "U32": ("<u4", 4, False), "U16": ("<u2", 2, False), "U8": ("u1", 1, False),
    "BOOL": ("u1", 1, False), "F8_E4M3": ("u1", 1, False), "F8_E5M2": ("u1", 1, False),
}


class SafetensorsError(Exception):
    """A file we refuse; the message says why (without the file name: the caller adds it)."""


def looks_like_safetensors(head, size):
    """True when the first bytes read as a safetensors header (length, then a JSON object)."""
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= size - 8 and head[8:9] == b"{"


class TensorRef:
    def __init__(self, name, dtype, shape, begin, end):
        self.name, self.dtype, self.shape, self.begin, self.end = name, dtype, shape, begin, end

    @property
    def numel(self):
        return numel(self.shape)

    def is_floating_point(self):
        return DTYPES[self.dtype][2]


def _no_duplicates(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise SafetensorsError(f"the header names '{_shown(k)}' twice")
        seen[k] = v
    return seen


class SafetensorsFile(MappedFile):
    """`tensors`: name -> TensorRef (checked); `metadata`: the __metadata__ map ({} when absent).
    Close it (or use `with`)."""

    def __init__(self, path):
        self.path = path
        self.open_mapped(path, SafetensorsError)
        try:
            if self.size < 8:
                raise SafetensorsError(f"{self.size} bytes is too short for a safetensors file")
            self._parse()
        except BaseException:
            self.close()
            raise

    def _parse(self):
        (n,) = struct.unpack("<Q", self._map[:8])
        if n > MAX_HEADER_BYTES:
            raise SafetensorsError(f"a safetensors header of {n} bytes is above the {MAX_HEADER_BYTES}-byte limit")
        if n > self.size - 8:
            raise SafetensorsError(f"the safetensors header claims {n} bytes but the file has {self.size - 8} after "
                                   "the length")
        try:
            header = json.loads(bytes(self._map[8:8 + n]).decode("utf-8"), object_pairs_hook=_no_duplicates)
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            if isinstance(e, SafetensorsError):
                raise
            raise SafetensorsError(f"the safetensors header is not valid JSON ({type(e).__name__})")
        if not isinstance(header, dict):
            raise SafetensorsError("the safetensors header is not a JSON object")
        meta = header.pop("__metadata__", {})
        if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
            raise SafetensorsError("__metadata__ is not a map of strings to strings")
        self.metadata = meta
        self.data_start = 8 + n
        data_size = self.size - self.data_start
        self.tensors = {}
        spans = []
        for name, info in header.items():
            where = f"tensor '{_shown(name)}'"
            if not isinstance(info, dict):
                raise SafetensorsError(f"{where}: its header entry is not an object")
            dtype, shape, offs = info.get("dtype"), info.get("shape"), info.get("data_offsets")
            if not isinstance(dtype, str) or dtype not in DTYPES:
                raise SafetensorsError(f"{where}: unknown dtype {_shown(dtype) if isinstance(dtype, str) else dtype!r:.40}")
            if not isinstance(shape, list) or len(shape) > MAX_DIMS or \
                    not all(type(s) is int and 0 <= s < 1 << 40 for s in shape):
                raise SafetensorsError(f"{where}: its shape is not a list of at most {MAX_DIMS} sizes")
            if not isinstance(offs, list) or len(offs) != 2 or not all(type(o) is int for o in offs):
                raise SafetensorsError(f"{where}: data_offsets is not two integers")
            begin, end = offs
            if not 0 <= begin <= end <= data_size:
                raise SafetensorsError(f"{where}: data_offsets [{begin}, {end}] are outside the {data_size} data bytes")
            ref = TensorRef(name, dtype, tuple(shape), begin, end)
            if ref.numel * DTYPES[dtype][1] != end - begin:
                raise SafetensorsError(f"{where}: shape {list(shape)} of {dtype} needs {ref.numel * DTYPES[dtype][1]} "
                                       f"bytes but data_offsets give {end - begin}")
            self.tensors[name] = ref
            if end > begin:
                spans.append((begin, end, name))
        spans.sort()
        for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
            if b1 < e0:
                raise SafetensorsError(f"tensors '{_shown(n0)}' and '{_shown(n1)}' share bytes")

    def to_float32(self, t):
        """One tensor as a new C-contiguous float32 array."""
        np_dtype, itemsize, is_float = DTYPES[t.dtype]
        if not is_float:
            raise SafetensorsError(f"a {t.dtype} tensor where a floating-point one is needed")
        raw = np.frombuffer(self._map, dtype=np_dtype, count=t.numel, offset=self.data_start + t.begin)
        if t.dtype == "BF16":
            out = (raw.astype(np.uint32) << 16).view(np.float32)
        else:
            out = raw.astype(np.float32)
        return out.reshape(t.shape)

