"""Reading a NumPy .npz archive (Google's ViT checkpoints: ViT-B_16.npz and kin) without trusting it.

An .npz is a zip archive of .npy members (np.savez).  The arrays are read with numpy's own reader
and allow_pickle=False (an object array is refused, never unpickled); before that, every member's
.npy header is read and checked against its zip entry:

  * the dtype is a plain numeric one, the shape at most 16 sizes, C or Fortran order;
  * the header plus the element count times the item size equals the member's declared size, so a
    member cannot claim a shape larger than its bytes;
  * the members together may not inflate past a bound relative to the file (Google's files are
    stored uncompressed; np.savez_compressed ones shrink float weights by a few percent), so a small
    zip cannot expand into gigabytes.

The interface matches tools/torchfile.py's Checkpoint for what convert.py needs: `tensors` (name ->
ref with .shape, .dtype and .is_floating_point()) and `to_float32(ref)`.  Names are the archive's
keys without ".npy" ("Transformer/encoderblock_0/LayerNorm_0/scale").
"""
import os
import stat
import zipfile

import numpy as np

from untrusted import numel, shown as _shown

MAX_DIMS = 16
MAX_MEMBERS = 100_000
MAX_INFLATION = 20        # total declared member bytes <= 20 x the file's size + 64 MiB
INFLATION_SLACK = 64 << 20


class NpzError(Exception):
    """A file we refuse; the message says why (without the file name: the caller adds it)."""


def looks_like_npz(path):
    """A zip archive whose members are .npy files (and not a torch.save archive)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()[:MAX_MEMBERS + 1]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError):
        return False
    return bool(names) and all(n.endswith(".npy") for n in names)


class TensorRef:
    def __init__(self, name, member, dtype, shape):
        self.name, self.member, self.np_dtype, self.shape = name, member, dtype, shape

    @property
    def dtype(self):
        return self.np_dtype.name

    @property
    def numel(self):
        return numel(self.shape)

    def is_floating_point(self):
        return self.np_dtype.kind == "f"


class NpzFile:
    def __init__(self, path):
        self.path = path
        self._zip = self._npz = None
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise NpzError("not a regular file")
        size = os.stat(path).st_size
        try:
            self._zip = zipfile.ZipFile(path)
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError) as e:
            raise NpzError(f"a damaged zip archive ({type(e).__name__})")
        try:
            self._check(infos, size)
            # numpy's reader for the values; allow_pickle=False refuses object arrays outright
            self._npz = np.load(path, allow_pickle=False)
        except BaseException:
            self.close()
            raise

    def _check(self, infos, size):
        if len(infos) > MAX_MEMBERS:
            raise NpzError(f"more than {MAX_MEMBERS} members")
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise NpzError("an archive with two members of the same name")
        total = 0
        self.tensors = {}
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise NpzError(f"member '{_shown(info.filename)}' is not a .npy array")
            if info.flag_bits & 0x1:
                raise NpzError(f"member '{_shown(info.filename)}' is encrypted")
            total += info.file_size
            if total > MAX_INFLATION * size + INFLATION_SLACK:
                raise NpzError(f"its members declare {total} bytes or more, far more than the file's {size} "
                               "(a zip bomb?)")
            name = info.filename[:-len(".npy")]
            where = f"array '{_shown(name)}'"
            try:
                with self._zip.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                    elif version in ((2, 0), (3, 0)):
                        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                    else:
                        raise NpzError(f"{where}: .npy format version {version} is not read")
                    header_bytes = f.tell()
            except NpzError:
                raise
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, RuntimeError, SyntaxError, TypeError) as e:
                raise NpzError(f"{where}: not a readable .npy header ({type(e).__name__})")
            if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or \
                    dtype.kind not in "fiub":
                raise NpzError(f"{where}: dtype {_shown(str(dtype), 40)} is not a plain number type")
            if not isinstance(shape, tuple) or len(shape) > MAX_DIMS or \
                    not all(type(s) is int and s >= 0 for s in shape):
                raise NpzError(f"{where}: its shape is not a tuple of at most {MAX_DIMS} sizes")
            ref = TensorRef(name, info.filename, dtype, shape)
            if header_bytes + ref.numel * dtype.itemsize != info.file_size:
                raise NpzError(f"{where}: shape {list(shape)} of {dtype.name} needs {ref.numel * dtype.itemsize} "
                               f"bytes but the member holds {info.file_size - header_bytes}")
            self.tensors[name] = ref

    def to_float32(self, t):
        """One array as a new C-contiguous float32 array."""
        if not t.is_floating_point():
            raise NpzError(f"a {t.dtype} array where a floating-point one is needed")
        try:
            a = self._npz[t.name]
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, RuntimeError) as e:
            raise NpzError(f"array '{_shown(t.name)}' cannot be read ({type(e).__name__})")
        if a.shape != t.shape:
            raise NpzError(f"array '{_shown(t.name)}' changed shape between its header and its data")
        return np.ascontiguousarray(a, dtype=np.float32)

    def close(self):
        if self._npz is not None:
            self._npz.close()
            self._npz = None
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
