"""What the Python tests share: where things are, and ramscli's output to compare with.

Run by ctest with RAMSCLI (the ramscli to compare with), RAMSTRANS_LIBRARY (the build's
libramstrans.so.1) and PYTHONPATH (the source tree's python/) in the environment; by hand, the
defaults are the source tree's build/ folder.  With RAMS_INSTALLED_PREFIX, an installed tree's
ramscli and Python package instead.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# RAMS_INSTALLED_PREFIX: test an installed tree instead (tests/install/test_install.sh): its
# ramscli, and its package finding its own library.
PREFIX = os.environ.get("RAMS_INSTALLED_PREFIX")
if PREFIX:
    RAMSCLI = os.path.join(PREFIX, "bin", "ramscli")
    PACKAGE_DIR = os.path.join(PREFIX, "lib", "python3", "dist-packages")
    os.environ.pop("RAMSTRANS_LIBRARY", None)
    os.environ.pop("RAMSTRANS_MODEL", None)
else:
    BUILD = os.environ.get("RAMS_BUILD_DIR", os.path.join(ROOT, "build"))
    RAMSCLI = os.environ.get("RAMSCLI", os.path.join(BUILD, "ramscli"))
    PACKAGE_DIR = os.path.join(ROOT, "python")
    os.environ.setdefault("RAMSTRANS_LIBRARY", os.path.join(BUILD, "libramstrans.so.1"))
if PACKAGE_DIR not in sys.path:
    sys.path.insert(0, PACKAGE_DIR)
os.environ["PYTHONPATH"] = os.pathsep.join(
    [PACKAGE_DIR] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                     if p and p != os.path.join(ROOT, "python")])

DATA = os.path.join(ROOT, "tests", "data")
EXAMPLES = os.path.join(ROOT, "examples")
PHOTOS = os.path.join(DATA, "images")
DEFAULT_MODEL = os.path.join(ROOT, "models", "default.safetensors")
TINY_F32 = os.path.join(DATA, "tiny_f32.safetensors")
TINY_F16 = os.path.join(DATA, "tiny_f16.safetensors")


def ramscli(*args, cwd=None):
    """(exit status, stdout bytes, stderr bytes) of ramscli ARGS."""
    p = subprocess.run([RAMSCLI] + [os.fsencode(a) if isinstance(a, bytes) else a for a in args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, timeout=300)
    return p.returncode, p.stdout, p.stderr


def report_line(prog, what, message):
    """cli_report's line (bytes): 'PROG: WHAT: MESSAGE', WHAT left out when MESSAGE starts with
    'WHAT:'."""
    if message.startswith(what + b":"):
        return b"%s: %s\n" % (prog, message)
    return b"%s: %s: %s\n" % (prog, what, message)


def python_classify(model, paths, prog=b"ramscli", **kw):
    """What `ramscli classify --json PATHS` prints, made with the Python API: (stdout, stderr)."""
    import ramstrans
    out, err = [], []
    for p in ramstrans.list_inputs(paths):
        try:
            out.append(ramstrans.dumps(model.classify(p, **kw)).encode("utf-8", "surrogateescape")
                       + b"\n")
        except ramstrans.Error as e:
            err.append(report_line(prog, os.fsencode(p), str(e).encode("utf-8", "surrogateescape")))
    return b"".join(out), b"".join(err)
