"""What the readers of untrusted files (torchfile.py, safetensors_file.py, npzfile.py) share.

  * shown(): a string from a file made safe to print (escaped control characters, bounded length);
    only ever called on str values, never str() of an object the file built;
  * numel(): the element count of a shape (Python's exact integers: no overflow);
  * MappedFile: a regular file (a FIFO or device is refused before open(), where it could block)
    opened read-only and memory-mapped, closed by close() or a `with` block.
"""
import mmap
import os
import stat


def shown(text, limit=80):
    if not isinstance(text, str):
        return f"<{type(text).__name__}>"
    s = text.encode("unicode_escape").decode("ascii")
    return s if len(s) <= limit else s[:limit] + "..."


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


class MappedFile:
    """Subclasses call open_mapped(path, error) first; `size`, `_file` and `_map` follow.  `error` is
    the exception class for a file that is not a regular, non-empty file."""

    _file = _map = None

    def open_mapped(self, path, error):
        if not stat.S_ISREG(os.stat(path).st_mode):  # before open(): a FIFO would block there
            raise error("not a regular file")
        self._file = open(path, "rb")
        try:
            self.size = os.fstat(self._file.fileno()).st_size
            if self.size == 0:
                raise error("an empty file")
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        except BaseException:
            self.close()
            raise

    def close(self):
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
