"""Input lists exactly as ramscli makes them (cli/inputs.c): files as given, directories walked.

A file argument is kept as it is (whatever its name: the library judges the content, and a path
that does not exist fails later in its place).  A directory is walked recursively: entries sorted
by their bytes (strcmp), hidden ones (a leading '.') skipped, symlinks followed; each directory is
entered once and each file listed once, by (st_dev, st_ino), so a symlink back to a directory
already met is skipped and a file reached by several paths keeps the first in sorted depth-first
order.  A directory entry is an input when its extension is .jpg, .jpeg, .jpe, .jfif, .png or .npy
(any case) or, failing that, when the library recognises its first bytes (rams_file_kind_of).
Paths are handled as bytes, as the C code does; names that are not UTF-8 survive as surrogate
escapes (os.fsdecode).
"""

import ctypes
import os
import stat

from . import _lib

_EXTENSIONS = (b".jpg", b".jpeg", b".jpe", b".jfif", b".png", b".npy")
MAX_DEPTH = 64  # cli/inputs.c's CLI_MAX_DEPTH


def file_kind_code(path):
    """rams_file_kind_of: (status, kind) for a path (bytes)."""
    kind = ctypes.c_int(0)
    status = _lib.lib.rams_file_kind_of(path, ctypes.byref(kind))
    return status, kind.value


def is_input_file(path):
    """cli_is_input_file: by extension, else by the library's reading of the first bytes."""
    path = os.fsencode(path)
    slash = path.rfind(b"/")
    dot = path.rfind(b".")
    if dot >= 0 and (slash < 0 or dot > slash) and path[dot:].lower() in _EXTENSIONS:
        return True
    status, kind = file_kind_code(path)
    return status == _lib.RAMS_OK and kind != _lib.FILE_UNKNOWN


def _walk(out, directory, depth, seen, report):
    if depth > MAX_DEPTH:
        report(os.fsdecode(directory), "directory nesting too deep (symlink loop?); skipped")
        return
    try:
        names = [n for n in os.listdir(directory) if not n.startswith(b".")]
    except OSError as e:
        report(os.fsdecode(directory), e.strerror or str(e))
        return
    names.sort()
    base = directory
    while len(base) > 1 and base.endswith(b"/"):
        base = base[:-1]
    for name in names:
        full = base + b"/" + name
        try:
            st = os.stat(full)
        except OSError:
            continue
        if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            continue
        seen.add(key)
        if stat.S_ISDIR(st.st_mode):
            _walk(out, full, depth + 1, seen, report)
        elif is_input_file(full):
            out.append(full)


def _report_stderr(path, message):
    import sys
    sys.stderr.write("ramstrans: %s: %s\n" % (path, message))


def list_inputs(paths, report=None):
    """The inputs `ramscli classify PATH...` would classify, in its order, as str paths.

    report(path, message) is called for a directory that cannot be read or is nested too deep
    (both skipped, as ramscli does); by default it prints "ramstrans: PATH: message" on stderr.
    """
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    report = report or _report_stderr
    out = []
    for p in paths:
        p = os.fsencode(p)
        try:
            st = os.stat(p)
            is_dir = stat.S_ISDIR(st.st_mode)
        except OSError:
            is_dir = False
        if is_dir:
            _walk(out, p, 0, {(st.st_dev, st.st_ino)}, report)
        else:
            out.append(p)
    return [os.fsdecode(p) for p in out]
